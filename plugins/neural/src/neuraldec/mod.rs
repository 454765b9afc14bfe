// SPDX-License-Identifier: MPL-2.0

/**
 * element-neuraldec:
 *
 * Decodes `video/x-neural` packets made by `neuralenc` with the same model: the latents are
 * entropy decoded under the model's probability model and the model's decoder restores the
 * picture, at the size the packet declares. A packet made with another model, or damaged, is
 * replaced by the previous picture (dropped, before the first one) with a warning that names
 * the problem.
 *
 * Packets may also come as a byte stream, from a file: the decoder splits it, checking each
 * packet before taking it and skipping bytes that are not packets; a type finder lets
 * `decodebin` play such files.
 *
 * ## Example pipeline
 * ```bash
 * gst-launch-1.0 videotestsrc num-buffers=10 ! videoconvert ! neuralenc ! neuraldec \
 *     ! videoconvert ! autovideosink
 * ```
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NeuralDec(ObjectSubclass<imp::NeuralDec>)
        @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "neuraldec",
        gst::Rank::PRIMARY,
        NeuralDec::static_type(),
    )
}
