//! Learned audio coding: a contract's encoder turns blocks of samples into latent frames, which
//! are quantized and entropy coded into packets of a few frames each; the decoder side reverses
//! it.
//!
//! The models are convolutional and see a few frames on either side of each output frame, so a
//! block coded on its own would differ from the whole signal coded at once near its edges. Both
//! sides therefore run their model over the block plus `context_frames` (from the contract) on
//! either side and keep the middle: the encoder waits for that much audio after a block before
//! coding it, the decoder for the packets that carry that many frames after it. The result is
//! the whole-signal coding, block by block, at the price of that latency.
//!
//! The kind header of a neural audio packet (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | model fingerprint (see [`crate::neural::fingerprint`]) |
//! | 4 | index of the packet's first latent frame in its stream (wrapping) |
//! | 4 | quantizer step, IEEE 754 single precision |
//! | 2 | latent frames in the packet |
//! | 2 | samples per channel the packet restores: every frame's, except at the end of a stream |
//!
//! A decoder that finds frames missing between two packets fills them with concealment (zero
//! latents, which the shipped model decodes to near silence) so that the output keeps its
//! length and timing.

use std::collections::VecDeque;

use crate::contract::{AudioInput, EntropyModel, LoadedCodec, MediaInput, MediaKind};
use crate::latents::{max_coded_len, FactorizedGaussian, MAX_MAGNITUDE};
use crate::neural::{fingerprint, loaded_session, NeuralError};
use crate::packet::{self, Packet, PacketError, PacketKind};

const HEADER_LEN: usize = 16;

/// Most latent frames one packet may carry; with the frame's samples it must fit the header's
/// sample count.
pub const MAX_PACKET_FRAMES: usize = 256;

/// Most frames a decoder conceals between two packets; a larger jump is a new stream.
pub const MAX_CONCEALED_FRAMES: u32 = 250;

/// How far back a packet may start and still count as late (reordered or duplicated on the
/// way) rather than as the start of a new stream.
pub const MAX_LATE_FRAMES: u32 = 250;

/// What one packet covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioSpan {
    /// Index of the first latent frame since the stream started.
    pub first_frame: u64,
    pub frames: usize,
    /// Samples per channel restored.
    pub samples: usize,
    /// True for frames the decoder made up for lost packets.
    pub concealed: bool,
}

/// The audio shape a model works in, shared by both sides.
struct Shape {
    spec: AudioInput,
    fingerprint: u32,
    /// Samples per latent frame.
    hop: usize,
    context: usize,
    latent_channels: usize,
}

impl Shape {
    fn new(codec: &LoadedCodec) -> Result<Self, NeuralError> {
        let contract = &codec.contract;
        let MediaInput::Audio(spec) = &contract.input else {
            return Err(NeuralError::WrongMedia {
                model: contract.name.clone(),
                codes: contract.media,
                wanted: MediaKind::Audio,
            });
        };
        let hop = contract.latents.downsampling as usize;
        Ok(Self {
            spec: spec.clone(),
            fingerprint: fingerprint(contract),
            hop,
            context: spec.context_frames as usize,
            latent_channels: contract.latents.channels,
        })
    }

    fn channels(&self) -> usize {
        self.spec.channels as usize
    }

    /// Most frames per packet whose samples the header can count.
    fn max_packet_frames(&self) -> usize {
        (u16::MAX as usize / self.hop).clamp(1, MAX_PACKET_FRAMES)
    }
}

fn coder_for(codec: &LoadedCodec, step: f32) -> Result<FactorizedGaussian, NeuralError> {
    let EntropyModel::FactorizedGaussian { scales, .. } = &codec.contract.entropy_model;
    Ok(FactorizedGaussian::new(scales, step)?)
}

/// The encoding side: takes interleaved samples as they come and codes them into packets.
pub struct NeuralAudioEncoder {
    codec: LoadedCodec,
    shape: Shape,
    step: f32,
    coder: FactorizedGaussian,
    /// Interleaved samples from the start of frame `base_frame` on, in [-1, 1].
    pending: Vec<f32>,
    base_frame: u64,
    /// The first frame of the next packet.
    next_frame: u64,
    input: Vec<f32>,
    latents: Vec<i32>,
    payload: Vec<u8>,
}

impl NeuralAudioEncoder {
    pub fn new(codec: LoadedCodec) -> Result<Self, NeuralError> {
        let shape = Shape::new(&codec)?;
        let step = codec.contract.step_for_quality(1.0);
        Ok(Self {
            coder: coder_for(&codec, step)?,
            codec,
            shape,
            step,
            pending: Vec::new(),
            base_frame: 0,
            next_frame: 0,
            input: Vec::new(),
            latents: Vec::new(),
            payload: Vec::new(),
        })
    }

    pub fn contract(&self) -> &crate::contract::ModelContract {
        &self.codec.contract
    }

    pub fn rate(&self) -> u32 {
        self.shape.spec.rate
    }

    pub fn channels(&self) -> u32 {
        self.shape.spec.channels
    }

    /// Samples per channel in one latent frame.
    pub fn frame_samples(&self) -> usize {
        self.shape.hop
    }

    /// Frames of audio the model needs after a block before the block can be coded.
    pub fn context_frames(&self) -> usize {
        self.shape.context
    }

    /// Most frames one packet can carry.
    pub fn max_packet_frames(&self) -> usize {
        self.shape.max_packet_frames()
    }

    /// Sets the quantizer step; the entropy tables are rebuilt only when it changes.
    pub fn set_step(&mut self, step: f32) -> Result<(), NeuralError> {
        if step != self.step {
            self.coder = coder_for(&self.codec, step)?;
            self.step = step;
        }
        Ok(())
    }

    /// Forgets all audio: the next sample starts a new stream.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.base_frame = 0;
        self.next_frame = 0;
    }

    /// Takes interleaved samples in [-1, 1].
    pub fn push(&mut self, interleaved: impl IntoIterator<Item = f32>) {
        self.pending.extend(interleaved);
    }

    fn total_samples(&self) -> u64 {
        self.base_frame * self.shape.hop as u64
            + (self.pending.len() / self.shape.channels()) as u64
    }

    /// Codes the next `frames` frames into `out` (replacing its contents) when the audio they
    /// and their context need has arrived. With `drain`, the stream ends here: what remains is
    /// coded, the last frame padded with silence, and the packet's sample count says where the
    /// audio ends. Returns what the packet covers, or `None` when there is nothing to code yet.
    pub fn encode_next(
        &mut self,
        frames: usize,
        drain: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<AudioSpan>, NeuralError> {
        let hop = self.shape.hop as u64;
        let context = self.shape.context as u64;
        let frames = frames.clamp(1, self.shape.max_packet_frames()) as u64;
        let total_samples = self.total_samples();
        let start = self.next_frame;
        let (count, end) = if drain {
            let total_frames = total_samples.div_ceil(hop);
            if start >= total_frames {
                return Ok(None);
            }
            let count = frames.min(total_frames - start);
            (count, (start + count + context).min(total_frames))
        } else {
            if total_samples / hop < start + frames + context {
                return Ok(None);
            }
            (frames, start + frames + context)
        };
        let begin = start.saturating_sub(context).max(self.base_frame);
        let window = (end - begin) as usize;
        let samples = ((total_samples - start * hop).min(count * hop)) as usize;

        // Planar, in the model's range, silent past the end of the audio.
        let channels = self.shape.channels();
        let length = window * self.shape.hop;
        let [low, high] = self.shape.spec.range;
        self.input.clear();
        self.input.resize(channels * length, 0.0);
        let offset = (begin - self.base_frame) as usize * self.shape.hop;
        let available = self.pending.len() / channels;
        for (t, frame) in self.pending[offset * channels..]
            .chunks_exact(channels)
            .take(length.min(available - offset))
            .enumerate()
        {
            for (channel, &sample) in frame.iter().enumerate() {
                self.input[channel * length + t] = low + (sample + 1.0) * 0.5 * (high - low);
            }
        }

        let input_name = self.shape.spec.tensor.clone();
        let latent_name = self.codec.contract.latents.tensor.clone();
        let tensor =
            ort::value::TensorRef::from_array_view(([1usize, channels, length], &self.input[..]))?;
        let session = loaded_session(&mut self.codec.encoder, "encoder")?;
        let outputs = session.run(ort::inputs![input_name.as_str() => tensor])?;
        let (shape, values) = outputs[latent_name.as_str()].try_extract_tensor::<f32>()?;
        let latent_channels = self.shape.latent_channels;
        if shape[..] != [1, latent_channels as i64, window as i64] {
            return Err(NeuralError::Inference(format!(
                "the encoder gave latents of shape {shape:?} for {window} frames of audio, \
                 where its contract makes [1, {latent_channels}, {window}]"
            )));
        }
        let skip = (start - begin) as usize;
        let step = self.step;
        self.latents.clear();
        for channel in values.chunks_exact(window) {
            self.latents.extend(
                channel[skip..skip + count as usize]
                    .iter()
                    .map(|&y| ((y / step).round() as i32).clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE)),
            );
        }
        drop(outputs);

        self.payload.clear();
        self.coder.encode(&self.latents, &mut self.payload)?;
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&self.shape.fingerprint.to_le_bytes());
        header[4..8].copy_from_slice(&(start as u32).to_le_bytes());
        header[8..12].copy_from_slice(&step.to_le_bytes());
        header[12..14].copy_from_slice(&(count as u16).to_le_bytes());
        header[14..16].copy_from_slice(&(samples as u16).to_le_bytes());
        out.clear();
        out.resize(
            packet::PREFIX_LEN + HEADER_LEN + self.payload.len() + packet::SUFFIX_LEN,
            0,
        );
        let payload = &self.payload;
        packet::write_packet(out, PacketKind::NeuralAudio, &header, |bytes| {
            bytes.copy_from_slice(payload)
        });

        self.next_frame = start + count;
        let keep_from = self.next_frame.saturating_sub(context).max(self.base_frame);
        let drop_samples = ((keep_from - self.base_frame) as usize * self.shape.hop * channels)
            .min(self.pending.len());
        self.pending.drain(..drop_samples);
        self.base_frame = keep_from;
        Ok(Some(AudioSpan {
            first_frame: start,
            frames: count as usize,
            samples,
            concealed: false,
        }))
    }
}

struct Header {
    fingerprint: u32,
    first_frame: u32,
    step: f32,
    frames: usize,
    samples: usize,
}

fn parse_header(header: &[u8]) -> Result<Header, NeuralError> {
    if header.len() != HEADER_LEN {
        return Err(PacketError::BadHeader(format!("header of {} bytes", header.len())).into());
    }
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]) as usize;
    let step = f32::from_bits(u32_at(8));
    if !(step.is_finite() && step > 0.0) {
        return Err(PacketError::BadHeader(format!("quantizer step {step}")).into());
    }
    Ok(Header {
        fingerprint: u32_at(0),
        first_frame: u32_at(4),
        step,
        frames: u16_at(12),
        samples: u16_at(14),
    })
}

/// What [`NeuralAudioDecoder::push`] made of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The packet follows the previous one.
    InOrder,
    /// Frames were missing before it and are concealed.
    AfterGap { concealed_frames: u32 },
    /// The packet starts before frames already received (reordered or duplicated on the
    /// way): it is too late to use and nothing was taken.
    Late,
    /// The packet does not continue the stream (a restart or a jump too large to conceal):
    /// nothing was taken. Drain what is pending, [`NeuralAudioDecoder::reset`], and push the
    /// packet again.
    Discontinuity,
}

/// The decoding side: takes packets as they come and restores their audio once the frames
/// after them that the model looks at have arrived.
pub struct NeuralAudioDecoder {
    codec: LoadedCodec,
    shape: Shape,
    step: f32,
    coder: FactorizedGaussian,
    /// Dequantized latents, frame after frame, from frame `base_frame` on.
    latents: Vec<f32>,
    base_frame: u64,
    /// What has arrived and not been restored yet, oldest first.
    spans: VecDeque<AudioSpan>,
    /// The frame after the last one received, once a packet has arrived.
    received_end: Option<u64>,
    /// Frames missing before the next packet are passed over rather than concealed.
    skip_next_gap: bool,
    quantized: Vec<i32>,
    input: Vec<f32>,
}

impl NeuralAudioDecoder {
    pub fn new(codec: LoadedCodec) -> Result<Self, NeuralError> {
        let shape = Shape::new(&codec)?;
        let step = codec.contract.step_for_quality(1.0);
        Ok(Self {
            coder: coder_for(&codec, step)?,
            codec,
            shape,
            step,
            latents: Vec::new(),
            base_frame: 0,
            spans: VecDeque::new(),
            received_end: None,
            skip_next_gap: false,
            quantized: Vec::new(),
            input: Vec::new(),
        })
    }

    pub fn rate(&self) -> u32 {
        self.shape.spec.rate
    }

    pub fn channels(&self) -> u32 {
        self.shape.spec.channels
    }

    /// Samples per channel in one latent frame.
    pub fn frame_samples(&self) -> usize {
        self.shape.hop
    }

    /// Frames after a packet that must arrive before its audio can be restored.
    pub fn context_frames(&self) -> usize {
        self.shape.context
    }

    /// Forgets every packet: the next one starts a new stream.
    pub fn reset(&mut self) {
        self.latents.clear();
        self.base_frame = 0;
        self.spans.clear();
        self.received_end = None;
        self.skip_next_gap = false;
    }

    /// Frames missing before the next packet are to be passed over, not concealed: for when
    /// the caller's timing resumes at that packet by itself (after a discontinuity upstream
    /// has reported). The frames still count as silence for the model's context.
    pub fn skip_next_gap(&mut self) {
        self.skip_next_gap = true;
    }

    /// Conceals `frames` frames lost after those received so far, as when a transport reports
    /// a loss before the next packet arrives. They come out as a concealed span, in order.
    /// False, and nothing done, before the stream has started.
    pub fn conceal_lost(&mut self, frames: usize) -> bool {
        let Some(end) = self.received_end else {
            return false;
        };
        let frames = frames.min(MAX_CONCEALED_FRAMES as usize);
        if frames == 0 {
            return false;
        }
        self.latents.resize(
            self.latents.len() + frames * self.shape.latent_channels,
            0.0,
        );
        self.spans.push_back(AudioSpan {
            first_frame: end,
            frames,
            samples: frames * self.shape.hop,
            concealed: true,
        });
        self.received_end = Some(end + frames as u64);
        true
    }

    /// Whether a packet of the current stream has arrived.
    pub fn started(&self) -> bool {
        self.received_end.is_some()
    }

    /// Frames in the packet pushed last, if any.
    pub fn last_packet_frames(&self) -> Option<usize> {
        self.spans
            .back()
            .filter(|span| !span.concealed)
            .map(|span| span.frames)
    }

    /// Bytes a packet's start must have for [`NeuralAudioDecoder::check_packet_start`].
    pub const START_LEN: usize = packet::PREFIX_LEN + HEADER_LEN;

    /// Reads the start of a packet in a byte stream (at least [`Self::START_LEN`] bytes) and
    /// returns the packet's whole length, checking what can be checked before the rest
    /// arrives: the magic bytes and kind, the header's frame and sample counts, and a payload
    /// no longer than this model's latents could need. A damaged length field is caught here
    /// rather than waited for.
    pub fn check_packet_start(&self, bytes: &[u8]) -> Result<usize, NeuralError> {
        if bytes.len() < Self::START_LEN {
            return Err(PacketError::Truncated {
                needed: Self::START_LEN,
                available: bytes.len(),
            }
            .into());
        }
        let total = packet::packet_len(bytes)?;
        if bytes[5] != PacketKind::NeuralAudio as u8 {
            return Err(PacketError::BadHeader(format!("packet kind {}", bytes[5])).into());
        }
        let header_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
        if header_len != HEADER_LEN {
            return Err(PacketError::BadHeader(format!("header of {header_len} bytes")).into());
        }
        let header = parse_header(&bytes[packet::PREFIX_LEN..Self::START_LEN])?;
        self.check_counts(&header)?;
        let payload = total - Self::START_LEN - packet::SUFFIX_LEN;
        if payload > max_coded_len(header.frames * self.shape.latent_channels) {
            return Err(PacketError::BadLength(total).into());
        }
        Ok(total)
    }

    fn check_counts(&self, header: &Header) -> Result<(), NeuralError> {
        let hop = self.shape.hop;
        if header.frames == 0
            || header.frames > self.shape.max_packet_frames()
            || header.samples > header.frames * hop
            || header.samples <= (header.frames - 1) * hop
        {
            return Err(NeuralError::Packet(PacketError::BadHeader(format!(
                "{} samples in {} frames of {hop}",
                header.samples, header.frames
            ))));
        }
        Ok(())
    }

    /// Checks a packet and takes its latents.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Pushed, NeuralError> {
        let packet = Packet::parse_kind(bytes, PacketKind::NeuralAudio)?;
        let header = parse_header(packet.header)?;
        if header.fingerprint != self.shape.fingerprint {
            return Err(NeuralError::WrongModel {
                packet: header.fingerprint,
                loaded: self.shape.fingerprint,
            });
        }
        self.check_counts(&header)?;
        let hop = self.shape.hop;

        // The header's index wraps at 2^32 frames; extend it next to the expected one.
        let first_frame = match self.received_end {
            None => header.first_frame as u64,
            Some(end) => {
                let ahead = header.first_frame.wrapping_sub(end as u32);
                // Streams start at frame 0: a packet there that does not continue this one
                // starts another (stored streams joined end to end, an encoder restarted).
                if ahead != 0 && header.first_frame == 0 {
                    return Ok(Pushed::Discontinuity);
                }
                if ahead > u32::MAX - MAX_LATE_FRAMES {
                    return Ok(Pushed::Late);
                }
                if ahead > MAX_CONCEALED_FRAMES {
                    return Ok(Pushed::Discontinuity);
                }
                end + ahead as u64
            }
        };

        // Steps far outside the trained range make no sense to the model (and absurd ones
        // overflow it); the encoders stay inside it.
        let [smallest, largest] = self.codec.contract.latents.step_range;
        if !(smallest * 0.5..=largest * 2.0).contains(&header.step) {
            return Err(PacketError::BadHeader(format!(
                "quantizer step {} is far outside the model's {smallest} to {largest}",
                header.step
            ))
            .into());
        }
        let channels = self.shape.latent_channels;
        self.quantized.clear();
        self.quantized.resize(channels * header.frames, 0);
        if header.step != self.step {
            self.coder = coder_for(&self.codec, header.step)?;
            self.step = header.step;
        }
        self.coder.decode(packet.payload, &mut self.quantized)?;

        let mut pushed = Pushed::InOrder;
        if self.received_end.is_none() {
            self.base_frame = first_frame.saturating_sub(self.shape.context as u64);
            self.latents.clear();
            self.latents
                .resize((first_frame - self.base_frame) as usize * channels, 0.0);
        }
        let end = self.received_end.unwrap_or(first_frame);
        if first_frame > end {
            let missing = (first_frame - end) as usize;
            self.latents
                .resize(self.latents.len() + missing * channels, 0.0);
            if !self.skip_next_gap {
                self.spans.push_back(AudioSpan {
                    first_frame: end,
                    frames: missing,
                    samples: missing * hop,
                    concealed: true,
                });
                pushed = Pushed::AfterGap {
                    concealed_frames: missing as u32,
                };
            }
        }
        self.skip_next_gap = false;
        // Frame-major: each frame's channels together.
        let at = self.latents.len();
        self.latents.resize(at + header.frames * channels, 0.0);
        for (channel, plane) in self.quantized.chunks_exact(header.frames).enumerate() {
            for (frame, &q) in plane.iter().enumerate() {
                self.latents[at + frame * channels + channel] = q as f32 * header.step;
            }
        }
        self.spans.push_back(AudioSpan {
            first_frame,
            frames: header.frames,
            samples: header.samples,
            concealed: false,
        });
        self.received_end = Some(first_frame + header.frames as u64);
        Ok(pushed)
    }

    /// Restores the oldest span whose following frames have arrived (or any, with `drain`)
    /// into `out` as interleaved samples in [-1, 1], replacing its contents.
    pub fn decode_next(
        &mut self,
        drain: bool,
        out: &mut Vec<f32>,
    ) -> Result<Option<AudioSpan>, NeuralError> {
        let (Some(&span), Some(received_end)) = (self.spans.front(), self.received_end) else {
            return Ok(None);
        };
        let context = self.shape.context as u64;
        let span_end = span.first_frame + span.frames as u64;
        if !drain && received_end < span_end + context {
            return Ok(None);
        }
        let begin = span
            .first_frame
            .saturating_sub(context)
            .max(self.base_frame);
        let end = (span_end + context).min(received_end);
        let window = (end - begin) as usize;

        // Channel-major for the model.
        let channels = self.shape.latent_channels;
        let frames_at = (begin - self.base_frame) as usize * channels;
        self.input.clear();
        self.input.resize(channels * window, 0.0);
        for (frame, values) in self.latents[frames_at..][..window * channels]
            .chunks_exact(channels)
            .enumerate()
        {
            for (channel, &value) in values.iter().enumerate() {
                self.input[channel * window + frame] = value;
            }
        }
        let latent_name = self.codec.contract.latents.tensor.clone();
        let output_name = self.codec.contract.output.tensor.clone();
        let tensor =
            ort::value::TensorRef::from_array_view(([1usize, channels, window], &self.input[..]))?;
        let session = loaded_session(&mut self.codec.decoder, "decoder")?;
        let outputs = session.run(ort::inputs![latent_name.as_str() => tensor])?;
        let (shape, values) = outputs[output_name.as_str()].try_extract_tensor::<f32>()?;
        let audio_channels = self.shape.channels();
        let length = window * self.shape.hop;
        if shape[..] != [1, audio_channels as i64, length as i64] {
            return Err(NeuralError::Inference(format!(
                "the decoder gave audio of shape {shape:?} for {window} latent frames, where \
                 its contract makes [1, {audio_channels}, {length}]"
            )));
        }
        let skip = (span.first_frame - begin) as usize * self.shape.hop;
        let [low, high] = self.codec.contract.output.range;
        out.clear();
        out.resize(span.samples * audio_channels, 0.0);
        for (channel, plane) in values.chunks_exact(length).enumerate() {
            for (t, &value) in plane[skip..skip + span.samples].iter().enumerate() {
                let sample = (value - low) / (high - low) * 2.0 - 1.0;
                // A model may give out non-finite values; they leave as silence.
                out[t * audio_channels + channel] = if sample.is_finite() {
                    sample.clamp(-1.0, 1.0)
                } else {
                    0.0
                };
            }
        }
        drop(outputs);

        self.spans.pop_front();
        let next = self.spans.front().map_or(span_end, |s| s.first_frame);
        let keep_from = next.saturating_sub(context).max(self.base_frame);
        self.latents
            .drain(..(keep_from - self.base_frame) as usize * channels);
        self.base_frame = keep_from;
        Ok(Some(span))
    }
}
