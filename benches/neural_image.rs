//! The shipped learned image codec against dctenc and jpegenc on the held-out test photos
//! (rate-distortion), and its coding speed against the Python `onnxruntime` package running the
//! same encoder and decoder on the same input. Writes `benches/NEURAL_REPORT.md` and
//! `benches/neural_rd.png`.
//!
//! ```text
//! cargo bench -p percept-benches --bench neural_image
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use percept::contract::{ColourOrder, LoadedCodec, MediaInput, Role};
use percept::neural::{NeuralImageCodec, RgbPicture, RgbPictureMut};
use percept::onnx::SessionOptions;
use percept_testing::quality::frame_psnr;
use percept_testing::{load_frames, media, process, total_bytes, TEST_PHOTOS};

const PEER_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps/python/bin/python");
const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/neural_peer.py");
const PLOT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plot.py");
const REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/NEURAL_REPORT.md");
const PLOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/neural_rd.png");
const ROUNDS: usize = 7;

/// The settings each codec is measured at, from the lowest rate up.
const NEURAL_QUALITIES: [u32; 6] = [0, 20, 40, 60, 80, 100];
const CLASSIC_QUALITIES: [u32; 7] = [10, 20, 35, 50, 70, 85, 95];

fn contract() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/image_codec/model.json")
}

/// Mean bits per pixel and PSNR over the photos for one encoder setting.
fn rate_distortion(photos: &[Vec<gst::Sample>], encoder: &str, decoder: &str) -> (f64, f64) {
    let (mut bpp, mut psnr) = (0.0, 0.0);
    for frames in photos {
        let coded = process(frames, encoder).unwrap();
        let decoded = process(&coded, decoder).unwrap();
        let structure = frames[0].caps().unwrap().structure(0).unwrap().to_owned();
        let pixels =
            structure.get::<i32>("width").unwrap() * structure.get::<i32>("height").unwrap();
        bpp += total_bytes(&coded) as f64 * 8.0 / pixels as f64;
        psnr += frame_psnr(&frames[0], &decoded[0]);
    }
    (bpp / photos.len() as f64, psnr / photos.len() as f64)
}

/// PSNR of a curve at `bpp`, interpolating linearly in log rate; None outside the curve.
fn psnr_at(curve: &[(f64, f64)], bpp: f64) -> Option<f64> {
    let mut sorted = curve.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted.windows(2).find_map(|pair| {
        let ((r0, p0), (r1, p1)) = (pair[0], pair[1]);
        (r0 <= bpp && bpp <= r1).then(|| {
            let t = (bpp.ln() - r0.ln()) / (r1.ln() - r0.ln());
            p0 + t * (p1 - p0)
        })
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Our encode and decode of one photo (model, quantization and entropy coding) against the
/// Python package running the encoder and decoder models alone: milliseconds.
fn speed(photo: &gst::Sample) -> (f64, f64, f64, f64) {
    let loaded = LoadedCodec::load(&contract(), &SessionOptions::default(), Role::Both).unwrap();
    let MediaInput::Image(input) = &loaded.contract.input else {
        panic!("{} is not an image codec", contract().display());
    };
    let multiple = input.multiple_of;
    let channels = loaded.contract.latents.channels;
    let downsampling = loaded.contract.latents.downsampling;
    let encoder_path = loaded.contract.encoder.clone();
    let decoder_path = loaded.contract.decoder.clone();
    let mut codec = NeuralImageCodec::new(loaded).unwrap();

    let info = gst_video::VideoInfo::from_caps(photo.caps().unwrap()).unwrap();
    let (width, height, stride) = (info.width(), info.height(), info.stride()[0] as usize);
    let pixels = photo.buffer().unwrap().map_readable().unwrap();
    let picture = RgbPicture {
        pixels: &pixels,
        width,
        height,
        stride,
        order: ColourOrder::Rgb,
    };
    let mut decoded = vec![0u8; pixels.len()];
    let mut encode_times = Vec::new();
    let mut decode_times = Vec::new();
    for round in 0..=ROUNDS {
        let started = Instant::now();
        let packet = codec.encode(&picture).unwrap();
        let encoded = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let target = RgbPictureMut {
            pixels: &mut decoded,
            width,
            height,
            stride,
            order: ColourOrder::Rgb,
        };
        codec.decode(&packet, target).unwrap();
        // The first round warms up.
        if round > 0 {
            encode_times.push(encoded);
            decode_times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }

    // The same picture as the encoder's input tensor, padded as the codec pads it.
    let (padded_width, padded_height) = (
        width.next_multiple_of(multiple) as usize,
        height.next_multiple_of(multiple) as usize,
    );
    let mut tensor = vec![0f32; 3 * padded_width * padded_height];
    for channel in 0..3 {
        for y in 0..padded_height {
            for x in 0..padded_width {
                let source = y.min(height as usize - 1) * stride + 3 * x.min(width as usize - 1);
                tensor[(channel * padded_height + y) * padded_width + x] =
                    pixels[source + channel] as f32 / 255.0;
            }
        }
    }
    let input = std::env::temp_dir().join(format!("neural-peer-{}.f32", std::process::id()));
    std::fs::write(
        &input,
        tensor
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let output = Command::new(PEER_PYTHON)
        .arg(PEER_SCRIPT)
        .args([&encoder_path, &decoder_path, &input])
        .args(
            [
                padded_height,
                padded_width,
                channels,
                downsampling as usize,
                1,
                ROUNDS,
            ]
            .map(|n| n.to_string()),
        )
        .env("ORT_DISABLE_TELEMETRY", "1")
        .output()
        .unwrap_or_else(|error| panic!("{PEER_PYTHON}: {error}; run scripts/setup.sh"));
    std::fs::remove_file(&input).unwrap();
    assert!(
        output.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut figures = text.split_whitespace().map(|v| v.parse::<f64>().unwrap());
    let (peer_encode, peer_decode) = (figures.next().unwrap(), figures.next().unwrap());
    (
        median(encode_times),
        median(decode_times),
        peer_encode,
        peer_decode,
    )
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        // Run as a test: nothing to check beyond compiling.
        return;
    }
    percept_testing::init();
    let photos: Vec<Vec<gst::Sample>> = TEST_PHOTOS
        .iter()
        .map(|path| load_frames(&media(path), "video/x-raw,format=RGB", None))
        .collect();

    let mut report = String::from(
        "# The learned image codec against dctenc and jpegenc\n\n\
         Written by `cargo bench -p percept-benches --bench neural_image`, on the five held-out \
         test photos, each codec at a range of its settings. neuralenc codes the photos' RGB; \
         dctenc and jpegenc code them converted to I420 (4:2:0 Y'CbCr, as JPEG is used); PSNR is \
         over the R, G and B samples after decoding, against the original RGB. Bits per pixel \
         and PSNR are means over the photos.\n\n\
         | Codec | Setting | bpp | PSNR dB |\n|---|---:|---:|---:|\n",
    );
    let mut curves: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    let codecs: [(&str, &str, &[u32], &str); 3] = [
        (
            "neuralenc",
            "neuralenc quality={}",
            &NEURAL_QUALITIES,
            "neuraldec",
        ),
        (
            "dctenc",
            "videoconvert ! video/x-raw,format=I420 ! dctenc quality={}",
            &CLASSIC_QUALITIES,
            "dctdec ! videoconvert ! video/x-raw,format=RGB",
        ),
        (
            "jpegenc",
            "videoconvert ! video/x-raw,format=I420 ! jpegenc quality={} idct-method=islow",
            &CLASSIC_QUALITIES,
            // jpegdec labels its output full-range, as JFIF is; the samples are the I420 that
            // went in, so they are converted back with the colorimetry they had then.
            "jpegdec idct-method=islow \
             ! capssetter caps=\"video/x-raw,colorimetry=(string)2:4:7:1\" \
             ! videoconvert ! video/x-raw,format=RGB",
        ),
    ];
    for (name, encoder, settings, decoder) in codecs {
        let mut curve = Vec::new();
        for &setting in settings {
            let (bpp, psnr) = rate_distortion(
                &photos,
                &encoder.replace("{}", &setting.to_string()),
                decoder,
            );
            let line = format!("| {name} | quality={setting} | {bpp:.3} | {psnr:.2} |");
            println!("{line}");
            report.push_str(&line);
            report.push('\n');
            curve.push((bpp, psnr));
        }
        curves.push((name, curve));
    }

    report.push_str("\nPSNR at equal rate, interpolated on each curve (log rate):\n\n| bpp |");
    for (name, _) in &curves {
        report.push_str(&format!(" {name} dB |"));
    }
    report.push_str("\n|---:|---:|---:|---:|\n");
    for bpp in [0.25, 0.5, 1.0] {
        report.push_str(&format!("| {bpp} |"));
        for (_, curve) in &curves {
            let cell =
                psnr_at(curve, bpp).map_or("outside the curve".to_owned(), |p| format!("{p:.2}"));
            report.push_str(&format!(" {cell} |"));
        }
        report.push('\n');
    }

    let csv: String = curves
        .iter()
        .flat_map(|(name, curve)| {
            curve
                .iter()
                .map(move |(bpp, psnr)| format!("{name},{bpp},{psnr}\n"))
        })
        .collect();
    let csv_path = std::env::temp_dir().join(format!("neural-rd-{}.csv", std::process::id()));
    std::fs::write(&csv_path, csv).unwrap();
    let status = Command::new(PEER_PYTHON)
        .args([
            PLOT_SCRIPT,
            csv_path.to_str().unwrap(),
            PLOT,
            "Held-out photos: RGB PSNR against bits per pixel",
            "bits per pixel",
            "PSNR dB",
            "log",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "plotting failed");
    std::fs::remove_file(&csv_path).unwrap();
    report.push_str("\n![PSNR against bits per pixel](neural_rd.png)\n");

    let (encode, decode, peer_encode, peer_decode) = speed(&photos[2][0]);
    report.push_str(&format!(
        "\nSpeed on {} at its native size, one thread, median of {ROUNDS} runs: our encode (model, \
         quantization, entropy coding) {encode:.1} ms against {peer_encode:.1} ms for the Python \
         onnxruntime package running the encoder model alone ({:.2}x its speed); our decode \
         {decode:.1} ms against {peer_decode:.1} ms for its decoder model ({:.2}x).\n",
        TEST_PHOTOS[2],
        peer_encode / encode,
        peer_decode / decode
    ));
    report.push_str(&batching(&photos[2][0]));
    println!("{report}");
    std::fs::write(REPORT, report).unwrap();
    println!("Written to {REPORT}");
}

/// Encoding time per frame when frames are coded one by one and in batches, on both cores.
fn batching(photo: &gst::Sample) -> String {
    let options = SessionOptions {
        intra_threads: 2,
        ..SessionOptions::default()
    };
    let loaded = LoadedCodec::load(&contract(), &options, Role::Encode).unwrap();
    let mut codec = NeuralImageCodec::new(loaded).unwrap();
    let info = gst_video::VideoInfo::from_caps(photo.caps().unwrap()).unwrap();
    let pixels = photo.buffer().unwrap().map_readable().unwrap();
    let picture = RgbPicture {
        pixels: &pixels,
        width: info.width(),
        height: info.height(),
        stride: info.stride()[0] as usize,
        order: ColourOrder::Rgb,
    };
    let mut cells = Vec::new();
    for batch in [1, 4, 8] {
        let pictures = vec![picture; batch];
        let mut times = Vec::new();
        let mut packets = Vec::new();
        for round in 0..=ROUNDS {
            packets.clear();
            let started = Instant::now();
            codec.encode_batch(&pictures, &mut packets).unwrap();
            if round > 0 {
                times.push(started.elapsed().as_secs_f64() * 1e3 / batch as f64);
            }
        }
        cells.push(format!("batch-size={batch}: {:.1} ms", median(times)));
    }
    format!(
        "\nEncoding time per frame on both cores (intra-threads 2), {}, one run of the model \
         per batch: {}.\n",
        TEST_PHOTOS[2],
        cells.join(", ")
    )
}
