//! Codes the sample photos and the sample clip with dctenc and with jpegenc at the same
//! quality, the photos with the shipped learned image codec (neuralenc), and the sample speech
//! with the shipped learned speech codec (neuralaudioenc) and with opusenc at the same rate;
//! decodes them, writes out the coded streams and the decoded pictures and speech, and prints
//! what each codec achieved.
//!
//! ```text
//! cargo run --release -p percept-examples --bin roundtrip -- [--quality N] [--out DIR]
//! ```
//!
//! The sample media comes from `scripts/setup.sh`.

use std::path::{Path, PathBuf};

use gst::prelude::*;

use percept_testing::audio::{
    load_speech, log_spectral_distance, samples_f32, speech_buffers, SPEECH_CAPS, TEST_SPEECH,
};
use percept_testing::quality::{frame_psnr, mean_psnr};
use percept_testing::{init, load_frames, media, process, total_bytes, TEST_CLIP, TEST_PHOTOS};

struct Options {
    quality: u32,
    out: PathBuf,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        quality: 85,
        out: PathBuf::from("demo-output"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--quality" => {
                options.quality = value()?
                    .parse()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or("--quality takes a number from 1 to 100")?;
            }
            "--out" => options.out = PathBuf::from(value()?),
            "--help" | "-h" => return Err("usage: roundtrip [--quality 1..100] [--out DIR]".into()),
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(options)
}

/// What one codec did to one input.
struct Outcome {
    bytes: usize,
    psnr: f64,
    decoded: Vec<gst::Sample>,
    coded: Vec<gst::Sample>,
}

fn round_trip(frames: &[gst::Sample], encoder: &str, decoder: &str) -> Result<Outcome, String> {
    let coded = process(frames, encoder)?;
    let decoded = process(&coded, decoder)?;
    Ok(Outcome {
        bytes: total_bytes(&coded),
        psnr: mean_psnr(frames, &decoded, frame_psnr),
        decoded,
        coded,
    })
}

/// Concatenates the buffers of `samples` into a file.
fn write_samples(path: &Path, samples: &[gst::Sample]) -> Result<(), String> {
    let mut bytes = Vec::new();
    for sample in samples {
        let buffer = sample.buffer().ok_or("sample without a buffer")?;
        bytes.extend_from_slice(&buffer.map_readable().map_err(|e| e.to_string())?);
    }
    std::fs::write(path, bytes).map_err(|error| format!("{}: {error}", path.display()))
}

/// Writes raw audio samples to a WAV file (wavenc rewrites its header at the end, so it
/// needs a seekable sink).
fn write_wav(path: &Path, samples: &[gst::Sample]) -> Result<(), String> {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! audioconvert ! wavenc ! filesink location=\"{}\"",
        path.display()
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let source = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or("no appsrc")?;
    source.set_max_bytes(0);
    for sample in samples {
        source
            .push_sample(sample)
            .map_err(|error| format!("{}: {error:?}", path.display()))?;
    }
    source.end_of_stream().map_err(|e| format!("{e:?}"))?;
    percept_testing::run_to_eos(&pipeline)
}

fn run(options: &Options) -> Result<(), String> {
    init();
    std::fs::create_dir_all(&options.out).map_err(|e| e.to_string())?;
    let quality = options.quality;
    println!(
        "{:<32} {:>8} {:>7} {:>8} {:>7} {:>8}   {:>8} {:>7} {:>8}",
        "input (I420)", "raw kB", "dct kB", "ratio", "bpp", "PSNR dB", "jpeg kB", "bpp", "PSNR dB"
    );

    let clip = load_frames(&media(TEST_CLIP), "video/x-raw,format=I420", None);
    let inputs = TEST_PHOTOS
        .iter()
        .map(|path| {
            (
                *path,
                load_frames(&media(path), "video/x-raw,format=I420", None),
            )
        })
        .chain(std::iter::once((TEST_CLIP, clip)));

    for (path, frames) in inputs {
        let ours = round_trip(&frames, &format!("dctenc quality={quality}"), "dctdec")?;
        let jpeg = round_trip(
            &frames,
            &format!("jpegenc quality={quality}"),
            "jpegdec ! videoconvert ! video/x-raw,format=I420",
        )?;

        let caps = frames[0].caps().ok_or("frame without caps")?;
        let structure = caps.structure(0).ok_or("empty caps")?;
        let width = structure.get::<i32>("width").map_err(|e| e.to_string())? as f64;
        let height = structure.get::<i32>("height").map_err(|e| e.to_string())? as f64;
        let pixels = width * height * frames.len() as f64;
        let raw_bytes = pixels * 1.5;
        let bpp = |bytes: usize| bytes as f64 * 8.0 / pixels;
        let label = format!(
            "{} ({} frame{})",
            Path::new(path).file_name().unwrap().to_string_lossy(),
            frames.len(),
            if frames.len() == 1 { "" } else { "s" }
        );
        println!(
            "{label:<32} {:>8.0} {:>7.1} {:>7.1}x {:>7.3} {:>8.2}   {:>8.1} {:>7.3} {:>8.2}",
            raw_bytes / 1e3,
            ours.bytes as f64 / 1e3,
            raw_bytes / ours.bytes as f64,
            bpp(ours.bytes),
            ours.psnr,
            jpeg.bytes as f64 / 1e3,
            bpp(jpeg.bytes),
            jpeg.psnr
        );

        let stem = Path::new(path).file_stem().unwrap().to_string_lossy();
        write_samples(&options.out.join(format!("{stem}.dct")), &ours.coded)?;
        if frames.len() == 1 {
            let png = process(&ours.decoded, "videoconvert ! pngenc")?;
            write_samples(&options.out.join(format!("{stem}.png")), &png)?;
        } else {
            let video = process(&ours.decoded, "videoconvert ! avenc_ffv1 ! matroskamux")?;
            write_samples(&options.out.join(format!("{stem}.mkv")), &video)?;
        }
    }

    println!(
        "\nQuality {quality} for both codecs; ratio is raw I420 size over coded size.\n\
         Coded streams (.dct) and decoded pictures are in {}/; play a stream with\n  \
         gst-launch-1.0 filesrc location={}/bikes.dct ! decodebin ! videoconvert ! autovideosink",
        options.out.display(),
        options.out.display()
    );
    learned_codec(options)
}

/// The photos through the shipped learned codec, as RGB.
fn learned_codec(options: &Options) -> Result<(), String> {
    println!(
        "\n{:<32} {:>8} {:>9} {:>8} {:>7} {:>8}",
        "input (RGB)", "raw kB", "neural kB", "ratio", "bpp", "PSNR dB"
    );
    for path in TEST_PHOTOS {
        let frames = load_frames(&media(path), "video/x-raw,format=RGB", None);
        let ours = round_trip(
            &frames,
            &format!("neuralenc quality={}", options.quality),
            "neuraldec",
        )?;
        let structure = frames[0]
            .caps()
            .ok_or("frame without caps")?
            .structure(0)
            .ok_or("empty caps")?
            .to_owned();
        let pixels = (structure.get::<i32>("width").map_err(|e| e.to_string())?
            * structure.get::<i32>("height").map_err(|e| e.to_string())?)
            as f64;
        let name = Path::new(path).file_name().unwrap().to_string_lossy();
        println!(
            "{name:<32} {:>8.0} {:>9.1} {:>7.1}x {:>7.3} {:>8.2}",
            pixels * 3.0 / 1e3,
            ours.bytes as f64 / 1e3,
            pixels * 3.0 / ours.bytes as f64,
            ours.bytes as f64 * 8.0 / pixels,
            ours.psnr
        );
        let stem = Path::new(path).file_stem().unwrap().to_string_lossy();
        let png = process(&ours.decoded, "videoconvert ! pngenc")?;
        write_samples(&options.out.join(format!("{stem}-neural.png")), &png)?;
    }
    println!(
        "\nThe learned codec at quality {}: PSNR over R, G and B. It is a small model trained \
         briefly on a CPU\n(models/image_codec/README.md): a baseline, well below JPEG at equal rate.",
        options.quality
    );
    learned_speech(options)
}

/// The sample speech through the shipped speech codec at its default quality, and through
/// opusenc at about the same rate; the decoded speech is written out as WAV files.
fn learned_speech(options: &Options) -> Result<(), String> {
    println!(
        "\n{:<24} {:>8} {:>10} {:>8}   {:>10} {:>8}",
        "input (16 kHz)", "seconds", "neural kb/s", "LSD dB", "opus kb/s", "LSD dB"
    );
    for path in TEST_SPEECH {
        let audio = load_speech(&media(path));
        let input = speech_buffers(&audio, 4096);
        let stem = Path::new(path).file_stem().unwrap().to_string_lossy();
        let seconds = audio.len() as f64 / 16000.0;
        let mut row = format!("{:<24} {seconds:>8.1}", format!("{stem}.wav"));
        for (name, encoder, decoder) in [
            ("neural", "neuralaudioenc", "neuralaudiodec"),
            (
                "opus",
                "audioconvert ! opusenc bitrate=6000 bandwidth=auto audio-type=voice",
                "opusdec ! audioconvert ! audioresample",
            ),
        ] {
            let coded = process(&input, encoder)?;
            let decoded = process(&coded, &format!("{decoder} ! {SPEECH_CAPS}"))?;
            let mut samples = samples_f32(&decoded);
            samples.resize(audio.len(), 0.0);
            let rate = total_bytes(&coded) as f64 * 8.0 / seconds / 1000.0;
            let distance = log_spectral_distance(&audio, &samples);
            row.push_str(&format!(" {rate:>10.2} {distance:>8.2}  "));
            write_wav(&options.out.join(format!("{stem}-{name}.wav")), &decoded)?;
            if name == "neural" {
                write_samples(&options.out.join(format!("{stem}.nau")), &coded)?;
            }
        }
        println!("{row}");
    }
    println!(
        "\nLSD: log-spectral distance to the original (lower is closer). The speech codec is a \
         small model\ntrained briefly on a CPU (models/speech_codec/README.md); \
         benches/SPEECH_REPORT.md has PESQ figures.\nPlay a coded stream with\n  \
         gst-launch-1.0 filesrc location={}/jfk.nau ! decodebin ! audioconvert ! autoaudiosink",
        options.out.display()
    );
    Ok(())
}

fn main() {
    let result = parse_options().and_then(|options| run(&options));
    if let Err(error) = result {
        eprintln!("roundtrip: {error}");
        std::process::exit(1);
    }
}
