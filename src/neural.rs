//! Learned image coding: a contract's encoder turns a picture into latents, which are
//! quantized with a step chosen for the wanted quality and entropy coded into a packet; the
//! decoder side reverses it.
//!
//! The kind header of a neural image packet (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | model fingerprint (see [`fingerprint`]) |
//! | 4 | width |
//! | 4 | height |
//! | 4 | quantizer step, IEEE 754 single precision |
//! | 2 | latent channels |
//! | 2 | latent rows |
//! | 2 | latent columns |
//! | 4 | frame rate numerator (0 when unknown, as for still pictures) |
//! | 4 | frame rate denominator |

use std::fmt;

use crate::contract::{
    ColourOrder, EntropyModel, ImageInput, LoadedCodec, MediaInput, MediaKind, ModelContract,
};
use crate::latents::{max_coded_len, FactorizedGaussian, LatentError, MAX_MAGNITUDE};
use crate::onnx::Model;
use crate::packet::{self, Packet, PacketError, PacketKind};
use crate::video::{FrameRate, MAX_DIMENSION};

const HEADER_LEN: usize = 30;

/// Why a picture could not be coded or decoded.
#[derive(Debug)]
pub enum NeuralError {
    Latents(LatentError),
    Packet(PacketError),
    Inference(String),
    /// The packet was made with another model than the one loaded.
    WrongModel {
        packet: u32,
        loaded: u32,
    },
    /// Width or height is zero or larger than [`MAX_DIMENSION`].
    InvalidSize {
        width: u32,
        height: u32,
    },
    /// The frame to decode into is not of the packet's size.
    SizeMismatch {
        packet: (u32, u32),
        frame: (u32, u32),
    },
    /// The codec was loaded without the model this needs.
    NotLoaded(&'static str),
    /// The model codes another kind of media.
    WrongMedia {
        model: String,
        codes: MediaKind,
        wanted: MediaKind,
    },
    /// The pixel buffer handed over is too small for the picture.
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
}

impl fmt::Display for NeuralError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latents(error) => error.fmt(f),
            Self::Packet(error) => error.fmt(f),
            Self::Inference(why) => write!(f, "inference failed: {why}"),
            Self::WrongModel { packet, loaded } => write!(
                f,
                "packet was coded with model {packet:08x}, but model {loaded:08x} is loaded"
            ),
            Self::InvalidSize { width, height } => write!(
                f,
                "unsupported picture size {width}x{height} (each side must be 1 to \
                 {MAX_DIMENSION})"
            ),
            Self::SizeMismatch { packet, frame } => write!(
                f,
                "packet holds a {}x{} picture but the frame is {}x{}",
                packet.0, packet.1, frame.0, frame.1
            ),
            Self::NotLoaded(model) => write!(f, "the {model} model was not loaded"),
            Self::WrongMedia {
                model,
                codes,
                wanted,
            } => write!(f, "model {model} codes {codes}, not {wanted}"),
            Self::BufferTooSmall { needed, available } => write!(
                f,
                "pixel buffer holds {available} bytes but the picture needs {needed}"
            ),
        }
    }
}

impl std::error::Error for NeuralError {}

impl From<LatentError> for NeuralError {
    fn from(error: LatentError) -> Self {
        Self::Latents(error)
    }
}

impl From<PacketError> for NeuralError {
    fn from(error: PacketError) -> Self {
        Self::Packet(error)
    }
}

impl From<ort::Error> for NeuralError {
    fn from(error: ort::Error) -> Self {
        Self::Inference(error.to_string())
    }
}

/// Identifies a model's latent space and entropy model, so that a decoder can tell whether a
/// packet was made with the model it has.
pub fn fingerprint(contract: &ModelContract) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(contract.name.as_bytes());
    hasher.update(&(contract.latents.channels as u32).to_le_bytes());
    hasher.update(&contract.latents.downsampling.to_le_bytes());
    let EntropyModel::FactorizedGaussian { scales, .. } = &contract.entropy_model;
    for scale in scales {
        hasher.update(&scale.to_le_bytes());
    }
    hasher.finalize()
}

/// What a packet says about its picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// The frame rate of the stream the picture belongs to, for timing stored streams.
    pub frame_rate: FrameRate,
}

/// Interleaved 8-bit R'G'B' pictures: `pixels` holds `height` rows of `stride` bytes, each
/// starting with `width` pixels of three bytes in `order`.
#[derive(Clone, Copy, Debug)]
pub struct RgbPicture<'a> {
    pub pixels: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub order: ColourOrder,
}

/// Where a decoded picture goes, laid out as [`RgbPicture`].
#[derive(Debug)]
pub struct RgbPictureMut<'a> {
    pub pixels: &'a mut [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub order: ColourOrder,
}

fn check_size(width: u32, height: u32) -> Result<(), NeuralError> {
    let valid = 1..=MAX_DIMENSION;
    if valid.contains(&width) && valid.contains(&height) {
        Ok(())
    } else {
        Err(NeuralError::InvalidSize { width, height })
    }
}

fn check_buffer(len: usize, width: u32, height: u32, stride: usize) -> Result<(), NeuralError> {
    check_size(width, height)?;
    let row = width as usize * 3;
    let needed = (height as usize - 1) * stride + row;
    if stride < row || len < needed {
        return Err(NeuralError::BufferTooSmall {
            needed,
            available: len,
        });
    }
    Ok(())
}

/// The session of a model the codec may not have loaded (see [`crate::contract::Role`]).
pub(crate) fn loaded_session<'a>(
    model: &'a mut Option<Model>,
    name: &'static str,
) -> Result<&'a mut ort::session::Session, NeuralError> {
    Ok(model
        .as_mut()
        .ok_or(NeuralError::NotLoaded(name))?
        .session())
}

/// A learned image codec: one loaded contract, used to encode, to decode, or both.
pub struct NeuralImageCodec {
    codec: LoadedCodec,
    spec: ImageInput,
    fingerprint: u32,
    step: f32,
    coder: FactorizedGaussian,
    input: Vec<f32>,
    latents: Vec<i32>,
    payload: Vec<u8>,
    frame_rate: FrameRate,
}

impl NeuralImageCodec {
    pub fn new(codec: LoadedCodec) -> Result<Self, NeuralError> {
        let MediaInput::Image(spec) = &codec.contract.input else {
            return Err(NeuralError::WrongMedia {
                model: codec.contract.name.clone(),
                codes: codec.contract.media,
                wanted: MediaKind::Image,
            });
        };
        let spec = spec.clone();
        let step = codec.contract.step_for_quality(1.0);
        let EntropyModel::FactorizedGaussian { scales, .. } = &codec.contract.entropy_model;
        let coder = FactorizedGaussian::new(scales, step)?;
        Ok(Self {
            fingerprint: fingerprint(&codec.contract),
            codec,
            spec,
            step,
            coder,
            input: Vec::new(),
            latents: Vec::new(),
            payload: Vec::new(),
            frame_rate: FrameRate::default(),
        })
    }

    pub fn contract(&self) -> &ModelContract {
        &self.codec.contract
    }

    pub fn fingerprint(&self) -> u32 {
        self.fingerprint
    }

    /// Sets the quantizer step; the entropy tables are rebuilt only when it changes.
    pub fn set_step(&mut self, step: f32) -> Result<(), NeuralError> {
        if step != self.step {
            let EntropyModel::FactorizedGaussian { scales, .. } =
                &self.codec.contract.entropy_model;
            self.coder = FactorizedGaussian::new(scales, step)?;
            self.step = step;
        }
        Ok(())
    }

    /// The frame rate packets declare from now on (see [`ImageInfo::frame_rate`]).
    pub fn set_frame_rate(&mut self, frame_rate: FrameRate) {
        self.frame_rate = frame_rate;
    }

    /// Picture size padded up to what the model takes.
    fn padded(&self, width: u32, height: u32) -> (usize, usize) {
        let multiple = self.spec.multiple_of;
        (
            width.next_multiple_of(multiple) as usize,
            height.next_multiple_of(multiple) as usize,
        )
    }

    /// Codes a picture into a packet.
    pub fn encode(&mut self, picture: &RgbPicture) -> Result<Vec<u8>, NeuralError> {
        let mut packets = Vec::with_capacity(1);
        self.encode_batch(std::slice::from_ref(picture), &mut packets)?;
        Ok(packets.pop().expect("one packet per picture"))
    }

    /// Codes pictures of one size in a single run of the encoder model, appending one packet
    /// per picture to `packets`. Batches make fewer, larger model runs, which suits parallel
    /// hardware better; the packets are the same as when coded one by one.
    pub fn encode_batch(
        &mut self,
        pictures: &[RgbPicture],
        packets: &mut Vec<Vec<u8>>,
    ) -> Result<(), NeuralError> {
        let Some(first) = pictures.first() else {
            return Ok(());
        };
        let (width, height) = (first.width, first.height);
        for picture in pictures {
            if (picture.width, picture.height) != (width, height) {
                return Err(NeuralError::SizeMismatch {
                    packet: (width, height),
                    frame: (picture.width, picture.height),
                });
            }
            check_buffer(picture.pixels.len(), width, height, picture.stride)?;
        }
        let (padded_width, padded_height) = self.padded(width, height);
        let [low, high] = self.spec.range;

        // Planar, in the model's colour order and range, repeating the last row and column
        // into the padding.
        let plane = padded_width * padded_height;
        self.input.resize(pictures.len() * 3 * plane, 0.0);
        for (picture, input) in pictures.iter().zip(self.input.chunks_exact_mut(3 * plane)) {
            let swap = picture.order != self.spec.colour;
            for y in 0..padded_height {
                let row = &picture.pixels[y.min(height as usize - 1) * picture.stride..];
                for x in 0..padded_width {
                    let pixel = &row[3 * x.min(width as usize - 1)..][..3];
                    for channel in 0..3 {
                        let source = if swap { 2 - channel } else { channel };
                        let value = pixel[source] as f32 / 255.0 * (high - low) + low;
                        input[channel * plane + y * padded_width + x] = value;
                    }
                }
            }
        }

        let tensor = ort::value::TensorRef::from_array_view((
            [pictures.len(), 3, padded_height, padded_width],
            &self.input[..],
        ))?;
        let contract = &self.codec.contract;
        let input_name = self.spec.tensor.clone();
        let latent_name = contract.latents.tensor.clone();
        let downsampling = contract.latents.downsampling as usize;
        let expected = [
            pictures.len() as i64,
            contract.latents.channels as i64,
            (padded_height / downsampling) as i64,
            (padded_width / downsampling) as i64,
        ];
        let session = loaded_session(&mut self.codec.encoder, "encoder")?;
        let outputs = session.run(ort::inputs![input_name.as_str() => tensor])?;
        let (shape, values) = outputs[latent_name.as_str()].try_extract_tensor::<f32>()?;
        if shape[..] != expected[..] {
            return Err(NeuralError::Inference(format!(
                "the encoder gave latents of shape {shape:?}, where its contract makes \
                 {expected:?}"
            )));
        }
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&self.fingerprint.to_le_bytes());
        header[4..8].copy_from_slice(&width.to_le_bytes());
        header[8..12].copy_from_slice(&height.to_le_bytes());
        header[12..16].copy_from_slice(&self.step.to_le_bytes());
        header[22..26].copy_from_slice(&self.frame_rate.numerator.to_le_bytes());
        header[26..30].copy_from_slice(&self.frame_rate.denominator.to_le_bytes());
        for (at, dimension) in [(16, expected[1]), (18, expected[2]), (20, expected[3])] {
            let dimension = u16::try_from(dimension).map_err(|_| {
                NeuralError::Inference(format!("{dimension} latent rows, columns or channels"))
            })?;
            header[at..at + 2].copy_from_slice(&dimension.to_le_bytes());
        }

        let step = self.step;
        let per_picture = values.len() / pictures.len();
        for latents in values.chunks_exact(per_picture) {
            self.latents.clear();
            self.latents.extend(
                latents
                    .iter()
                    .map(|&y| ((y / step).round() as i32).clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE)),
            );
            self.payload.clear();
            self.coder.encode(&self.latents, &mut self.payload)?;
            let mut packet =
                vec![0; packet::PREFIX_LEN + HEADER_LEN + self.payload.len() + packet::SUFFIX_LEN];
            let payload = &self.payload;
            packet::write_packet(&mut packet, PacketKind::NeuralImage, &header, |out| {
                out.copy_from_slice(payload)
            });
            packets.push(packet);
        }
        Ok(())
    }

    /// Checks a packet against the loaded model (checksum, fingerprint, picture size and latent
    /// shape) and returns its picture size, so that a caller can prepare the output frame
    /// before decoding.
    pub fn inspect(&self, bytes: &[u8]) -> Result<ImageInfo, NeuralError> {
        let packet = Packet::parse_kind(bytes, PacketKind::NeuralImage)?;
        let header = self.check_header(packet.header)?;
        Ok(ImageInfo {
            width: header.width,
            height: header.height,
            frame_rate: header.frame_rate,
        })
    }

    /// Reads a kind header and checks it against the loaded model.
    fn check_header(&self, header: &[u8]) -> Result<Header, NeuralError> {
        let header = parse_header(header)?;
        if header.fingerprint != self.fingerprint {
            return Err(NeuralError::WrongModel {
                packet: header.fingerprint,
                loaded: self.fingerprint,
            });
        }
        check_size(header.width, header.height)?;
        let downsampling = self.codec.contract.latents.downsampling as usize;
        let (padded_width, padded_height) = self.padded(header.width, header.height);
        let expected = (
            self.codec.contract.latents.channels,
            padded_height / downsampling,
            padded_width / downsampling,
        );
        if (header.channels, header.rows, header.columns) != expected {
            return Err(NeuralError::Packet(PacketError::BadHeader(format!(
                "latents of {}x{}x{} for a {}x{} picture",
                header.channels, header.rows, header.columns, header.width, header.height
            ))));
        }
        Ok(header)
    }

    /// Decodes a packet into `picture`, which must be of the packet's size.
    pub fn decode(&mut self, bytes: &[u8], picture: RgbPictureMut) -> Result<(), NeuralError> {
        let packet = Packet::parse_kind(bytes, PacketKind::NeuralImage)?;
        let header = self.check_header(packet.header)?;
        if (header.width, header.height) != (picture.width, picture.height) {
            return Err(NeuralError::SizeMismatch {
                packet: (header.width, header.height),
                frame: (picture.width, picture.height),
            });
        }
        check_buffer(
            picture.pixels.len(),
            picture.width,
            picture.height,
            picture.stride,
        )?;

        self.set_step(header.step)?;
        self.latents
            .resize(header.channels * header.rows * header.columns, 0);
        self.coder.decode(packet.payload, &mut self.latents)?;
        self.input.clear();
        self.input
            .extend(self.latents.iter().map(|&q| q as f32 * header.step));

        let contract = &self.codec.contract;
        let tensor = ort::value::TensorRef::from_array_view((
            [1usize, header.channels, header.rows, header.columns],
            &self.input[..],
        ))?;
        let latent_name = contract.latents.tensor.clone();
        let output_name = contract.output.tensor.clone();
        let [low, high] = contract.output.range;
        let swap = picture.order != self.spec.colour;
        let session = loaded_session(&mut self.codec.decoder, "decoder")?;
        let outputs = session.run(ort::inputs![latent_name.as_str() => tensor])?;
        let (shape, values) = outputs[output_name.as_str()].try_extract_tensor::<f32>()?;
        let (plane_height, plane_width) = match shape[..] {
            [1, 3, h, w]
                if h as usize >= header.height as usize && w as usize >= header.width as usize =>
            {
                (h as usize, w as usize)
            }
            _ => return Err(NeuralError::Inference(format!("decoded shape {shape:?}"))),
        };

        let plane = plane_width * plane_height;
        for y in 0..header.height as usize {
            let row = &mut picture.pixels[y * picture.stride..][..header.width as usize * 3];
            for (x, pixel) in row.chunks_exact_mut(3).enumerate() {
                for channel in 0..3 {
                    let value = values[channel * plane + y * plane_width + x];
                    let sample = (value - low) / (high - low) * 255.0 + 0.5;
                    pixel[if swap { 2 - channel } else { channel }] = sample as u8;
                }
            }
        }
        Ok(())
    }
}

/// Reads the start of a neural image packet in a byte stream (the prefix and the kind header)
/// and returns the packet's whole length, checking what can be checked before the rest
/// arrives: version, kind, header, picture size, and a payload no longer than its latents
/// could need.
pub fn check_packet_start(bytes: &[u8]) -> Result<usize, NeuralError> {
    let total = packet::packet_len(bytes)?;
    let (version, kind) = (bytes[4], bytes[5]);
    if version != packet::VERSION {
        return Err(PacketError::UnsupportedVersion(version).into());
    }
    if kind != PacketKind::NeuralImage as u8 {
        return Err(PacketError::UnknownKind(kind).into());
    }
    let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    if header_len != HEADER_LEN {
        return Err(PacketError::BadHeader(format!("header of {header_len} bytes")).into());
    }
    let header_end = packet::PREFIX_LEN + HEADER_LEN;
    let header = bytes
        .get(packet::PREFIX_LEN..header_end)
        .ok_or(PacketError::Truncated {
            needed: header_end,
            available: bytes.len(),
        })?;
    let header = parse_header(header)?;
    check_size(header.width, header.height)?;
    let most = max_coded_len(header.channels * header.rows * header.columns);
    if total - header_end - packet::SUFFIX_LEN > most {
        return Err(PacketError::BadLength(total).into());
    }
    Ok(total)
}

struct Header {
    fingerprint: u32,
    width: u32,
    height: u32,
    step: f32,
    channels: usize,
    rows: usize,
    columns: usize,
    frame_rate: FrameRate,
}

fn parse_header(header: &[u8]) -> Result<Header, NeuralError> {
    if header.len() != HEADER_LEN {
        return Err(PacketError::BadHeader(format!("header of {} bytes", header.len())).into());
    }
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]) as usize;
    let step = f32::from_bits(u32_at(12));
    if !(step.is_finite() && step > 0.0) {
        return Err(PacketError::BadHeader(format!("quantizer step {step}")).into());
    }
    let frame_rate = FrameRate {
        numerator: u32_at(22),
        denominator: u32_at(26),
    };
    if frame_rate.denominator == 0 {
        return Err(PacketError::BadHeader("frame rate with a zero denominator".into()).into());
    }
    Ok(Header {
        fingerprint: u32_at(0),
        width: u32_at(4),
        height: u32_at(8),
        step,
        channels: u16_at(16),
        rows: u16_at(18),
        columns: u16_at(20),
        frame_rate,
    })
}
