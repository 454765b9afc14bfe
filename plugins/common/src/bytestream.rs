// SPDX-License-Identifier: MPL-2.0

//! Splitting byte streams of packets (a stored stream read from a file) for decoders that
//! take one packet per frame.

use percept::packet::{packet_len, Packet, MAGIC, PREFIX_LEN};

/// Finds the next whole, checked packet at the front of `adapter` and returns its length, or
/// `None` when more bytes are needed. Bytes before a packet are flushed with a log line on
/// `element`; a packet that turns out damaged is reported to `dropped` with the reason and
/// stepped over by one byte, so that the search for the next one starts inside it.
///
/// `check_start` reads the start of a packet of the decoder's kind (the prefix and the kind's
/// header) and returns the packet's whole length or why it is not one: it is called as soon
/// as those bytes are here, so that a damaged length field is caught before its bytes are
/// waited for. The whole packet's checksum is verified before it is taken, so that a damaged
/// length field cannot swallow the packets after it either. With `at_eos`, what cannot become
/// a packet any more is reported and dropped.
pub fn next_packet<E: std::fmt::Display>(
    adapter: &gst_base::Adapter,
    at_eos: bool,
    element: &gst::Element,
    category: gst::DebugCategory,
    check_start: impl Fn(&[u8]) -> Result<usize, E>,
    mut dropped: impl FnMut(&dyn std::fmt::Display),
) -> Result<Option<usize>, gst::FlowError> {
    let magic = u32::from_be_bytes(MAGIC);
    let mut skip_damaged = |error: &dyn std::fmt::Display| {
        dropped(error);
        adapter.flush(1);
    };
    loop {
        let available = adapter.available();
        if available < PREFIX_LEN {
            if at_eos && available > 0 {
                dropped(&format!(
                    "the stream ends with {available} bytes of no packet"
                ));
                adapter.flush(available);
            }
            return Ok(None);
        }
        let start = adapter
            .masked_scan_uint32(u32::MAX, magic, 0, available)
            .map_err(|_| gst::FlowError::Error)?;
        match start {
            Some(0) => {}
            Some(skip) => {
                gst::warning!(
                    category,
                    obj = element,
                    "skipping {skip} bytes before a packet"
                );
                adapter.flush(skip);
                continue;
            }
            None => {
                // The last bytes may be the start of a magic split across buffers.
                let skip = available - (MAGIC.len() - 1);
                gst::warning!(
                    category,
                    obj = element,
                    "skipping {skip} bytes that hold no packet"
                );
                adapter.flush(skip);
                return Ok(None);
            }
        }

        // The prefix and the kind header (at most 64 KiB) are checked as soon as they are here.
        let mut prefix = [0u8; PREFIX_LEN];
        adapter
            .copy(0, &mut prefix)
            .map_err(|_| gst::FlowError::Error)?;
        let start_len = match packet_len(&prefix) {
            Ok(_) => PREFIX_LEN + u16::from_le_bytes([prefix[6], prefix[7]]) as usize,
            Err(_) => PREFIX_LEN,
        };
        if available < start_len && !at_eos {
            return Ok(None);
        }
        if available < start_len {
            skip_damaged(&"the stream ends inside a packet header");
            continue;
        }
        let start = adapter
            .copy_bytes(0, start_len)
            .map_err(|_| gst::FlowError::Error)?;
        match check_start(&start) {
            Ok(length) if length <= available => {
                let candidate = adapter
                    .buffer_fast(length)
                    .map_err(|_| gst::FlowError::Error)?;
                let bytes = candidate
                    .map_readable()
                    .map_err(|_| gst::FlowError::Error)?;
                match Packet::parse(&bytes) {
                    Ok(_) => return Ok(Some(length)),
                    Err(error) => skip_damaged(&error),
                }
            }
            Ok(length) if at_eos => {
                // The stream ends inside this packet: its length field is wrong or the stream
                // was cut. Look for further packets after its magic.
                skip_damaged(&format!(
                    "the stream ends {available} bytes into a packet of {length} bytes"
                ));
            }
            Ok(_) => return Ok(None),
            Err(error) => skip_damaged(&error),
        }
    }
}
