//! Coded video across the network on loopback: RTP over UDP with GStreamer's generic
//! payloader.

use percept_testing::network::{free_port, send_and_receive};
use percept_testing::quality::{frame_psnr, mean_psnr};
use percept_testing::{load_frames, media, process, retime, TEST_CLIP};

const FRAMES: usize = 20;

fn clip() -> Vec<gst::Sample> {
    retime(
        &load_frames(&media(TEST_CLIP), "video/x-raw,format=I420", Some(FRAMES)),
        gst::ClockTime::from_nseconds(40_000_000),
    )
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
