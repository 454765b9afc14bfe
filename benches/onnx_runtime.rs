//! Inference through the core crate's ONNX Runtime layer against the Python `onnxruntime`
//! package, the same library version running the same model on the same inputs, in one run.
//!
//! The model is the pretrained image classifier `scripts/setup.sh` installs; the inputs are
//! the test photos prepared as it expects. Each side times single inferences after a warm-up,
//! with one thread and with every core, and the outputs of the two are compared. Figures go to
//! `benches/ONNX_RUNTIME_REPORT.md`.
//!
//! ```text
//! cargo bench -p percept-benches --bench onnx_runtime
//! ```

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use percept::onnx::{self, Model, SessionOptions};
use percept_testing::classifier::{self, INPUT_SIZE};
use percept_testing::{media, TEST_PHOTOS};

const WARM_UP: usize = 3;
const ROUNDS: usize = 6;

/// The Python interpreter of the environment `scripts/setup.sh` prepares.
const PEER_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps/python/bin/python");
const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/onnx_peer.py");
const REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ONNX_RUNTIME_REPORT.md");

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median milliseconds per inference through [`Model`], and the outputs per image.
fn time_ours(images: &[Vec<f32>], threads: usize) -> (f64, Vec<Vec<f32>>) {
    let options = SessionOptions {
        intra_threads: threads,
        ..SessionOptions::default()
    };
    let mut model = Model::load(&media(classifier::MODEL), &options).unwrap();
    let session = model.session();
    let name = session.inputs[0].name.clone();
    let shape = [1usize, INPUT_SIZE, INPUT_SIZE, 3];
    let mut run = |image: &Vec<f32>| {
        let tensor = ort::value::Tensor::from_array((shape, image.clone())).unwrap();
        let started = Instant::now();
        let outputs = session.run(ort::inputs![name.as_str() => tensor]).unwrap();
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        let (_, values) = outputs[0].try_extract_tensor::<f32>().unwrap();
        (elapsed, values.to_vec())
    };

    for _ in 0..WARM_UP {
        run(&images[0]);
    }
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for image in images {
            times.push(run(image).0);
        }
    }
    let outputs = images.iter().map(|image| run(image).1).collect();
    (median(times), outputs)
}

/// The same through the Python package.
fn time_peer(inputs: &Path, count: usize, threads: usize) -> (f64, Vec<Vec<f32>>) {
    let output = Command::new(PEER_PYTHON)
        .arg(PEER_SCRIPT)
        .arg(media(classifier::MODEL))
        .arg(inputs)
        .args([count, INPUT_SIZE, threads, WARM_UP, ROUNDS].map(|n| n.to_string()))
        .env("ORT_DISABLE_TELEMETRY", "1")
        .output()
        .unwrap_or_else(|error| panic!("{PEER_PYTHON}: {error}; run scripts/setup.sh"));
    assert!(
        output.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let median = lines.next().unwrap().parse().unwrap();
    let outputs = lines
        .map(|line| line.split(' ').map(|v| v.parse().unwrap()).collect())
        .collect();
    (median, outputs)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        // Run as a test: nothing to check beyond compiling.
        return;
    }
    percept_testing::init();
    let runtime = onnx::runtime().unwrap();
    let images: Vec<Vec<f32>> = TEST_PHOTOS.iter().map(|p| classifier::input(p)).collect();
    let inputs = std::env::temp_dir().join(format!("onnx-peer-{}.f32", std::process::id()));
    let bytes: Vec<u8> = images
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&inputs, bytes).unwrap();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut table = String::from(
        "| Threads | ours ms/inference | Python onnxruntime ms/inference | our speed against the peer | largest output difference |\n|---:|---:|---:|---:|---:|\n",
    );
    let mut lines = Vec::new();
    for threads in [1, cores] {
        let (ours, our_outputs) = time_ours(&images, threads);
        let (peer, peer_outputs) = time_peer(&inputs, images.len(), threads);
        let difference = our_outputs
            .iter()
            .flatten()
            .zip(peer_outputs.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let line = format!(
            "| {threads} | {ours:.2} | {peer:.2} | {:.2}x | {difference:.1e} |",
            peer / ours
        );
        println!("{line}");
        lines.push(line);
    }
    std::fs::remove_file(&inputs).unwrap();
    table.push_str(&lines.join("\n"));

    let report = format!(
        "# ONNX Runtime: the core crate against the Python package\n\n\
         Written by `cargo bench -p percept-benches --bench onnx_runtime`. Both sides load ONNX \
         Runtime {version} (the library from the `onnxruntime` wheel that `scripts/setup.sh` \
         installs) and run the Open-NSFW ResNet-50 classifier, CPU execution provider, on the \
         {count} test photos prepared as it expects (224x224x3). A figure is the median time of \
         one inference over {ROUNDS} rounds of every photo, after {WARM_UP} warm-up runs; speed \
         above 1x means faster than the Python package. Machine: {cores} cores.\n\n{table}\n",
        version = runtime.version,
        count = images.len(),
    );
    std::fs::write(REPORT, report).unwrap();
    println!("Written to {REPORT}");
}
