// SPDX-License-Identifier: MPL-2.0

/**
 * element-dctdec:
 *
 * Decodes `video/x-dct` packets made by `dctenc` back to the raw format, size and alpha they
 * were coded from. Each packet declares its own format and size, so a stream that changes
 * either mid-way renegotiates on the packet that changes it.
 *
 * A packet that is corrupt (bad checksum), truncated, of an unknown kind or from a newer
 * version of the format is dropped with a warning that names the problem; decoding goes on
 * with the next packet. Unparsed byte streams (as read by `filesrc`) are split into packets
 * by their length fields, skipping anything between packets.
 *
 * ## Example pipelines
 * ```bash
 * gst-launch-1.0 videotestsrc num-buffers=100 ! dctenc ! filesink location=test.dct
 * gst-launch-1.0 filesrc location=test.dct ! dctdec ! videoconvert ! autovideosink
 * ```
 */
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct DctDec(ObjectSubclass<imp::DctDec>)
        @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "dctdec",
        gst::Rank::PRIMARY,
        DctDec::static_type(),
    )
}
