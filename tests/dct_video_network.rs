//! Coded video across the network on loopback: RTP over UDP with GStreamer's generic
//! payloader.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use percept_testing::quality::{frame_psnr, mean_psnr};
use percept_testing::{init, load_frames, media, process, retime, TEST_CLIP};

const FRAMES: usize = 20;

/// A loopback UDP port that was free a moment ago.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn clip() -> Vec<gst::Sample> {
    retime(
        &load_frames(&media(TEST_CLIP), "video/x-raw,format=I420", Some(FRAMES)),
        gst::ClockTime::from_nseconds(40_000_000),
    )
}

/// Starts `receiver` (ending in `appsink name=sink`), then plays `sender` fed by
/// `appsrc name=src` with `frames`, and returns what the receiver decoded once it has
/// `expected` frames or has waited long enough.
fn send_and_receive(
    sender: &str,
    receiver: &str,
    frames: &[gst::Sample],
    expected: usize,
) -> Vec<gst::Sample> {
    init();
    let receiver = gst::parse::launch(receiver)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = receiver
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let collected = received.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                collected.lock().unwrap().push(sink.pull_sample().unwrap());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    receiver.set_state(gst::State::Playing).unwrap();

    let sender = gst::parse::launch(sender)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let source = sender
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    for frame in frames {
        source.push_sample(frame).unwrap();
    }
    source.end_of_stream().unwrap();
    let bus = sender.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("sender stalled");
    assert!(
        matches!(message.view(), gst::MessageView::Eos(_)),
        "sender failed: {message:?}"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.lock().unwrap().len() < expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sender.set_state(gst::State::Null).unwrap();
    receiver.set_state(gst::State::Null).unwrap();
    let frames = std::mem::take(&mut *received.lock().unwrap());
    frames
}

#[test]
fn crosses_rtp_over_udp_on_loopback() {
    let frames = clip();
    let port = free_port();
    // The sender paces itself to the clock so that a burst cannot overflow the socket.
    let sender = format!(
        "appsrc name=src format=time ! dctenc ! rtpgstpay config-interval=1 \
         ! udpsink host=127.0.0.1 port={port} sync=true"
    );
    let receiver = format!(
        "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 \
         caps=\"application/x-rtp,media=application,clock-rate=90000,encoding-name=X-GST\" \
         ! rtpjitterbuffer latency=200 ! rtpgstdepay ! dctdec \
         ! appsink name=sink sync=false"
    );
    let received = send_and_receive(&sender, &receiver, &frames, FRAMES);

    assert_eq!(received.len(), FRAMES, "frames lost on loopback");
    let local = process(&frames, "dctenc ! dctdec").unwrap();
    for (a, b) in local.iter().zip(&received) {
        assert_eq!(
            a.buffer().unwrap().map_readable().unwrap().as_slice(),
            b.buffer().unwrap().map_readable().unwrap().as_slice(),
            "the network changed a decoded frame"
        );
    }
    assert!(mean_psnr(&frames, &received, frame_psnr) > 35.0);
}
