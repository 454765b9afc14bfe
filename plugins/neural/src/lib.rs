// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty)]

//! GStreamer elements for learned coding through ONNX Runtime.
//!
//! - `neuralenc` codes raw pictures with a learned codec's encoder into `video/x-neural`
//!   packets: latents quantized with a step set by `quality` and entropy coded under the
//!   model's own probability model.
//! - `neuraldec` restores the pictures with the codec's decoder.
//! - `neuralaudioenc` and `neuralaudiodec` do the same for raw audio, in packets of a few
//!   latent frames, as `audio/x-neural`.
//!
//! Models are found through a contract file (see `models/CONTRACT.md`); the shipped image
//! codec is the video elements' default, the shipped speech codec the audio elements'.

use gst::glib;

mod neuralaudiodec;
mod neuralaudioenc;
mod neuraldec;
mod neuralenc;
mod settings;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    neuralenc::register(plugin)?;
    neuraldec::register(plugin)?;
    neuralaudioenc::register(plugin)?;
    neuralaudiodec::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    neural,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
