//! The shipped learned speech codec against opusenc on the held-out speech (PESQ wideband
//! against bit rate), and its coding speed against the Python `onnxruntime` package running the
//! same encoder and decoder on the same windows. Writes `benches/SPEECH_REPORT.md` and
//! `benches/speech_rd.png`.
//!
//! ```text
//! cargo bench -p percept-benches --bench neural_speech
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use percept::contract::{LoadedCodec, Role};
use percept::neural_audio::{NeuralAudioDecoder, NeuralAudioEncoder};
use percept::onnx::SessionOptions;
use percept_testing::audio::{load_speech, samples_f32, speech_buffers, SPEECH_CAPS, TEST_SPEECH};
use percept_testing::{media, process, total_bytes};

const PEER_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps/python/bin/python");
const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/speech_peer.py");
const PLOT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plot.py");
const REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/SPEECH_REPORT.md");
const PLOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/speech_rd.png");
const ROUNDS: usize = 15;
/// Frames per packet, as neuralaudioenc's default.
const PACKET_FRAMES: usize = 10;

const QUALITIES: [u32; 5] = [0, 20, 50, 75, 100];
const OPUS_RATES: [u32; 5] = [6000, 8000, 10000, 12000, 16000];

fn contract() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/speech_codec/model.json")
}

fn peer(arguments: &[&str]) -> String {
    let output = Command::new(PEER_PYTHON)
        .arg(PEER_SCRIPT)
        .args(arguments)
        .env("ORT_DISABLE_TELEMETRY", "1")
        .output()
        .unwrap_or_else(|error| panic!("{PEER_PYTHON}: {error}; run scripts/setup.sh"));
    assert!(
        output.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn write_f32(path: &Path, audio: &[f32]) {
    let bytes: Vec<u8> = audio.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("speech-bench-{}-{name}.f32", std::process::id()))
}

/// PESQ-WB of each decoded signal against the reference.
fn pesq(reference: &[f32], decoded: &[Vec<f32>]) -> Vec<f64> {
    let reference_path = scratch("reference");
    write_f32(&reference_path, reference);
    let paths: Vec<PathBuf> = (0..decoded.len())
        .map(|index| scratch(&index.to_string()))
        .collect();
    for (path, audio) in paths.iter().zip(decoded) {
        write_f32(path, audio);
    }
    let mut arguments = vec!["pesq", reference_path.to_str().unwrap()];
    arguments.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let scores = peer(&arguments)
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    for path in paths.iter().chain([&reference_path]) {
        std::fs::remove_file(path).unwrap();
    }
    scores
}

/// Codes `audio` through an encoder and a decoder chain: the bit rate of what the encoder
/// gives (kbit/s) and the decoded 16 kHz audio.
fn through(audio: &[f32], encoder: &str, decoder: &str) -> (f64, Vec<f32>) {
    let coded = process(&speech_buffers(audio, 4096), encoder).unwrap();
    let decoded = process(
        &coded,
        &format!("{decoder} ! audioconvert ! audioresample ! {SPEECH_CAPS}"),
    )
    .unwrap();
    let seconds = audio.len() as f64 / 16000.0;
    (
        total_bytes(&coded) as f64 * 8.0 / seconds / 1000.0,
        samples_f32(&decoded),
    )
}

/// The value of a curve at `x`, interpolating linearly between its points; None outside it.
fn value_at(curve: &[(f64, f64)], x: f64) -> Option<f64> {
    let mut sorted = curve.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted.windows(2).find_map(|pair| {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        (x0 <= x && x <= x1).then(|| y0 + (x - x0) / (x1 - x0) * (y1 - y0))
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Milliseconds per packet of [`PACKET_FRAMES`] frames: our encode and decode (model,
/// quantization, entropy coding) and the Python package's encoder and decoder models alone on
/// the same windows.
fn speed(audio: &[f32]) -> (f64, f64, f64, f64) {
    let options = SessionOptions {
        intra_threads: 1,
        ..SessionOptions::default()
    };
    let load = |role| LoadedCodec::load(&contract(), &options, role).unwrap();
    let mut encoder = NeuralAudioEncoder::new(load(Role::Encode)).unwrap();
    let mut decoder = NeuralAudioDecoder::new(load(Role::Decode)).unwrap();
    let (hop, context) = (encoder.frame_samples(), encoder.context_frames());
    let window = PACKET_FRAMES + 2 * context;
    let segment = &audio[..(window + 40) * hop];

    // Steady state: every packet but the first and last sees its full context.
    let mut packets = Vec::new();
    let mut packet = Vec::new();
    let mut encode_times = Vec::new();
    encoder.push(segment.iter().copied());
    loop {
        let started = Instant::now();
        if encoder
            .encode_next(PACKET_FRAMES, false, &mut packet)
            .unwrap()
            .is_none()
        {
            break;
        }
        encode_times.push(started.elapsed().as_secs_f64() * 1e3);
        packets.push(packet.clone());
    }
    let mut decode_times = Vec::new();
    let mut decoded = Vec::new();
    for packet in &packets {
        decoder.push(packet).unwrap();
        let started = Instant::now();
        if decoder.decode_next(false, &mut decoded).unwrap().is_some() {
            decode_times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let steady = |times: Vec<f64>| median(times[1..times.len() - 1].to_vec());

    let input = scratch("window");
    write_f32(&input, &segment[..window * hop]);
    let contract = encoder.contract();
    let text = peer(&[
        "speed",
        contract.encoder.to_str().unwrap(),
        contract.decoder.to_str().unwrap(),
        input.to_str().unwrap(),
        &contract.latents.channels.to_string(),
        &window.to_string(),
        "1",
        &ROUNDS.to_string(),
    ]);
    std::fs::remove_file(&input).unwrap();
    let mut figures = text.split_whitespace().map(|v| v.parse::<f64>().unwrap());
    (
        steady(encode_times),
        steady(decode_times),
        figures.next().unwrap(),
        figures.next().unwrap(),
    )
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        // Run as a test: nothing to check beyond compiling.
        return;
    }
    percept_testing::init();
    let mut report = String::from(
        "# The learned speech codec against opusenc\n\n\
         Written by `cargo bench -p percept-benches --bench neural_speech`, on the held-out \
         speech (16 kHz mono). neuralaudioenc at a range of `quality`, in packets of 10 frames \
         (200 ms); opusenc at a range of `bitrate` with `bandwidth=auto audio-type=voice`. The \
         rate is the bytes the encoder gives per second: for neuralaudioenc whole packets \
         (32 bytes of framing and checksum each, 1.3 kbit/s at this packet size), for opusenc \
         bare Opus packets (no Ogg or RTP). Quality is PESQ wideband (ITU-T P.862.2, the `pesq` \
         package) against the original.\n\n\
         | Speech | Codec | Setting | kbit/s | PESQ-WB |\n|---|---|---:|---:|---:|\n",
    );
    let mut csv = String::new();
    let mut summary = String::from(
        "\nPESQ-WB at equal rate, interpolated on each curve:\n\n\
         | Speech | neuralaudioenc at 6 kbit/s | opusenc at 6 kbit/s | opusenc at 12 kbit/s |\n\
         |---|---:|---:|---:|\n",
    );
    for file in TEST_SPEECH {
        let audio = load_speech(&media(file));
        let mut runs = Vec::new();
        for quality in QUALITIES {
            let (rate, decoded) = through(
                &audio,
                &format!("neuralaudioenc quality={quality}"),
                "neuralaudiodec",
            );
            runs.push((
                "neuralaudioenc",
                format!("quality={quality}"),
                rate,
                decoded,
            ));
        }
        for bitrate in OPUS_RATES {
            let (rate, decoded) = through(
                &audio,
                &format!(
                    "audioconvert ! opusenc bitrate={bitrate} bandwidth=auto audio-type=voice"
                ),
                "opusdec",
            );
            runs.push(("opusenc", format!("bitrate={bitrate}"), rate, decoded));
        }
        let decoded: Vec<Vec<f32>> = runs.iter().map(|run| run.3.clone()).collect();
        let scores = pesq(&audio, &decoded);
        let mut curves: [Vec<(f64, f64)>; 2] = Default::default();
        for ((codec, setting, rate, _), &score) in runs.iter().zip(&scores) {
            let line = format!("| {file} | {codec} | {setting} | {rate:.2} | {score:.2} |");
            println!("{line}");
            report.push_str(&line);
            report.push('\n');
            csv.push_str(&format!("{codec} ({file}),{rate},{score}\n"));
            curves[usize::from(*codec == "opusenc")].push((*rate, score));
        }
        let cell = |curve: &[(f64, f64)], rate: f64| {
            value_at(curve, rate).map_or("outside the curve".to_owned(), |v| format!("{v:.2}"))
        };
        summary.push_str(&format!(
            "| {file} | {} | {} | {} |\n",
            cell(&curves[0], 6.0),
            cell(&curves[1], 6.0),
            cell(&curves[1], 12.0)
        ));
    }
    report.push_str(&summary);

    let csv_path = scratch("curves");
    std::fs::write(&csv_path, csv).unwrap();
    let status = Command::new(PEER_PYTHON)
        .args([
            PLOT_SCRIPT,
            csv_path.to_str().unwrap(),
            PLOT,
            "Held-out speech: PESQ-WB against bit rate",
            "kbit/s",
            "PESQ-WB",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "plotting failed");
    std::fs::remove_file(&csv_path).unwrap();
    report.push_str("\n![PESQ-WB against bit rate](speech_rd.png)\n");

    let audio = load_speech(&media(TEST_SPEECH[0]));
    let (encode, decode, peer_encode, peer_decode) = speed(&audio);
    report.push_str(&format!(
        "\nSpeed, one thread, per packet of {PACKET_FRAMES} frames (200 ms of audio; each model \
         run covers the packet and its context on both sides), median over a stretch of {}: our \
         encode (model, quantization, entropy coding) {encode:.2} ms against {peer_encode:.2} ms \
         for the Python onnxruntime package running the encoder model alone on the same window \
         ({:.2}x its speed); our decode {decode:.2} ms against {peer_decode:.2} ms for its \
         decoder model ({:.2}x). Real time needs 200 ms per packet.\n",
        TEST_SPEECH[0],
        peer_encode / encode,
        peer_decode / decode
    ));
    println!("{report}");
    std::fs::write(REPORT, report).unwrap();
    println!("Written to {REPORT} and {PLOT}");
}
