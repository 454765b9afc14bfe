//! The self-describing packet that carries one coded frame or audio block.
//!
//! Layout, all integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `PCPT` |
//! | 1 | format version, currently 1 |
//! | 1 | [`PacketKind`] |
//! | 2 | length of the kind's header |
//! | 4 | length of the payload |
//! | header length | the kind's header (dimensions, parameters) |
//! | payload length | the coded data |
//! | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! Packets delimit themselves, so a byte stream of packets can be split again without any
//! container, and every packet is checked before a decoder looks inside it.

use std::fmt;

pub const MAGIC: [u8; 4] = *b"PCPT";
pub const VERSION: u8 = 1;

/// Bytes before the kind's header.
pub const PREFIX_LEN: usize = 12;
/// Bytes after the payload.
pub const SUFFIX_LEN: usize = 4;

/// Upper bound on a packet's size, far above any real frame, so that a corrupt length field
/// cannot make a parser wait for gigabytes.
pub const MAX_PACKET_LEN: usize = 1 << 30;

/// What a packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketKind {
    DctVideo = 1,
    NeuralImage = 2,
    NeuralAudio = 3,
}

impl PacketKind {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::DctVideo),
            2 => Some(Self::NeuralImage),
            3 => Some(Self::NeuralAudio),
            _ => None,
        }
    }
}

/// Why bytes are not a packet this version can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Fewer bytes than the packet's own lengths say.
    Truncated {
        needed: usize,
        available: usize,
    },
    /// The packet does not start with the magic bytes.
    BadMagic,
    /// Written by a newer version of the format.
    UnsupportedVersion(u8),
    UnknownKind(u8),
    /// The packet is not of the kind the caller decodes.
    WrongKind {
        expected: PacketKind,
        found: PacketKind,
    },
    ChecksumMismatch {
        stored: u32,
        computed: u32,
    },
    /// Lengths that cannot be right.
    BadLength(usize),
    /// The kind's header is inconsistent; the text says how.
    BadHeader(String),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "packet truncated: {available} bytes of {needed}")
            }
            Self::BadMagic => write!(f, "not a packet of this format (bad magic bytes)"),
            Self::UnsupportedVersion(version) => write!(
                f,
                "packet format version {version} is newer than this decoder (reads {VERSION})"
            ),
            Self::UnknownKind(kind) => write!(f, "unknown packet kind {kind}"),
            Self::WrongKind { expected, found } => {
                write!(f, "packet carries {found:?}, expected {expected:?}")
            }
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "packet checksum mismatch (stored {stored:08x}, computed {computed:08x}): \
                 the data is corrupt"
            ),
            Self::BadLength(length) => write!(f, "implausible packet length {length}"),
            Self::BadHeader(why) => write!(f, "bad packet header: {why}"),
        }
    }
}

impl std::error::Error for PacketError {}

/// A checked packet, borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub kind: PacketKind,
    pub header: &'a [u8],
    pub payload: &'a [u8],
}

/// Position of the first start of a packet of `kind` in `bytes` (magic bytes, any version,
/// the kind), for recognising stored streams.
pub fn find_packet(bytes: &[u8], kind: PacketKind) -> Option<usize> {
    bytes
        .windows(6)
        .position(|w| w[..4] == MAGIC && w[5] == kind as u8)
}

/// Reads the lengths at the start of `bytes` and returns the whole packet's length, without
/// checking anything else. Needs [`PREFIX_LEN`] bytes.
pub fn packet_len(bytes: &[u8]) -> Result<usize, PacketError> {
    if bytes.len() < PREFIX_LEN {
        return Err(PacketError::Truncated {
            needed: PREFIX_LEN,
            available: bytes.len(),
        });
    }
    if bytes[..4] != MAGIC {
        return Err(PacketError::BadMagic);
    }
    let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let payload_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let total = PREFIX_LEN + header_len + payload_len + SUFFIX_LEN;
    if total > MAX_PACKET_LEN {
        return Err(PacketError::BadLength(total));
    }
    Ok(total)
}

impl<'a> Packet<'a> {
    /// Checks `bytes` (one whole packet, nothing after it) and splits it into its parts.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PacketError> {
        let total = packet_len(bytes)?;
        if bytes.len() < total {
            return Err(PacketError::Truncated {
                needed: total,
                available: bytes.len(),
            });
        }
        if bytes.len() > total {
            return Err(PacketError::BadLength(bytes.len()));
        }

        let stored = u32::from_le_bytes(bytes[total - SUFFIX_LEN..].try_into().unwrap());
        let computed = crc32fast::hash(&bytes[..total - SUFFIX_LEN]);
        if stored != computed {
            return Err(PacketError::ChecksumMismatch { stored, computed });
        }
        if bytes[4] != VERSION {
            return Err(PacketError::UnsupportedVersion(bytes[4]));
        }
        let kind = PacketKind::from_byte(bytes[5]).ok_or(PacketError::UnknownKind(bytes[5]))?;

        let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
        let header = &bytes[PREFIX_LEN..PREFIX_LEN + header_len];
        let payload = &bytes[PREFIX_LEN + header_len..total - SUFFIX_LEN];
        Ok(Self {
            kind,
            header,
            payload,
        })
    }

    /// Like [`Packet::parse`], and also requires the given kind.
    pub fn parse_kind(bytes: &'a [u8], expected: PacketKind) -> Result<Self, PacketError> {
        let packet = Self::parse(bytes)?;
        if packet.kind != expected {
            return Err(PacketError::WrongKind {
                expected,
                found: packet.kind,
            });
        }
        Ok(packet)
    }
}

/// Writes a packet into a caller-provided buffer of exactly
/// `PREFIX_LEN + header.len() + payload_len + SUFFIX_LEN` bytes: the prefix and header are
/// written, `fill_payload` writes the payload, and the checksum is appended.
pub fn write_packet(
    out: &mut [u8],
    kind: PacketKind,
    header: &[u8],
    fill_payload: impl FnOnce(&mut [u8]),
) {
    let header_len = u16::try_from(header.len()).expect("packet header over 64 KiB");
    let payload_len = out.len() - PREFIX_LEN - header.len() - SUFFIX_LEN;
    out[..4].copy_from_slice(&MAGIC);
    out[4] = VERSION;
    out[5] = kind as u8;
    out[6..8].copy_from_slice(&header_len.to_le_bytes());
    out[8..12].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[PREFIX_LEN..PREFIX_LEN + header.len()].copy_from_slice(header);

    let payload_end = out.len() - SUFFIX_LEN;
    fill_payload(&mut out[PREFIX_LEN + header.len()..payload_end]);

    let checksum = crc32fast::hash(&out[..payload_end]);
    out[payload_end..].copy_from_slice(&checksum.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_packet() -> Vec<u8> {
        let header = [1, 2, 3];
        let payload = b"payload bytes";
        let mut out = vec![0; PREFIX_LEN + header.len() + payload.len() + SUFFIX_LEN];
        write_packet(&mut out, PacketKind::DctVideo, &header, |p| {
            p.copy_from_slice(payload)
        });
        out
    }

    #[test]
    fn written_packets_parse_back() {
        let bytes = sample_packet();
        let packet = Packet::parse_kind(&bytes, PacketKind::DctVideo).unwrap();
        assert_eq!(packet.header, &[1, 2, 3]);
        assert_eq!(packet.payload, b"payload bytes");
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let bytes = sample_packet();
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Packet::parse(&corrupt).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn every_truncation_is_caught() {
        let bytes = sample_packet();
        for length in 0..bytes.len() {
            assert!(matches!(
                Packet::parse(&bytes[..length]),
                Err(PacketError::Truncated { .. } | PacketError::BadMagic)
            ));
        }
    }

    #[test]
    fn newer_versions_are_named() {
        let mut bytes = sample_packet();
        bytes[4] = 2;
        let end = bytes.len() - SUFFIX_LEN;
        let checksum = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&checksum.to_le_bytes());
        let error = Packet::parse(&bytes).unwrap_err();
        assert_eq!(error, PacketError::UnsupportedVersion(2));
        assert!(error.to_string().contains("newer"));
    }
}
