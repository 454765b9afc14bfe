//! Learned speech coding across the network on loopback: RTP over UDP with GStreamer's generic
//! payloader, as a speech stream would travel.

use percept_testing::audio::{load_speech, samples_f32, speech_buffers, SPEECH_CAPS, TEST_SPEECH};
use percept_testing::network::{free_port, send_and_receive};
use percept_testing::{media, process};

#[test]
fn crosses_rtp_over_udp_on_loopback() {
    let audio = load_speech(&media(TEST_SPEECH[1]));
    let input = speech_buffers(&audio, 1600);
    let port = free_port();
    let sender = format!(
        "appsrc name=src format=time ! neuralaudioenc ! rtpgstpay config-interval=1 \
         ! udpsink host=127.0.0.1 port={port} sync=true"
    );
    let receiver = format!(
        "udpsrc address=127.0.0.1 port={port} \
         caps=\"application/x-rtp,media=application,clock-rate=90000,encoding-name=X-GST\" \
         ! rtpjitterbuffer latency=200 ! rtpgstdepay ! neuralaudiodec ! {SPEECH_CAPS} \
         ! appsink name=sink sync=false"
    );
    let local = samples_f32(
        &process(
            &input,
            &format!("neuralaudioenc ! neuralaudiodec ! {SPEECH_CAPS}"),
        )
        .unwrap(),
    );
    // One output buffer per 200 ms packet, but for the last: the decoder waits for the frames
    // after a packet, and an end of stream does not cross UDP.
    let packets = audio.len().div_ceil(3200) - 1;
    let received = samples_f32(&send_and_receive(&sender, &receiver, &input, packets));
    assert_eq!(received.len(), packets * 3200, "audio lost on loopback");
    assert_eq!(
        received,
        local[..received.len()],
        "the network changed the decoded audio"
    );
}
