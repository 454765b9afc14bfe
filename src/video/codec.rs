//! Frame encoder and decoder: a picture in, one [`crate::packet`] out, and back.
//!
//! The kind header of a DCT video packet (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | pixel format ([`PixelFormat::code`]) |
//! | 4 | width |
//! | 4 | height |
//! | 1 | quality, 1 to 100 |
//! | 4 | frame rate numerator (0 when unknown) |
//! | 4 | frame rate denominator |
//! | 2 | luma rows per slice |
//! | 2 | slice count |
//! | 4 per slice | coded length of each slice |
//!
//! The payload is the slices' coded bytes, one after the other.

use std::fmt;

use rayon::prelude::*;

use crate::packet::{self, Packet, PacketError, PacketKind};
use crate::quant::{QuantTable, TableKind, QUALITY_RANGE};
use crate::video::format::{Picture, PixelFormat, MAX_PLANES};
use crate::video::slice::{slice_rows, SliceGeometry, SliceWorkspace, SourcePlanes, TargetPlanes};

const FIXED_HEADER_LEN: usize = 22;

/// Why a frame could not be coded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoError {
    Packet(PacketError),
    /// Width or height outside 1 to [`crate::video::MAX_DIMENSION`].
    InvalidDimensions {
        width: u32,
        height: u32,
    },
    InvalidQuality(u32),
    /// A plane of the frame handed over is smaller than its format and size need.
    PlaneTooSmall {
        plane: usize,
        needed: usize,
        available: usize,
    },
    /// A plane's rows are shorter than the picture's.
    StrideTooSmall {
        plane: usize,
        stride: usize,
        row_bytes: usize,
    },
    /// The frame to decode into is not the picture the packet holds.
    PictureMismatch {
        packet: Picture,
        frame: Picture,
    },
    /// A slice's coded data ended before the slice was complete.
    SliceTruncated(usize),
    /// The threads that code slices could not be started.
    Threads(String),
    /// The coded frame would exceed [`packet::MAX_PACKET_LEN`].
    PacketTooLarge(usize),
}

impl fmt::Display for VideoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Packet(error) => error.fmt(f),
            Self::InvalidDimensions { width, height } => write!(
                f,
                "unsupported picture size {width}x{height} (each side must be 1 to {})",
                crate::video::format::MAX_DIMENSION
            ),
            Self::InvalidQuality(quality) => {
                write!(f, "quality {quality} is outside {QUALITY_RANGE:?}")
            }
            Self::PlaneTooSmall {
                plane,
                needed,
                available,
            } => write!(
                f,
                "plane {plane} holds {available} bytes but the picture needs {needed}"
            ),
            Self::StrideTooSmall {
                plane,
                stride,
                row_bytes,
            } => write!(
                f,
                "plane {plane} has a stride of {stride} bytes but its rows need {row_bytes}"
            ),
            Self::PictureMismatch { packet, frame } => write!(
                f,
                "packet holds a {}x{} {} picture but the frame is {}x{} {}",
                packet.width, packet.height, packet.format, frame.width, frame.height, frame.format
            ),
            Self::SliceTruncated(index) => write!(f, "slice {index} is truncated or corrupt"),
            Self::Threads(why) => write!(f, "cannot start slice threads: {why}"),
            Self::PacketTooLarge(length) => write!(
                f,
                "the frame codes to {length} bytes, over the packet limit of {} bytes; \
                 lower the quality",
                packet::MAX_PACKET_LEN
            ),
        }
    }
}

impl std::error::Error for VideoError {}

impl From<PacketError> for VideoError {
    fn from(error: PacketError) -> Self {
        Self::Packet(error)
    }
}

/// A raw frame to read from: one slice per memory plane, and its stride. Planes the format
/// does not have are ignored.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    pub planes: [&'a [u8]; MAX_PLANES],
    pub strides: [usize; MAX_PLANES],
}

/// A raw frame to write into.
#[derive(Debug)]
pub struct FrameMut<'a> {
    pub planes: [&'a mut [u8]; MAX_PLANES],
    pub strides: [usize; MAX_PLANES],
}

/// Checks that every plane is large enough for the picture, so that no later access can go
/// out of bounds.
fn check_planes(
    picture: &Picture,
    lengths: [usize; MAX_PLANES],
    strides: [usize; MAX_PLANES],
) -> Result<(), VideoError> {
    for plane in 0..picture.format.plane_count() {
        let (rows, row_bytes) = picture.plane_extent(plane);
        if strides[plane] < row_bytes {
            return Err(VideoError::StrideTooSmall {
                plane,
                stride: strides[plane],
                row_bytes,
            });
        }
        let needed = (rows - 1)
            .checked_mul(strides[plane])
            .and_then(|bytes| bytes.checked_add(row_bytes))
            .unwrap_or(usize::MAX);
        if lengths[plane] < needed {
            return Err(VideoError::PlaneTooSmall {
                plane,
                needed,
                available: lengths[plane],
            });
        }
    }
    Ok(())
}

fn check_picture(picture: &Picture) -> Result<(), VideoError> {
    if picture.dimensions_valid() {
        Ok(())
    } else {
        Err(VideoError::InvalidDimensions {
            width: picture.width,
            height: picture.height,
        })
    }
}

fn tables(quality: u8) -> [QuantTable; 2] {
    [
        QuantTable::new(TableKind::Luma, quality),
        QuantTable::new(TableKind::Chroma, quality),
    ]
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, VideoError> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|index| format!("dct-slice-{index}"))
        .build()
        .map_err(|error| VideoError::Threads(error.to_string()))
}

/// Frames per second as a fraction; `0/1` when unknown, as for still pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRate {
    pub numerator: u32,
    pub denominator: u32,
}

impl Default for FrameRate {
    fn default() -> Self {
        Self {
            numerator: 0,
            denominator: 1,
        }
    }
}

/// What a DCT video packet says about the stream it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub picture: Picture,
    pub quality: u8,
    pub frame_rate: FrameRate,
}

/// The parameters a DCT video packet declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoHeader<'a> {
    pub stream: StreamInfo,
    pub slice_rows: u32,
    slice_lengths: &'a [u8],
}

impl<'a> VideoHeader<'a> {
    /// Reads and checks the kind header of a DCT video packet against its payload.
    pub fn parse(packet: &Packet<'a>) -> Result<Self, VideoError> {
        Self::parse_parts(packet.header, packet.payload.len())
    }

    /// Reads and checks a kind header against the length of the payload that follows it.
    fn parse_parts(header: &'a [u8], payload_len: usize) -> Result<Self, VideoError> {
        let bad = |why: &str| VideoError::Packet(PacketError::BadHeader(why.to_owned()));
        if header.len() < FIXED_HEADER_LEN {
            return Err(bad("header too short"));
        }
        let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);

        let format = PixelFormat::from_code(header[0])
            .ok_or_else(|| bad(&format!("unknown pixel format {}", header[0])))?;
        let picture = Picture::new(format, u32_at(1), u32_at(5));
        check_picture(&picture)?;
        let quality = header[9];
        if !QUALITY_RANGE.contains(&quality) {
            return Err(bad(&format!("quality {quality} out of range")));
        }
        let frame_rate = FrameRate {
            numerator: u32_at(10),
            denominator: u32_at(14),
        };
        if frame_rate.denominator == 0 {
            return Err(bad("frame rate with a zero denominator"));
        }
        let slice_rows = u16_at(18) as u32;
        if slice_rows == 0 || slice_rows % 16 != 0 {
            return Err(bad(&format!(
                "slice height {slice_rows} not a multiple of 16"
            )));
        }
        let slice_count = u16_at(20) as usize;
        if slice_count != picture.height.div_ceil(slice_rows) as usize {
            return Err(bad(&format!(
                "{slice_count} slices cannot cover {} rows in slices of {slice_rows}",
                picture.height
            )));
        }
        let slice_lengths = &header[FIXED_HEADER_LEN..];
        if slice_lengths.len() != 4 * slice_count {
            return Err(bad("slice table does not match the slice count"));
        }

        let parsed = Self {
            stream: StreamInfo {
                picture,
                quality,
                frame_rate,
            },
            slice_rows,
            slice_lengths,
        };
        let total: usize = (0..slice_count).map(|i| parsed.slice_length(i)).sum();
        if total != payload_len {
            return Err(bad("slice lengths do not add up to the payload"));
        }
        Ok(parsed)
    }

    pub fn slice_count(&self) -> usize {
        self.slice_lengths.len() / 4
    }

    fn slice_length(&self, index: usize) -> usize {
        u32::from_le_bytes(
            self.slice_lengths[4 * index..4 * index + 4]
                .try_into()
                .unwrap(),
        ) as usize
    }
}

/// Checks the start of a DCT video packet, its prefix and header, before the payload has
/// arrived, and returns the whole packet's length. A reader of a byte stream can so reject a
/// damaged length field without first waiting for the bytes it claims; a packet of another
/// version or kind is refused too, since its length cannot be vouched for.
pub fn check_packet_start(bytes: &[u8]) -> Result<usize, VideoError> {
    let total = packet::packet_len(bytes)?;
    let (version, kind) = (bytes[4], bytes[5]);
    if version != packet::VERSION {
        return Err(PacketError::UnsupportedVersion(version).into());
    }
    if kind != PacketKind::DctVideo as u8 {
        return Err(PacketError::UnknownKind(kind).into());
    }
    let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let header_end = packet::PREFIX_LEN + header_len;
    let header = bytes
        .get(packet::PREFIX_LEN..header_end)
        .ok_or(PacketError::Truncated {
            needed: header_end,
            available: bytes.len(),
        })?;
    VideoHeader::parse_parts(header, total - header_end - packet::SUFFIX_LEN)?;
    Ok(total)
}

/// Reads what a DCT video packet declares, checking the whole packet.
pub fn inspect(bytes: &[u8]) -> Result<StreamInfo, VideoError> {
    let packet = Packet::parse_kind(bytes, PacketKind::DctVideo)?;
    Ok(VideoHeader::parse(&packet)?.stream)
}

/// Codes raw frames of one picture format and size into packets.
pub struct FrameEncoder {
    picture: Picture,
    quality: u8,
    frame_rate: FrameRate,
    tables: [QuantTable; 2],
    slice_rows: u32,
    workspaces: Vec<SliceWorkspace>,
    pool: rayon::ThreadPool,
    header: Vec<u8>,
}

impl FrameEncoder {
    /// An encoder for pictures of the given format and size. `threads` of 0 means one per
    /// core; the bitstream does not depend on it.
    pub fn new(picture: Picture, quality: u8, threads: usize) -> Result<Self, VideoError> {
        check_picture(&picture)?;
        if !QUALITY_RANGE.contains(&quality) {
            return Err(VideoError::InvalidQuality(quality as u32));
        }
        let slice_rows = slice_rows(picture.width, picture.height);
        let slice_count = picture.height.div_ceil(slice_rows) as usize;
        Ok(Self {
            picture,
            quality,
            frame_rate: FrameRate::default(),
            tables: tables(quality),
            slice_rows,
            workspaces: (0..slice_count)
                .map(|_| SliceWorkspace::default())
                .collect(),
            pool: thread_pool(threads)?,
            header: Vec::with_capacity(FIXED_HEADER_LEN + 4 * slice_count),
        })
    }

    pub fn picture(&self) -> Picture {
        self.picture
    }

    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// Declares the stream's frame rate in the packets, so that a stored stream can be played
    /// back at its pace.
    pub fn set_frame_rate(&mut self, frame_rate: FrameRate) {
        self.frame_rate = frame_rate;
    }

    /// Changes the quality from the next frame on.
    pub fn set_quality(&mut self, quality: u8) {
        let quality = quality.clamp(*QUALITY_RANGE.start(), *QUALITY_RANGE.end());
        self.quality = quality;
        self.tables = tables(quality);
    }

    /// Number of slices each frame is cut into.
    pub fn slice_count(&self) -> usize {
        self.workspaces.len()
    }

    /// Codes a frame and returns the length of the packet, which
    /// [`FrameEncoder::write_packet`] then writes.
    pub fn encode(&mut self, frame: &FrameRef) -> Result<usize, VideoError> {
        check_planes(
            &self.picture,
            frame.planes.map(|plane| plane.len()),
            frame.strides,
        )?;
        let source = SourcePlanes {
            data: frame.planes,
            strides: frame.strides,
        };
        let (picture, slice_rows, tables) = (self.picture, self.slice_rows, &self.tables);
        let workspaces = &mut self.workspaces;
        self.pool.install(|| {
            workspaces
                .par_iter_mut()
                .enumerate()
                .for_each(|(index, workspace)| {
                    let geometry = SliceGeometry {
                        picture,
                        rows: slice_rows,
                        index,
                    };
                    workspace.encode(&geometry, &source, tables);
                });
        });

        self.header.clear();
        self.header.push(self.picture.format.code());
        self.header
            .extend_from_slice(&self.picture.width.to_le_bytes());
        self.header
            .extend_from_slice(&self.picture.height.to_le_bytes());
        self.header.push(self.quality);
        self.header
            .extend_from_slice(&self.frame_rate.numerator.to_le_bytes());
        self.header
            .extend_from_slice(&self.frame_rate.denominator.to_le_bytes());
        self.header
            .extend_from_slice(&(self.slice_rows as u16).to_le_bytes());
        self.header
            .extend_from_slice(&(self.workspaces.len() as u16).to_le_bytes());
        let mut payload_len = 0;
        for workspace in &self.workspaces {
            self.header
                .extend_from_slice(&(workspace.coded.len() as u32).to_le_bytes());
            payload_len += workspace.coded.len();
        }
        let packet_len = packet::PREFIX_LEN + self.header.len() + payload_len + packet::SUFFIX_LEN;
        if packet_len > packet::MAX_PACKET_LEN {
            return Err(VideoError::PacketTooLarge(packet_len));
        }
        Ok(packet_len)
    }

    /// Writes the packet for the frame last passed to [`FrameEncoder::encode`] into `out`,
    /// which must be exactly as long as `encode` said.
    pub fn write_packet(&self, out: &mut [u8]) {
        packet::write_packet(out, PacketKind::DctVideo, &self.header, |mut payload| {
            for workspace in &self.workspaces {
                let (slice, rest) = payload.split_at_mut(workspace.coded.len());
                slice.copy_from_slice(&workspace.coded);
                payload = rest;
            }
        });
    }

    /// Codes a frame into a new vector, for callers that do not manage buffers.
    pub fn encode_to_vec(&mut self, frame: &FrameRef) -> Result<Vec<u8>, VideoError> {
        let length = self.encode(frame)?;
        let mut out = vec![0; length];
        self.write_packet(&mut out);
        Ok(out)
    }
}

/// Decodes DCT video packets into raw frames. It follows whatever picture format, size and
/// quality each packet declares.
pub struct FrameDecoder {
    quality: Option<u8>,
    tables: [QuantTable; 2],
    workspaces: Vec<SliceWorkspace>,
    pool: rayon::ThreadPool,
}

/// Splits each memory plane into the row ranges of successive slices.
fn split_planes<'a>(
    geometries: impl Iterator<Item = SliceGeometry>,
    frame: FrameMut<'a>,
    picture: &Picture,
) -> impl Iterator<Item = (SliceGeometry, TargetPlanes<'a>)> {
    let plane_count = picture.format.plane_count();
    let strides = frame.strides;
    let mut rest = frame.planes;
    geometries.map(move |geometry| {
        let data = std::array::from_fn(|plane| {
            let remaining = std::mem::take(&mut rest[plane]);
            if plane >= plane_count {
                return remaining;
            }
            let (_, rows) = geometry.plane_span(plane);
            let length = (rows * strides[plane]).min(remaining.len());
            let (slice, tail) = remaining.split_at_mut(length);
            rest[plane] = tail;
            slice
        });
        (geometry, TargetPlanes { data, strides })
    })
}

impl FrameDecoder {
    /// `threads` of 0 means one per core.
    pub fn new(threads: usize) -> Result<Self, VideoError> {
        Ok(Self {
            quality: None,
            tables: tables(QUALITY_RANGE.end().to_owned()),
            workspaces: Vec::new(),
            pool: thread_pool(threads)?,
        })
    }

    /// Decodes one whole packet into `frame`, which must be of the picture the packet holds
    /// (see [`inspect`]).
    pub fn decode(
        &mut self,
        bytes: &[u8],
        picture: Picture,
        frame: FrameMut,
    ) -> Result<(), VideoError> {
        let packet = Packet::parse_kind(bytes, PacketKind::DctVideo)?;
        let header = VideoHeader::parse(&packet)?;
        if header.stream.picture != picture {
            return Err(VideoError::PictureMismatch {
                packet: header.stream.picture,
                frame: picture,
            });
        }
        check_planes(
            &picture,
            frame.planes.each_ref().map(|plane| plane.len()),
            frame.strides,
        )?;

        let quality = header.stream.quality;
        if self.quality != Some(quality) {
            self.tables = tables(quality);
            self.quality = Some(quality);
        }
        let slice_count = header.slice_count();
        if self.workspaces.len() < slice_count {
            self.workspaces
                .resize_with(slice_count, SliceWorkspace::default);
        }

        let geometries = (0..slice_count).map(|index| SliceGeometry {
            picture,
            rows: header.slice_rows,
            index,
        });
        let mut offsets = (0..slice_count).scan(0, |offset, index| {
            let start = *offset;
            *offset += header.slice_length(index);
            Some(start..*offset)
        });
        let tables = &self.tables;
        let payload = packet.payload;
        let jobs = split_planes(geometries, frame, &picture)
            .zip(&mut self.workspaces)
            .map(|(job, workspace)| (job, workspace, offsets.next().unwrap()));

        self.pool.install(|| {
            jobs.par_bridge()
                .map(|((geometry, mut target), workspace, range)| {
                    if workspace.decode(&geometry, &payload[range], tables, &mut target) {
                        Ok(())
                    } else {
                        Err(VideoError::SliceTruncated(geometry.index))
                    }
                })
                .collect::<Result<(), VideoError>>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::psnr;

    /// A smooth picture with some texture, in every memory plane of `picture`'s format.
    /// Padding bytes of packed formats are 255, as the decoder writes them.
    fn synthetic_frame(picture: &Picture) -> (Vec<Vec<u8>>, [usize; MAX_PLANES]) {
        let (strides, sizes) = picture.packed_layout();
        let mut planes: Vec<Vec<u8>> = (0..picture.format.plane_count())
            .map(|plane| {
                (0..sizes[plane])
                    .map(|i| {
                        let (row, column) = (i / strides[plane], i % strides[plane]);
                        let wave =
                            ((row as f32 * 0.11).sin() + (column as f32 * 0.07).cos()) * 60.0;
                        (128.0 + wave + ((row * 7 + column * 3) % 11) as f32) as u8
                    })
                    .collect()
            })
            .collect();
        if let crate::video::Layout::Rgb {
            filler: Some(filler),
            pixel_bytes,
            ..
        } = picture.format.layout()
        {
            for row in planes[0].chunks_mut(strides[0]) {
                for pixel in
                    row[..picture.width as usize * pixel_bytes].chunks_exact_mut(pixel_bytes)
                {
                    pixel[filler] = 0xFF;
                }
            }
        }
        (planes, strides)
    }

    fn frame_ref<'a>(planes: &'a [Vec<u8>], strides: [usize; MAX_PLANES]) -> FrameRef<'a> {
        FrameRef {
            planes: std::array::from_fn(|p| planes.get(p).map_or(&[][..], |v| &v[..])),
            strides,
        }
    }

    fn decode_to_planes(
        decoder: &mut FrameDecoder,
        packet: &[u8],
        picture: Picture,
    ) -> Result<Vec<Vec<u8>>, VideoError> {
        let (strides, sizes) = picture.packed_layout();
        let mut planes: Vec<Vec<u8>> = (0..picture.format.plane_count())
            .map(|p| vec![0; sizes[p]])
            .collect();
        let mut iter = planes.iter_mut();
        let frame = FrameMut {
            planes: std::array::from_fn(|_| iter.next().map_or(&mut [][..], |v| &mut v[..])),
            strides,
        };
        decoder.decode(packet, picture, frame)?;
        Ok(planes)
    }

    /// Compares only the bytes that hold samples, not row padding.
    fn sample_psnr(picture: &Picture, a: &[Vec<u8>], b: &[Vec<u8>]) -> f64 {
        let (strides, _) = picture.packed_layout();
        let mut original = Vec::new();
        let mut decoded = Vec::new();
        for plane in 0..picture.format.plane_count() {
            let (rows, row_bytes) = picture.plane_extent(plane);
            for row in 0..rows {
                let range = row * strides[plane]..row * strides[plane] + row_bytes;
                original.extend_from_slice(&a[plane][range.clone()]);
                decoded.extend_from_slice(&b[plane][range]);
            }
        }
        psnr(&original, &decoded)
    }

    #[test]
    fn every_format_round_trips_at_odd_sizes() {
        let mut decoder = FrameDecoder::new(2).unwrap();
        for format in PixelFormat::ALL {
            for (width, height) in [(1, 1), (2, 1), (1, 2), (7, 7), (9, 9), (23, 42), (92, 60)] {
                let picture = Picture::new(format, width, height);
                let (planes, strides) = synthetic_frame(&picture);
                let mut encoder = FrameEncoder::new(picture, 95, 2).unwrap();
                let packet = encoder.encode_to_vec(&frame_ref(&planes, strides)).unwrap();

                let info = inspect(&packet).unwrap();
                assert_eq!((info.picture, info.quality), (picture, 95));
                let decoded = decode_to_planes(&mut decoder, &packet, picture).unwrap();
                let quality = sample_psnr(&picture, &planes, &decoded);
                assert!(quality > 33.0, "{format} {width}x{height}: {quality:.1} dB");
            }
        }
    }

    #[test]
    fn alpha_survives_and_padding_bytes_come_back_opaque() {
        let picture = Picture::new(PixelFormat::Rgba, 16, 16);
        let (mut planes, strides) = synthetic_frame(&picture);
        for (i, pixel) in planes[0].chunks_exact_mut(4).enumerate() {
            pixel[3] = if i % 16 < 8 { 0 } else { 255 };
        }
        let mut encoder = FrameEncoder::new(picture, 100, 1).unwrap();
        let packet = encoder.encode_to_vec(&frame_ref(&planes, strides)).unwrap();
        let decoded =
            decode_to_planes(&mut FrameDecoder::new(1).unwrap(), &packet, picture).unwrap();
        for (a, b) in planes[0].chunks_exact(4).zip(decoded[0].chunks_exact(4)) {
            assert!(a[3].abs_diff(b[3]) <= 2);
        }

        let picture = Picture::new(PixelFormat::Xrgb, 5, 3);
        let (planes, strides) = synthetic_frame(&picture);
        let mut encoder = FrameEncoder::new(picture, 90, 1).unwrap();
        let packet = encoder.encode_to_vec(&frame_ref(&planes, strides)).unwrap();
        let decoded =
            decode_to_planes(&mut FrameDecoder::new(1).unwrap(), &packet, picture).unwrap();
        for row in decoded[0].chunks_exact(strides[0]) {
            assert!(row[..20].chunks_exact(4).all(|pixel| pixel[0] == 0xFF));
        }
    }

    #[test]
    fn quality_100_is_nearly_lossless_on_a_single_pixel() {
        let picture = Picture::new(PixelFormat::I420, 1, 1);
        let planes = vec![vec![200, 0, 0, 0], vec![30, 0, 0, 0], vec![240, 0, 0, 0]];
        let mut encoder = FrameEncoder::new(picture, 100, 1).unwrap();
        let packet = encoder.encode_to_vec(&frame_ref(&planes, [4; 3])).unwrap();
        let decoded =
            decode_to_planes(&mut FrameDecoder::new(1).unwrap(), &packet, picture).unwrap();
        for plane in 0..3 {
            assert!(planes[plane][0].abs_diff(decoded[plane][0]) <= 1);
        }
    }

    #[test]
    fn bitstream_does_not_depend_on_threads_or_strides() {
        let picture = Picture::new(PixelFormat::I420, 1280, 720);
        let (planes, strides) = synthetic_frame(&picture);
        let single = FrameEncoder::new(picture, 80, 1)
            .unwrap()
            .encode_to_vec(&frame_ref(&planes, strides))
            .unwrap();
        let mut parallel_encoder = FrameEncoder::new(picture, 80, 4).unwrap();
        assert!(parallel_encoder.slice_count() > 1);
        let parallel = parallel_encoder
            .encode_to_vec(&frame_ref(&planes, strides))
            .unwrap();
        assert_eq!(single, parallel);

        // The same picture with every row padded by 100 bytes, and extra bytes after it.
        let padded_strides = strides.map(|s| s + 100);
        let padded: Vec<Vec<u8>> = planes
            .iter()
            .enumerate()
            .map(|(p, plane)| {
                let mut out = Vec::new();
                for row in plane.chunks(strides[p]) {
                    out.extend_from_slice(row);
                    out.extend(std::iter::repeat_n(0xAB, 100));
                }
                out.extend_from_slice(&[1, 2, 3]);
                out
            })
            .collect();
        let from_padded = FrameEncoder::new(picture, 80, 2)
            .unwrap()
            .encode_to_vec(&frame_ref(&padded, padded_strides))
            .unwrap();
        assert_eq!(single, from_padded);

        let single_decoded = decode_to_planes(&mut FrameDecoder::new(1).unwrap(), &single, picture);
        let parallel_decoded =
            decode_to_planes(&mut FrameDecoder::new(3).unwrap(), &single, picture);
        assert_eq!(single_decoded.unwrap(), parallel_decoded.unwrap());
    }

    #[test]
    fn bad_frames_and_settings_are_refused() {
        let picture = Picture::new(PixelFormat::I420, 64, 64);
        assert!(matches!(
            FrameEncoder::new(Picture::new(PixelFormat::I420, 0, 5), 50, 1),
            Err(VideoError::InvalidDimensions { .. })
        ));
        assert!(matches!(
            FrameEncoder::new(picture, 0, 1),
            Err(VideoError::InvalidQuality(0))
        ));
        let short = vec![vec![0u8; 100]; 3];
        let error = FrameEncoder::new(picture, 50, 1)
            .unwrap()
            .encode(&frame_ref(&short, [64, 32, 32]))
            .unwrap_err();
        assert!(matches!(error, VideoError::PlaneTooSmall { plane: 0, .. }));

        let (planes, strides) = synthetic_frame(&picture);
        let packet = FrameEncoder::new(picture, 50, 1)
            .unwrap()
            .encode_to_vec(&frame_ref(&planes, strides))
            .unwrap();
        let other = Picture::new(PixelFormat::I420, 64, 32);
        assert!(matches!(
            decode_to_planes(&mut FrameDecoder::new(1).unwrap(), &packet, other),
            Err(VideoError::PictureMismatch { .. })
        ));
    }

    /// Rewrites the checksum so that corruption reaches the slice decoder.
    fn reseal(packet: &mut [u8]) {
        let end = packet.len() - packet::SUFFIX_LEN;
        let checksum = crc32fast::hash(&packet[..end]);
        packet[end..].copy_from_slice(&checksum.to_le_bytes());
    }

    #[test]
    fn damaged_lengths_are_caught_from_the_packet_start() {
        let picture = Picture::new(PixelFormat::I420, 64, 48);
        let (planes, strides) = synthetic_frame(&picture);
        let packet = FrameEncoder::new(picture, 60, 1)
            .unwrap()
            .encode_to_vec(&frame_ref(&planes, strides))
            .unwrap();
        let header_end = packet::PREFIX_LEN + FIXED_HEADER_LEN + 4;
        assert_eq!(check_packet_start(&packet[..header_end]), Ok(packet.len()));
        assert!(matches!(
            check_packet_start(&packet[..header_end - 1]),
            Err(VideoError::Packet(PacketError::Truncated { .. }))
        ));

        let mut damaged = packet.clone();
        damaged[10] ^= 0x40;
        assert!(matches!(
            check_packet_start(&damaged[..header_end]),
            Err(VideoError::Packet(PacketError::BadHeader(_)))
        ));
    }

    #[test]
    fn corrupt_packets_fail_cleanly() {
        let picture = Picture::new(PixelFormat::Y444, 200, 300);
        let (planes, strides) = synthetic_frame(&picture);
        let mut encoder = FrameEncoder::new(picture, 75, 2).unwrap();
        let packet = encoder.encode_to_vec(&frame_ref(&planes, strides)).unwrap();
        let mut decoder = FrameDecoder::new(2).unwrap();

        let mut state = 0x1234_5678_9ABC_DEF0u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        for round in 0..300 {
            let mut corrupt = packet.clone();
            if round % 3 == 0 {
                corrupt.truncate(random() % packet.len());
            } else {
                for _ in 0..1 + random() % 8 {
                    let bit = random() % (corrupt.len() * 8);
                    corrupt[bit / 8] ^= 1 << (bit % 8);
                }
            }
            if round % 2 == 1 && corrupt.len() == packet.len() {
                // Past the checksum, the header and slice decoders see the damage themselves.
                reseal(&mut corrupt);
            }
            // Any outcome is fine but a panic; the good packet must still decode afterwards.
            let _ = decode_to_planes(&mut decoder, &corrupt, picture);
        }
        let decoded = decode_to_planes(&mut decoder, &packet, picture).unwrap();
        assert!(sample_psnr(&picture, &planes, &decoded) > 30.0);
    }
}
