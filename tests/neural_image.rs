//! The shipped learned image codec through the core crate, on held-out real photos: the rate
//! knob, exact sizes, and clear errors for mismatched models and damaged packets.

use std::path::PathBuf;

use percept::contract::{ColourOrder, ContractError, LoadedCodec, Role};
use percept::neural::{NeuralError, NeuralImageCodec, RgbPicture, RgbPictureMut};
use percept::onnx::SessionOptions;
use percept_testing::quality::frame_psnr;
use percept_testing::{load_frames, media, TEST_PHOTOS};

fn contract_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/image_codec/model.json")
}

fn codec() -> NeuralImageCodec {
    let loaded =
        LoadedCodec::load(&contract_path(), &SessionOptions::default(), Role::Both).unwrap();
    NeuralImageCodec::new(loaded).unwrap()
}

/// Codes and decodes one RGB photo at a quantizer step: (bits per pixel, PSNR).
fn round_trip(codec: &mut NeuralImageCodec, photo: &gst::Sample, step: f32) -> (f64, f64) {
    let info = gst_video::VideoInfo::from_caps(photo.caps().unwrap()).unwrap();
    let (width, height) = (info.width(), info.height());
    let stride = info.stride()[0] as usize;
    let pixels = photo.buffer().unwrap().map_readable().unwrap();
    codec.set_step(step).unwrap();
    let packet = codec
        .encode(&RgbPicture {
            pixels: &pixels,
            width,
            height,
            stride,
            order: ColourOrder::Rgb,
        })
        .unwrap();
    let info = codec.inspect(&packet).unwrap();
    assert_eq!((info.width, info.height), (width, height));

    let mut decoded = vec![0u8; pixels.len()];
    codec
        .decode(
            &packet,
            RgbPictureMut {
                pixels: &mut decoded,
                width,
                height,
                stride,
                order: ColourOrder::Rgb,
            },
        )
        .unwrap();
    let decoded = gst::Sample::builder()
        .buffer(&gst::Buffer::from_mut_slice(decoded))
        .caps(&photo.caps().unwrap().to_owned())
        .build();
    let bpp = packet.len() as f64 * 8.0 / (width * height) as f64;
    (bpp, frame_psnr(photo, &decoded))
}

#[test]
fn held_out_photos_round_trip_and_the_step_trades_bits_for_quality() {
    let mut codec = codec();
    for path in TEST_PHOTOS {
        let photo = &load_frames(&media(path), "video/x-raw,format=RGB", None)[0];
        let (fine_bpp, fine_psnr) = round_trip(&mut codec, photo, 0.5);
        let (coarse_bpp, coarse_psnr) = round_trip(&mut codec, photo, 4.0);
        println!(
            "{path}: step 0.5 {fine_bpp:.3} bpp {fine_psnr:.2} dB, \
             step 4 {coarse_bpp:.3} bpp {coarse_psnr:.2} dB"
        );
        assert!(
            coarse_bpp < fine_bpp * 0.5,
            "{path}: the step barely moves the rate"
        );
        assert!(
            coarse_psnr < fine_psnr,
            "{path}: a coarser step should cost quality"
        );
        // Measured with the shipped model: 23.5 (motorcycle_left) to 29.7 dB (chelsea).
        assert!(fine_psnr > 22.5, "{path}: {fine_psnr:.2} dB");
    }
}

#[test]
fn odd_sizes_come_back_at_their_size() {
    let mut codec = codec();
    let clip = &load_frames(&media(TEST_PHOTOS[2]), "video/x-raw,format=RGB", None)[0];
    for (width, height) in [(1, 1), (17, 9), (33, 100)] {
        let caps = format!("video/x-raw,format=RGB,width={width},height={height}");
        let photo =
            &percept_testing::process(std::slice::from_ref(clip), &format!("videoscale ! {caps}"))
                .unwrap()[0];
        let (bpp, psnr) = round_trip(&mut codec, photo, 1.0);
        // A picture the padding or cropping garbled would come back far below this.
        assert!(
            psnr > 12.0,
            "{width}x{height}: {psnr:.2} dB at {bpp:.2} bpp"
        );
    }
}

#[test]
fn packets_from_another_model_or_damaged_are_refused() {
    let mut codec = codec();
    let photo = &load_frames(
        &media(TEST_PHOTOS[1]),
        "video/x-raw,format=RGB,width=64,height=48",
        None,
    )[0];
    let pixels = photo.buffer().unwrap().map_readable().unwrap();
    let picture = RgbPicture {
        pixels: &pixels,
        width: 64,
        height: 48,
        stride: 192,
        order: ColourOrder::Rgb,
    };
    let packet = codec.encode(&picture).unwrap();
    let mut out = vec![0u8; 64 * 48 * 3];
    fn target(out: &mut [u8]) -> RgbPictureMut<'_> {
        RgbPictureMut {
            pixels: out,
            width: 64,
            height: 48,
            stride: 192,
            order: ColourOrder::Rgb,
        }
    }

    // The same packet claiming another model's fingerprint.
    let mut foreign = packet.clone();
    foreign[percept::packet::PREFIX_LEN] ^= 1;
    let end = foreign.len() - percept::packet::SUFFIX_LEN;
    let checksum = crc32fast_hash(&foreign[..end]);
    foreign[end..].copy_from_slice(&checksum.to_le_bytes());
    let error = codec.decode(&foreign, target(&mut out)).unwrap_err();
    assert!(matches!(error, NeuralError::WrongModel { .. }), "{error}");

    let mut damaged = packet.clone();
    damaged[packet.len() / 2] ^= 0x10;
    let error = codec.decode(&damaged, target(&mut out)).unwrap_err();
    assert!(error.to_string().contains("checksum"), "{error}");

    codec.decode(&packet, target(&mut out)).unwrap();
}

#[test]
fn a_contract_naming_missing_tensors_is_refused() {
    let directory = std::env::temp_dir().join(format!("neural-contract-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let text = std::fs::read_to_string(contract_path()).unwrap();
    let models = contract_path().parent().unwrap().to_owned();
    let text = text
        .replace(
            "\"encoder.onnx\"",
            &format!("{:?}", models.join("encoder.onnx")),
        )
        .replace(
            "\"decoder.onnx\"",
            &format!("{:?}", models.join("decoder.onnx")),
        )
        .replacen("\"tensor\": \"latents\"", "\"tensor\": \"codes\"", 1);
    let path = directory.join("model.json");
    std::fs::write(&path, text).unwrap();
    let error = LoadedCodec::load(&path, &SessionOptions::default(), Role::Both)
        .err()
        .unwrap();
    assert!(
        matches!(error, ContractError::MissingTensor { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("\"codes\""), "{error}");
    std::fs::remove_dir_all(&directory).unwrap();
}

fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}
