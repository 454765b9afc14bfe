//! dctenc and dctdec in real pipelines on real photos and video.

use std::time::{Duration, Instant};

use gst::prelude::*;

use percept_testing::quality::{frame_psnr, luma_psnr, mean_psnr};
use percept_testing::{
    init, load_frames, media, process, retime, run_to_eos, total_bytes, TEST_CLIP, TEST_PHOTOS,
};

const FRAME_30FPS: gst::ClockTime = gst::ClockTime::from_nseconds(33_333_333);

/// The first `count` frames of the test clip in `caps`, timed at 30 frames per second.
fn clip_frames(caps: &str, count: usize) -> Vec<gst::Sample> {
    retime(
        &load_frames(&media(TEST_CLIP), caps, Some(count)),
        FRAME_30FPS,
    )
}

fn photo_frames(path: &str) -> Vec<gst::Sample> {
    load_frames(&media(path), "video/x-raw,format=I420", None)
}

fn caps_size(sample: &gst::Sample) -> (String, i32, i32) {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    (
        info.format().to_str().to_string(),
        info.width() as i32,
        info.height() as i32,
    )
}

/// dctenc against jpegenc at the same quality on one input: (our bytes, our PSNR, JPEG bytes,
/// JPEG PSNR).
fn compare_with_jpeg(frames: &[gst::Sample], quality: u32) -> (usize, f64, usize, f64) {
    let ours = process(frames, &format!("dctenc quality={quality}")).unwrap();
    let ours_decoded = process(&ours, "dctdec").unwrap();
    let jpeg = process(frames, &format!("jpegenc quality={quality}")).unwrap();
    let jpeg_decoded = process(&jpeg, "jpegdec ! videoconvert ! video/x-raw,format=I420").unwrap();
    (
        total_bytes(&ours),
        mean_psnr(frames, &ours_decoded, frame_psnr),
        total_bytes(&jpeg),
        mean_psnr(frames, &jpeg_decoded, frame_psnr),
    )
}

#[test]
fn matches_jpeg_quality_in_fewer_bytes_on_photos_and_video() {
    init();
    let mut inputs: Vec<(String, Vec<gst::Sample>)> = TEST_PHOTOS
        .iter()
        .map(|path| (path.to_string(), photo_frames(path)))
        .collect();
    inputs.push((
        TEST_CLIP.to_string(),
        clip_frames("video/x-raw,format=I420", 10),
    ));

    for (name, frames) in &inputs {
        for quality in [50, 85, 95] {
            let (bytes, psnr, jpeg_bytes, jpeg_psnr) = compare_with_jpeg(frames, quality);
            println!(
                "{name} q{quality}: dct {bytes} bytes {psnr:.2} dB, \
                 jpeg {jpeg_bytes} bytes {jpeg_psnr:.2} dB"
            );
            assert!(
                psnr >= jpeg_psnr - 0.3,
                "{name} q{quality}: {psnr:.2} dB against JPEG's {jpeg_psnr:.2} dB"
            );
            assert!(
                bytes <= jpeg_bytes,
                "{name} q{quality}: {bytes} bytes against JPEG's {jpeg_bytes}"
            );
        }
    }
}

#[test]
fn quality_100_is_above_45_db() {
    init();
    for path in TEST_PHOTOS {
        let frames = photo_frames(path);
        let decoded = process(&frames, "dctenc quality=100 ! dctdec").unwrap();
        let psnr = luma_psnr(&frames[0], &decoded[0]);
        println!("{path}: luma {psnr:.2} dB at quality 100");
        assert!(
            psnr >= 45.0,
            "{path}: luma PSNR {psnr:.2} dB at quality 100"
        );
    }
}

#[test]
fn odd_and_tiny_sizes_keep_frames_caps_and_timestamps() {
    init();
    let clip = clip_frames("video/x-raw", 3);
    let sizes = [
        (1, 1),
        (2, 1),
        (1, 2),
        (7, 7),
        (9, 9),
        (23, 42),
        (92, 60),
        (641, 479),
    ];
    for format in ["I420", "RGB"] {
        for (width, height) in sizes {
            let caps = format!("video/x-raw,format={format},width={width},height={height}");
            let frames = process(&clip, &format!("videoconvert ! videoscale ! {caps}")).unwrap();
            let decoded = process(&frames, "dctenc quality=90 ! dctdec").unwrap();

            assert_eq!(decoded.len(), frames.len(), "{caps}: frame count");
            for (index, (original, output)) in frames.iter().zip(&decoded).enumerate() {
                assert_eq!(caps_size(original), caps_size(output), "{caps}: caps");
                let (a, b) = (original.buffer().unwrap(), output.buffer().unwrap());
                assert_eq!(b.pts(), Some(FRAME_30FPS * index as u64), "{caps}: PTS");
                assert_eq!(a.duration(), b.duration(), "{caps}: duration");
                let psnr = frame_psnr(original, output);
                assert!(psnr >= 30.0, "{caps}: {psnr:.1} dB at quality 90");
            }

            if (width, height) == (1, 1) {
                let decoded = process(&frames, "dctenc quality=100 ! dctdec").unwrap();
                let original = frames[0].buffer().unwrap().map_readable().unwrap();
                let output = decoded[0].buffer().unwrap().map_readable().unwrap();
                let samples = if format == "RGB" { 3 } else { 1 };
                for (a, b) in original[..samples].iter().zip(&output[..samples]) {
                    assert!(a.abs_diff(*b) <= 4, "{caps}: {a} came back as {b}");
                }
            }
        }
    }
}

#[test]
fn every_frame_comes_out_with_its_timestamp_and_eos_is_prompt() {
    init();
    let clip = clip_frames("video/x-raw,format=I420", 30);
    for count in [1, 2, 7, 30] {
        let started = Instant::now();
        let decoded = process(&clip[..count], "dctenc ! dctdec").unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{count} frames took {:?}",
            started.elapsed()
        );
        assert_eq!(decoded.len(), count);
        for (index, sample) in decoded.iter().enumerate() {
            let pts = sample.buffer().unwrap().pts().unwrap();
            assert_eq!(pts.nseconds(), index as u64 * 33_333_333);
        }
    }
}

#[test]
fn size_changes_mid_stream_renegotiate() {
    init();
    let clip = clip_frames("video/x-raw,format=I420", 6);
    let mut frames = Vec::new();
    for (index, (width, height)) in [(320, 240), (176, 144), (641, 479)].iter().enumerate() {
        let caps = format!("video/x-raw,format=I420,width={width},height={height}");
        let pair = &clip[2 * index..2 * index + 2];
        frames.extend(process(pair, &format!("videoscale ! {caps}")).unwrap());
    }
    let frames = retime(&frames, FRAME_30FPS);

    let decoded = process(&frames, "dctenc ! dctdec").unwrap();
    assert_eq!(decoded.len(), frames.len());
    for (original, output) in frames.iter().zip(&decoded) {
        assert_eq!(caps_size(original), caps_size(output));
        assert!(frame_psnr(original, output) > 30.0);
    }
}

#[test]
fn format_changes_mid_stream_renegotiate() {
    init();
    let clip = clip_frames("video/x-raw", 4);
    let mut frames = Vec::new();
    for (index, format) in ["NV12", "BGRA", "GRAY8", "Y444"].iter().enumerate() {
        let caps = format!("video/x-raw,format={format}");
        frames.extend(process(&clip[index..index + 1], &format!("videoconvert ! {caps}")).unwrap());
    }
    let frames = retime(&frames, FRAME_30FPS);
    let decoded = process(&frames, "dctenc ! dctdec").unwrap();
    assert_eq!(decoded.len(), frames.len());
    for (original, output) in frames.iter().zip(&decoded) {
        assert_eq!(caps_size(original), caps_size(output));
        assert!(frame_psnr(original, output) > 30.0);
    }
}

#[test]
fn output_does_not_depend_on_threads() {
    init();
    let frames = load_frames(
        &media(TEST_PHOTOS[2]),
        "video/x-raw,format=I420,width=1920,height=1080",
        None,
    );
    let single = process(&frames, "dctenc threads=1").unwrap();
    let parallel = process(&frames, "dctenc threads=4").unwrap();
    let bytes = |s: &gst::Sample| s.buffer().unwrap().map_readable().unwrap().to_vec();
    assert_eq!(bytes(&single[0]), bytes(&parallel[0]));

    let decoded_single = process(&single, "dctdec threads=1").unwrap();
    let decoded_parallel = process(&single, "dctdec threads=3").unwrap();
    assert_eq!(bytes(&decoded_single[0]), bytes(&decoded_parallel[0]));
}

#[test]
fn padded_strides_give_the_same_bitstream() {
    init();
    let frames = load_frames(
        &media(TEST_PHOTOS[1]),
        "video/x-raw,format=I420,width=451,height=300",
        None,
    );
    let info = gst_video::VideoInfo::from_caps(frames[0].caps().unwrap()).unwrap();
    let tight = frames[0].buffer().unwrap().map_readable().unwrap();

    // Every row gets 37 bytes of padding, and the planes are laid out back to back.
    let strides: Vec<i32> = info.stride().iter().map(|s| s + 37).collect();
    let mut offsets = Vec::new();
    let mut padded = Vec::new();
    for plane in 0..3 {
        offsets.push(padded.len());
        let rows = if plane == 0 { 300 } else { 150 };
        for row in 0..rows {
            let start = info.offset()[plane] + row * info.stride()[plane] as usize;
            padded.extend_from_slice(&tight[start..start + info.stride()[plane] as usize]);
            padded.extend(std::iter::repeat_n(0x5A, 37));
        }
    }
    let mut buffer = gst::Buffer::from_mut_slice(padded);
    gst_video::VideoMeta::add_full(
        buffer.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        gst_video::VideoFormat::I420,
        451,
        300,
        &offsets,
        &strides,
    )
    .unwrap();

    let mut harness = gst_check::Harness::new("dctenc");
    harness.set_src_caps(frames[0].caps().unwrap().to_owned());
    let from_tight = harness
        .push_and_pull(frames[0].buffer_owned().unwrap())
        .unwrap();
    let from_padded = harness.push_and_pull(buffer).unwrap();
    assert_eq!(
        from_tight.map_readable().unwrap().as_slice(),
        from_padded.map_readable().unwrap().as_slice()
    );
}

#[test]
fn latency_is_answered_and_every_buffer_is_a_key_frame() {
    init();
    let frames = clip_frames("video/x-raw,format=I420", 3);
    let mut harness = gst_check::Harness::new("dctenc");
    harness.set_src_caps(frames[0].caps().unwrap().to_owned());
    for frame in &frames {
        let packet = harness
            .push_and_pull(frame.buffer_owned().unwrap())
            .unwrap();
        assert!(!packet.flags().contains(gst::BufferFlags::DELTA_UNIT));
    }
    let latency = harness.query_latency().expect("latency query unanswered");
    assert_eq!(
        latency,
        gst::ClockTime::ZERO,
        "the encoder holds no frames back"
    );
    let caps = harness.sinkpad().unwrap().current_caps().unwrap();
    let structure = caps.structure(0).unwrap();
    assert_eq!(structure.name(), "video/x-dct");
    assert_eq!(structure.get::<&str>("format").unwrap(), "I420");
    assert_eq!(structure.get::<i32>("width").unwrap(), 640);
}

#[test]
fn quality_can_change_while_playing() {
    init();
    let frames = clip_frames("video/x-raw,format=I420", 2);
    let mut harness = gst_check::Harness::new("dctenc");
    harness.set_src_caps(frames[0].caps().unwrap().to_owned());
    harness.element().unwrap().set_property("quality", 95u32);
    let large = harness
        .push_and_pull(frames[0].buffer_owned().unwrap())
        .unwrap();
    harness.element().unwrap().set_property("quality", 20u32);
    let small = harness
        .push_and_pull(frames[0].buffer_owned().unwrap())
        .unwrap();
    assert!(
        small.size() * 3 < large.size(),
        "{} vs {}",
        small.size(),
        large.size()
    );
}

/// Runs `packets` through `appsrc caps=... ! dctdec ! appsink`, returning decoded frames and
/// the texts of the warnings posted.
fn decode_with_warnings(packets: Vec<gst::Buffer>, caps: &str) -> (usize, Vec<String>) {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src caps={caps} format=time ! dctdec ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let source = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    source.set_max_bytes(0);
    for packet in packets {
        source.push_buffer(packet).unwrap();
    }
    source.end_of_stream().unwrap();

    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let decoded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = decoded.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                sink.pull_sample().unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );

    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut warnings = Vec::new();
    loop {
        let message = bus
            .timed_pop(gst::ClockTime::from_seconds(60))
            .expect("decoder stalled");
        match message.view() {
            gst::MessageView::Warning(warning) => warnings.push(warning.error().to_string()),
            gst::MessageView::Error(error) => panic!("decoder failed: {}", error.error()),
            gst::MessageView::Eos(_) => break,
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (decoded.load(std::sync::atomic::Ordering::SeqCst), warnings)
}

fn corrupt(packet: &[u8], seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let mut bytes = packet.to_vec();
    if seed % 2 == 0 {
        bytes.truncate(random() % bytes.len());
    } else {
        for _ in 0..1 + random() % 16 {
            let bit = random() % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
    }
    bytes
}

#[test]
fn corrupt_packets_are_dropped_with_a_warning_and_decoding_goes_on() {
    init();
    let frames = clip_frames("video/x-raw,format=I420", 12);
    let packets = process(&frames, "dctenc").unwrap();
    let good: Vec<Vec<u8>> = packets
        .iter()
        .map(|s| s.buffer().unwrap().map_readable().unwrap().to_vec())
        .collect();

    // Packet by packet, as from an encoder or a depayloader: every other one is damaged.
    let mut buffers = Vec::new();
    for (index, packet) in good.iter().enumerate() {
        // Seeds alternate between truncating and flipping bits.
        let bytes = if index % 2 == 1 {
            corrupt(packet, index as u64 / 2)
        } else {
            packet.clone()
        };
        let mut buffer = gst::Buffer::from_mut_slice(bytes);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(FRAME_30FPS * index as u64);
        buffers.push(buffer);
    }
    let caps = "\"video/x-dct,parsed=(boolean)true\"";
    let (decoded, warnings) = decode_with_warnings(buffers, caps);
    assert_eq!(decoded, good.len() / 2, "the undamaged packets all decode");
    assert_eq!(
        warnings.len(),
        good.len() / 2,
        "one warning per damaged packet"
    );
    assert!(warnings.iter().all(|w| w.contains("Dropped a packet")));

    // As a byte stream, as from a file: garbage between packets, damaged and truncated
    // packets among them, cut into reads that ignore packet boundaries.
    let mut stream = b"not a packet".to_vec();
    for (index, packet) in good.iter().enumerate() {
        if index % 3 == 1 {
            stream.extend_from_slice(&corrupt(packet, index as u64));
        } else {
            stream.extend_from_slice(packet);
        }
        stream.extend_from_slice(&[0u8; 5][..index % 5]);
    }
    // And the stream is cut inside a last packet.
    stream.extend_from_slice(&good[0][..good[0].len() / 2]);
    let chunks: Vec<gst::Buffer> = stream
        .chunks(4000)
        .map(|chunk| gst::Buffer::from_slice(chunk.to_vec()))
        .collect();
    let (decoded, warnings) = decode_with_warnings(chunks, "video/x-dct");
    assert!(warnings.iter().any(|w| w.contains("checksum mismatch")));
    assert!(
        warnings.last().unwrap().contains("the stream ends"),
        "no warning about the cut packet: {warnings:?}"
    );
    let damaged = (0..good.len()).filter(|index| index % 3 == 1).count();
    assert_eq!(
        decoded,
        good.len() - damaged,
        "the undamaged packets all decode"
    );
}

#[test]
fn streams_survive_files_and_are_found_by_typefinding() {
    init();
    let frames = clip_frames("video/x-raw,format=I420", 8);
    let directory = std::env::temp_dir().join(format!("dct-file-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("clip.dct");

    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! dctenc ! filesink location=\"{}\"",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let source = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    for frame in &frames {
        source.push_sample(frame).unwrap();
    }
    source.end_of_stream().unwrap();
    run_to_eos(&pipeline).unwrap();

    // A copy with bytes of something else in front, as a capture started mid-stream may have.
    let prefixed = directory.join("prefixed.dct");
    let mut bytes = b"leading bytes of no interest".to_vec();
    bytes.extend(std::fs::read(&path).unwrap());
    std::fs::write(&prefixed, bytes).unwrap();

    let direct = process(&frames, "dctenc ! dctdec").unwrap();
    for (reader, path) in [
        ("dctdec", &path),
        ("decodebin", &path),
        ("decodebin", &prefixed),
    ] {
        let pipeline = gst::parse::launch(&format!(
            "filesrc location=\"{}\" ! {reader} ! appsink name=sink sync=false",
            path.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let from_file = percept_testing::collect_samples(&pipeline).unwrap();
        assert_eq!(from_file.len(), frames.len(), "{reader}: frame count");
        // The file holds no timestamps; the frame rate the packets declare (the clip's
        // 25 frames per second) times the frames.
        for (index, sample) in from_file.iter().enumerate() {
            let pts = sample.buffer().unwrap().pts();
            assert_eq!(pts, Some(gst::ClockTime::from_mseconds(40 * index as u64)));
        }
        for (a, b) in direct.iter().zip(&from_file) {
            let (a, b) = (a.buffer().unwrap(), b.buffer().unwrap());
            assert_eq!(
                a.map_readable().unwrap().as_slice(),
                b.map_readable().unwrap().as_slice(),
                "{reader}: decoded frames differ"
            );
        }
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn flushing_seek_leaves_nothing_stale() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 \
         ! dctenc ! dctdec ! appsink name=sink sync=false",
        media(TEST_CLIP).display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    pipeline.state(gst::ClockTime::from_seconds(30)).0.unwrap();

    let target = gst::ClockTime::from_seconds(6);
    pipeline
        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, target)
        .unwrap();
    pipeline.state(gst::ClockTime::from_seconds(30)).0.unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    let mut count = 0;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
        let pts = sample.buffer().unwrap().pts().unwrap();
        let segment = sample
            .segment()
            .unwrap()
            .downcast_ref::<gst::ClockTime>()
            .unwrap();
        let position = segment.to_stream_time(pts).unwrap();
        assert!(
            position >= target,
            "frame from {position} after seeking to {target}"
        );
        count += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // The clip is 10 s at 25 frames per second: 4 s remain after the seek.
    assert_eq!(count, 100);
}

#[test]
fn live_pipeline_drops_nothing() {
    init();
    // A live source at 30 frames per second into a synchronising sink: every frame must come
    // through the encoder and the decoder, in order and evenly timed. The sink keeps late frames
    // rather than dropping them, so that a loaded machine cannot make the test flaky.
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true num-buffers=45 pattern=ball \
         ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! dctenc ! dctdec ! appsink name=sink sync=true max-lateness=-1",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let samples = percept_testing::collect_samples(&pipeline).unwrap();
    assert_eq!(samples.len(), 45);
    let timestamps: Vec<gst::ClockTime> = samples
        .iter()
        .map(|sample| sample.buffer().unwrap().pts().unwrap())
        .collect();
    for pair in timestamps.windows(2) {
        let step = pair[1] - pair[0];
        assert!(
            step.nseconds().abs_diff(FRAME_30FPS.nseconds()) < 2_000_000,
            "a gap of {step} between frames"
        );
    }
}
