// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty)]

//! GStreamer elements for DCT transform coding.
//!
//! - `dctenc` codes raw video into `video/x-dct` packets: an 8x8 DCT per plane, perceptual
//!   quantization scaled by a quality setting, and context-adaptive range coding.
//! - `dctdec` restores the raw video.
//!
//! A type finder for the packet format lets `filesrc ! decodebin` play stored streams.

use gst::glib;

mod caps;
mod dctdec;
mod dctenc;
mod typefind;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    dctenc::register(plugin)?;
    dctdec::register(plugin)?;
    typefind::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    dct,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
