// SPDX-License-Identifier: MPL-2.0

//! Recognises stored streams of the project's packets by the magic bytes and kind of a packet
//! near their start: DCT video, and learned-codec video and audio.

use gst::glib;
use percept::packet::{find_packet, PacketKind};

use crate::caps::ENCODED_MEDIA_TYPE;

/// How far into a stream to look for the first packet.
const SEARCH_LEN: u32 = 4096;

/// The media types of `neuraldec`'s and `neuralaudiodec`'s input (plugins/neural), whose type
/// finders live here with the other kinds of packet stream.
const NEURAL_VIDEO_MEDIA_TYPE: &str = "video/x-neural";
const NEURAL_AUDIO_MEDIA_TYPE: &str = "audio/x-neural";

fn register_kind(
    plugin: &gst::Plugin,
    kind: PacketKind,
    media_type: &str,
    extension: &str,
) -> Result<(), glib::BoolError> {
    let caps = gst::Caps::new_empty_simple(media_type);
    gst::TypeFind::register(
        Some(plugin),
        media_type,
        gst::Rank::PRIMARY,
        Some(extension),
        Some(&caps.clone()),
        move |typefind| {
            // Short streams hold fewer bytes than the search length.
            let available = typefind
                .length()
                .map_or(SEARCH_LEN, |length| length.min(SEARCH_LEN as u64) as u32);
            let found = typefind
                .peek(0, available)
                .and_then(|bytes| find_packet(bytes, kind));
            match found {
                Some(0) => typefind.suggest(gst::TypeFindProbability::Maximum, &caps),
                Some(_) => typefind.suggest(gst::TypeFindProbability::Likely, &caps),
                None => {}
            }
        },
    )
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    register_kind(plugin, PacketKind::DctVideo, ENCODED_MEDIA_TYPE, "dct")?;
    register_kind(
        plugin,
        PacketKind::NeuralImage,
        NEURAL_VIDEO_MEDIA_TYPE,
        "niv",
    )?;
    register_kind(
        plugin,
        PacketKind::NeuralAudio,
        NEURAL_AUDIO_MEDIA_TYPE,
        "nau",
    )
}
