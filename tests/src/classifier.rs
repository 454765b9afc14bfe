//! The pretrained image classifier that `scripts/setup.sh` installs (Open-NSFW, a ResNet-50
//! with two classes), and its input preparation, shared by the tests and the benchmarks that
//! run it through ONNX Runtime.

use crate::{load_frames, media};

/// The model file, under `media/`.
pub const MODEL: &str = "models/open-nsfw.onnx";

/// Side of the square input.
pub const INPUT_SIZE: usize = 224;

/// The training set's mean, subtracted from each B, G and R sample.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];

/// A photo as the classifier takes it: scaled to 256x256, the centre 224x224 cut out, B'G'R'
/// samples minus the mean, in NHWC order (one image, so 224 x 224 x 3 values).
pub fn input(photo: &str) -> Vec<f32> {
    let frames = load_frames(
        &media(photo),
        "video/x-raw,format=BGR,width=256,height=256",
        None,
    );
    let info = gst_video::VideoInfo::from_caps(frames[0].caps().unwrap()).unwrap();
    let stride = info.stride()[0] as usize;
    let pixels = frames[0].buffer().unwrap().map_readable().unwrap();
    let offset = (256 - INPUT_SIZE) / 2;

    let mut input = Vec::with_capacity(INPUT_SIZE * INPUT_SIZE * 3);
    for row in offset..offset + INPUT_SIZE {
        let line = &pixels[row * stride + offset * 3..][..INPUT_SIZE * 3];
        for pixel in line.chunks_exact(3) {
            for (sample, mean) in pixel.iter().zip(MEAN_BGR) {
                input.push(*sample as f32 - mean);
            }
        }
    }
    input
}
