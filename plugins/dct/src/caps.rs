// SPDX-License-Identifier: MPL-2.0

//! Caps shared by the encoder and the decoder.

use gst_video::prelude::*;
use percept::video::{PixelFormat, MAX_DIMENSION, MAX_PLANES};

/// The coded media type.
pub const ENCODED_MEDIA_TYPE: &str = "video/x-dct";

/// Raw video in every format the codec handles, at any size it accepts.
pub fn raw_video_caps() -> gst::Caps {
    let formats = PixelFormat::ALL.map(|format| gst_video::VideoFormat::from_string(format.name()));
    gst_video::VideoCapsBuilder::new()
        .format_list(formats)
        .width_range(1..=MAX_DIMENSION as i32)
        .height_range(1..=MAX_DIMENSION as i32)
        .build()
}

/// A mapped frame's plane strides as the codec takes them; None when one is negative
/// (bottom-up rows), which the codec does not read or write.
pub fn plane_strides<T>(frame: &gst_video::VideoFrameRef<T>) -> Option<[usize; MAX_PLANES]> {
    let strides = frame.plane_stride();
    let mut out = [0; MAX_PLANES];
    for (plane, stride) in out.iter_mut().enumerate() {
        *stride = usize::try_from(strides.get(plane).copied().unwrap_or(0)).ok()?;
    }
    Some(out)
}

/// The codec's pixel format for a GStreamer one, if it is supported.
pub fn pixel_format(format: gst_video::VideoFormat) -> Option<PixelFormat> {
    PixelFormat::from_name(format.to_str())
}
