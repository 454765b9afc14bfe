// SPDX-License-Identifier: MPL-2.0

//! Recognises stored DCT video streams by the magic bytes and kind of a packet near their
//! start.

use gst::glib;
use percept::packet::{PacketKind, MAGIC};

/// How far into a stream to look for the first packet.
const SEARCH_LEN: u32 = 4096;

/// Position of the first DCT video packet's start in `bytes`.
fn find_video_packet(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(6)
        .position(|w| w[..4] == MAGIC && w[5] == PacketKind::DctVideo as u8)
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    let caps = gst::Caps::new_empty_simple("video/x-dct");
    gst::TypeFind::register(
        Some(plugin),
        "video/x-dct",
        gst::Rank::PRIMARY,
        Some("dct"),
        Some(&caps.clone()),
        move |typefind| {
            // Short streams hold fewer bytes than the search length.
            let found = typefind.peek(0, SEARCH_LEN).and_then(find_video_packet);
            let found = found.or_else(|| typefind.peek(0, 6).and_then(find_video_packet));
            match found {
                Some(0) => typefind.suggest(gst::TypeFindProbability::Maximum, &caps),
                Some(_) => typefind.suggest(gst::TypeFindProbability::Likely, &caps),
                None => {}
            }
        },
    )
}
