//! The plugin as GStreamer loads it from the build folder: it registers, and gst-inspect-1.0
//! shows each element's documentation.

use std::path::PathBuf;
use std::process::Command;

/// The folder cargo built the plugin library into for this profile.
fn plugin_dir() -> PathBuf {
    // Integration tests live in <target>/<profile>/deps/.
    let executable = std::env::current_exe().unwrap();
    let dir = executable.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libgstdct.so").exists(),
        "{} holds no libgstdct.so: build the workspace first",
        dir.display()
    );
    dir
}

fn inspect(element: &str) -> String {
    let output = Command::new("gst-inspect-1.0")
        .arg(element)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY", plugin_dir().join("test-registry.bin"))
        .output()
        .expect("gst-inspect-1.0 is missing: run scripts/setup.sh");
    assert!(
        output.status.success(),
        "gst-inspect-1.0 {element} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn dctenc_is_documented() {
    let text = inspect("dctenc");
    for expected in [
        "Codec/Encoder/Video",
        "gst-launch-1.0 videotestsrc",
        "video/x-dct",
        "format: { (string)I420, (string)YV12, (string)NV12",
        "Unsigned Integer. Range: 1 - 100 Default: 85",
        "Threads that code slices in parallel",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}

#[test]
fn dctdec_is_documented() {
    let text = inspect("dctdec");
    for expected in [
        "Codec/Decoder/Video",
        "gst-launch-1.0 filesrc",
        "video/x-raw",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}

#[test]
fn the_audio_elements_are_documented() {
    let encoder = inspect("neuralaudioenc");
    for expected in [
        "Codec/Encoder/Audio",
        "audio/x-neural",
        "format: { (string)F32LE, (string)S16LE }",
        "frames-per-packet",
        "empty for the shipped speech codec",
    ] {
        assert!(encoder.contains(expected), "no {expected:?} in:\n{encoder}");
    }
    let decoder = inspect("neuralaudiodec");
    for expected in ["Codec/Decoder/Audio", "audio/x-neural", "audio/x-raw"] {
        assert!(decoder.contains(expected), "no {expected:?} in:\n{decoder}");
    }
}
