// SPDX-License-Identifier: MPL-2.0

/**
 * element-neuralenc:
 *
 * Codes raw pictures with a learned image codec run through ONNX Runtime: the model's encoder
 * turns each frame into latents, which are quantized with a step set by `quality` (within the
 * range the model was trained for) and range coded under the model's own probability model.
 * Every frame is coded on its own; every output buffer is one self-describing packet with a
 * checksum and the fingerprint of the model that made it. With `batch-size` above 1, that many
 * frames go through the model in one run (which parallel hardware prefers); the packets are
 * the same, and the latency reported grows by the frames a batch waits for.
 *
 * The model is named by a contract file (`model`), by default the image codec shipped in
 * `models/image_codec/`. The runtime and the model are loaded when the element starts; a
 * missing runtime, a missing or unfitting model, or an execution provider the runtime lacks is
 * an error at that state change, unless `allow-fallback` lets it run on the CPU with a warning
 * (`active-provider` then reads `cpu`).
 *
 * ## Example pipeline
 * ```bash
 * gst-launch-1.0 filesrc location=photo.png ! decodebin ! videoconvert ! neuralenc quality=60 \
 *     ! neuraldec ! videoconvert ! pngenc ! filesink location=decoded.png
 * ```
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct NeuralEnc(ObjectSubclass<imp::NeuralEnc>)
        @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "neuralenc",
        gst::Rank::NONE,
        NeuralEnc::static_type(),
    )
}
