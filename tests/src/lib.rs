//! Real media through real GStreamer pipelines, for the end-to-end tests, the demo and the
//! benchmarks: decode photos and clips from `media/` (installed by `scripts/setup.sh`) into raw
//! frames, push frames through any encoder or decoder, and measure the result.

use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

pub mod audio;
pub mod classifier;
pub mod network;
pub mod quality;

/// Initialises GStreamer and registers the project's elements, once per process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer failed to initialise");
        gstdct::plugin_register_static().expect("failed to register the dct plugin");
        gstneural::plugin_register_static().expect("failed to register the neural plugin");
    });
}

/// The folder `scripts/setup.sh` fills with sample media.
pub fn media_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../media")
}

/// Path of a sample file, e.g. `photos/coffee.png`; panics with a hint when it is missing.
pub fn media(relative: &str) -> PathBuf {
    let path = media_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh first",
        path.display()
    );
    path
}

/// The photos used as the test set: colour photographs of varied content and sizes.
pub const TEST_PHOTOS: [&str; 5] = [
    "photos/astronaut.png",
    "photos/chelsea.png",
    "photos/coffee.png",
    "photos/hubble_deep_field.jpg",
    "photos/motorcycle_left.png",
];

/// The real camera clip used as test video.
pub const TEST_CLIP: &str = "video/bikes.mp4";

/// How long any pipeline here may take before a test gives up on it.
const PIPELINE_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(120);

/// Runs `pipeline` to EOS, collecting every sample that reaches the appsink named `sink`.
/// Fails with the bus's error message if the pipeline errors or stalls.
pub fn collect_samples(pipeline: &gst::Pipeline) -> Result<Vec<gst::Sample>, String> {
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("pipeline has no appsink named sink")?;
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let collected = samples.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                collected.lock().unwrap().push(sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    run_to_eos(pipeline)?;
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    Ok(samples)
}

/// Plays `pipeline` until EOS and stops it; returns the first error posted.
pub fn run_to_eos(pipeline: &gst::Pipeline) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The element that refused to start says why on the bus.
        let why = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|message| match message.view() {
                gst::MessageView::Error(error) => Some(error.error().to_string()),
                _ => None,
            })
            .unwrap_or_default();
        pipeline.set_state(gst::State::Null).unwrap();
        return Err(format!("pipeline failed to start: {why}"));
    }
    let message = bus.timed_pop_filtered(
        PIPELINE_TIMEOUT,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let result = match message.as_ref().map(|message| message.view()) {
        None => Err("pipeline timed out".to_owned()),
        Some(gst::MessageView::Error(error)) => Err(format!(
            "{}: {} ({:?})",
            error.src().map(|s| s.path_string()).unwrap_or_default(),
            error.error(),
            error.debug()
        )),
        Some(_) => Ok(()),
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

/// Decodes a photo or clip into raw frames of the given caps (for example
/// `video/x-raw,format=I420` or with a size to scale to), at most `limit` of them.
pub fn load_frames(path: &Path, caps: &str, limit: Option<usize>) -> Vec<gst::Sample> {
    init();
    let description = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! {caps} \
         ! appsink name=sink sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let mut samples = collect_samples(&pipeline)
        .unwrap_or_else(|error| panic!("cannot decode {}: {error}", path.display()));
    if let Some(limit) = limit {
        samples.truncate(limit);
    }
    assert!(!samples.is_empty(), "no frames from {}", path.display());
    samples
}

/// Gives `samples` timestamps `i * duration` from zero and returns them, so that a
/// sequence of photos plays as a clip.
pub fn retime(samples: &[gst::Sample], duration: gst::ClockTime) -> Vec<gst::Sample> {
    samples
        .iter()
        .enumerate()
        .map(|(index, sample)| {
            let mut buffer = sample.buffer_owned().unwrap();
            {
                let buffer = buffer.make_mut();
                buffer.set_pts(duration * index as u64);
                buffer.set_dts(gst::ClockTime::NONE);
                buffer.set_duration(duration);
            }
            gst::Sample::builder()
                .buffer(&buffer)
                .caps(&sample.caps().unwrap().to_owned())
                .build()
        })
        .collect()
}

/// Pushes `samples` (each with its own caps) through `chain`, a gst-launch fragment such as
/// `dctenc quality=90` or `dctenc ! dctdec`, and returns what comes out, in order.
pub fn process(samples: &[gst::Sample], chain: &str) -> Result<Vec<gst::Sample>, String> {
    init();
    let description =
        format!("appsrc name=src format=time ! {chain} ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&description)
        .map_err(|error| error.to_string())?
        .downcast::<gst::Pipeline>()
        .unwrap();
    let source = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    source.set_max_bytes(0);
    for sample in samples {
        source
            .push_sample(sample)
            .map_err(|error| format!("push failed: {error:?}"))?;
    }
    source.end_of_stream().unwrap();
    collect_samples(&pipeline)
}

/// Total bytes of the buffers in `samples`.
pub fn total_bytes(samples: &[gst::Sample]) -> usize {
    samples
        .iter()
        .map(|sample| sample.buffer().unwrap().size())
        .sum()
}
