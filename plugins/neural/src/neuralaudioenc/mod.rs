// SPDX-License-Identifier: MPL-2.0

/**
 * element-neuralaudioenc:
 *
 * Codes raw audio with a learned audio codec run through ONNX Runtime: the model's encoder
 * turns the signal into latent frames (20 ms each for the shipped speech codec), which are
 * quantized with a step set by `quality` and range coded under the model's probability model.
 * `frames-per-packet` frames go into each self-describing packet; the model looks at a few
 * frames on either side of each, so a packet leaves once the audio after it has arrived. The
 * latency this adds is reported in latency queries.
 *
 * The model is named by a contract file (`model`), by default the speech codec shipped in
 * `models/speech_codec/` (16 kHz mono: put `audioresample` and `audioconvert` before the
 * encoder). The runtime and the model are loaded when the element starts; errors are reported
 * then, as for `neuralenc`.
 *
 * ## Example pipeline
 * ```bash
 * gst-launch-1.0 filesrc location=speech.wav ! decodebin ! audioconvert ! audioresample \
 *     ! neuralaudioenc quality=50 ! neuralaudiodec ! audioconvert ! autoaudiosink
 * ```
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NeuralAudioEnc(ObjectSubclass<imp::NeuralAudioEnc>)
        @extends gst_audio::AudioEncoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "neuralaudioenc",
        gst::Rank::NONE,
        NeuralAudioEnc::static_type(),
    )
}
