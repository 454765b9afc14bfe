// SPDX-License-Identifier: MPL-2.0

//! Recognises stored DCT video streams by the magic bytes and kind of a packet near their
//! start.

use gst::glib;
use percept::packet::{PacketKind, MAGIC};

use crate::caps::ENCODED_MEDIA_TYPE;

/// How far into a stream to look for the first packet.
const SEARCH_LEN: u32 = 4096;

/// Position of the first DCT video packet's start in `bytes`.
fn find_video_packet(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(6)
        .position(|w| w[..4] == MAGIC && w[5] == PacketKind::DctVideo as u8)
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    let caps = gst::Caps::new_empty_simple(ENCODED_MEDIA_TYPE);
    gst::TypeFind::register(
        Some(plugin),
        ENCODED_MEDIA_TYPE,
        gst::Rank::PRIMARY,
        Some("dct"),
        Some(&caps.clone()),
        move |typefind| {
            // Short streams hold fewer bytes than the search length.
            let available = typefind
                .length()
                .map_or(SEARCH_LEN, |length| length.min(SEARCH_LEN as u64) as u32);
            let found = typefind.peek(0, available).and_then(find_video_packet);
            match found {
                Some(0) => typefind.suggest(gst::TypeFindProbability::Maximum, &caps),
                Some(_) => typefind.suggest(gst::TypeFindProbability::Likely, &caps),
                None => {}
            }
        },
    )
}
