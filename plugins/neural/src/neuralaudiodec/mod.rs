// SPDX-License-Identifier: MPL-2.0

/**
 * element-neuralaudiodec:
 *
 * Decodes `audio/x-neural` packets made by `neuralaudioenc` with the same model. The model's
 * decoder looks at a few latent frames after each packet, so each packet's audio leaves when
 * the packets carrying those frames have arrived (or at the end of the stream); the latency
 * this adds is reported in latency queries. Frames missing between two packets (lost on a
 * network, or in packets dropped as damaged, which is warned) are concealed so that the output
 * keeps its length and timing.
 *
 * Packets may also come as a byte stream, from a file: the decoder finds them in it, skipping
 * bytes that are not packets, and a type finder lets `decodebin` play such files.
 *
 * ## Example pipelines
 * ```bash
 * gst-launch-1.0 filesrc location=speech.nau ! decodebin ! audioconvert ! autoaudiosink
 * gst-launch-1.0 filesrc location=speech.wav ! decodebin ! audioconvert ! audioresample \
 *     ! neuralaudioenc ! neuralaudiodec ! audioconvert ! autoaudiosink
 * ```
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NeuralAudioDec(ObjectSubclass<imp::NeuralAudioDec>)
        @extends gst_audio::AudioDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "neuralaudiodec",
        // Marginal, so that decodebin plays stored streams with the shipped model.
        gst::Rank::MARGINAL,
        NeuralAudioDec::static_type(),
    )
}
