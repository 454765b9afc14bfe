//! Sending coded media across loopback: a receiving and a sending pipeline in one process.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use crate::init;

/// A loopback UDP port that was free a moment ago.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `receiver` (ending in `appsink name=sink`), then plays `sender` fed by
/// `appsrc name=src` with `frames`, and returns what the receiver decoded once it has
/// `expected` frames or has waited long enough.
pub fn send_and_receive(
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
