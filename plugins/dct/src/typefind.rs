// SPDX-License-Identifier: MPL-2.0

//! Recognises stored DCT video streams by the magic bytes and kind of their first packet.

use gst::glib;
use percept::packet::{PacketKind, MAGIC};

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    let caps = gst::Caps::new_empty_simple("video/x-dct");
    gst::TypeFind::register(
        Some(plugin),
        "video/x-dct",
        gst::Rank::PRIMARY,
        Some("dct"),
        Some(&caps.clone()),
        move |typefind| {
            if let Some(prefix) = typefind.peek(0, 6) {
                if prefix[..4] == MAGIC && prefix[5] == PacketKind::DctVideo as u8 {
                    typefind.suggest(gst::TypeFindProbability::Maximum, &caps);
                }
            }
        },
    )
}
