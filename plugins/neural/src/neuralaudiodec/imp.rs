// SPDX-License-Identifier: MPL-2.0

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::prelude::*;
use gst_audio::subclass::prelude::*;

use percept::contract::Role;
use percept::neural_audio::{NeuralAudioDecoder, Pushed, MAX_CONCEALED_FRAMES};
use percept::onnx::ExecutionProvider;
use percept::packet::{Packet, MAGIC};

use crate::settings::{
    audio_caps, ModelSettings, DEFAULT_SPEECH_MODEL, ENCODED_AUDIO_TYPE, SPEECH_MODEL_BLURB,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuralaudiodec",
        gst::DebugColorFlags::empty(),
        Some("Learned audio decoder"),
    )
});

const EXAMPLE: &str = "gst-launch-1.0 audiotestsrc num-buffers=50 ! audioconvert \
                       ! audioresample ! neuralaudioenc ! neuralaudiodec ! audioconvert \
                       ! autoaudiosink";

/// An input buffer the base class holds until its audio is finished, in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Packet,
    /// An empty buffer standing for audio lost on the way (GStreamer's packet loss
    /// concealment, on a gap event): finished with concealment of its duration.
    Lost,
    /// Damaged, late, or no packet at all: finished without audio once the buffers before it
    /// are; the gap a lost packet leaves is concealed when the next good one arrives.
    Dropped,
}

struct State {
    decoder: NeuralAudioDecoder,
    info: Option<gst_audio::AudioInfo>,
    /// Each input buffer is one packet (from an encoder or a depayloader), rather than a
    /// piece of a byte stream.
    packetized: bool,
    inputs: VecDeque<Input>,
    /// Restored audio on its way out.
    audio: Vec<f32>,
    latency_frames: Option<usize>,
    dropped: u64,
}

pub struct NeuralAudioDec {
    settings: Mutex<ModelSettings>,
    state: Mutex<Option<State>>,
    active_provider: Mutex<Option<ExecutionProvider>>,
}

impl Default for NeuralAudioDec {
    fn default() -> Self {
        Self {
            settings: Mutex::new(ModelSettings::with_default(DEFAULT_SPEECH_MODEL)),
            state: Mutex::default(),
            active_provider: Mutex::default(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NeuralAudioDec {
    const NAME: &'static str = "GstNeuralAudioDec";
    type Type = super::NeuralAudioDec;
    type ParentType = gst_audio::AudioDecoder;
}

impl ObjectImpl for NeuralAudioDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> =
            LazyLock::new(|| ModelSettings::properties(SPEECH_MODEL_BLURB));
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        self.settings.lock().unwrap().set(pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let active = *self.active_provider.lock().unwrap();
        self.settings
            .lock()
            .unwrap()
            .get(pspec.name(), active)
            .expect("every property is handled")
    }

    fn constructed(&self) {
        self.parent_constructed();
        let element = self.obj();
        element.set_drainable(true);
        // Lost audio that upstream reports (rtpjitterbuffer do-lost=true) is concealed; the
        // base class forgets that the decoder can when it starts, so set_format says so again.
        element.set_plc(true);
    }
}

impl GstObjectImpl for NeuralAudioDec {}

impl ElementImpl for NeuralAudioDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Learned audio decoder",
                "Codec/Decoder/Audio",
                "Decodes audio coded by neuralaudioenc with the same learned codec",
                "The percept developers",
                &[("Example", EXAMPLE)],
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &gst::Caps::new_empty_simple(ENCODED_AUDIO_TYPE),
            )
            .unwrap();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &audio_caps(None),
            )
            .unwrap();
            vec![src, sink]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl NeuralAudioDec {
    /// Restores what is ready (everything, with `drain`) and finishes the input buffers it
    /// covers, in order: a packet's buffer with its audio, a buffer that carried no usable
    /// packet with nothing as soon as those before it are done. Concealment of a gap leaves as
    /// a buffer of its own (a subframe of the packet after the gap), timed after the audio
    /// before it. Returns with the state lock released.
    fn push_ready<'a>(
        &'a self,
        mut state_guard: std::sync::MutexGuard<'a, Option<State>>,
        drain: bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let element = self.obj();
        loop {
            let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let mut dropped = 0;
            while state.inputs.front() == Some(&Input::Dropped) {
                state.inputs.pop_front();
                dropped += 1;
            }
            if dropped > 0 {
                drop(state_guard);
                for _ in 0..dropped {
                    element.finish_frame(None, 1)?;
                }
                state_guard = self.state.lock().unwrap();
                continue;
            }
            if state.info.is_none() {
                drop(state_guard);
                self.negotiate_output()?;
                state_guard = self.state.lock().unwrap();
                continue;
            }
            let span = match state.decoder.decode_next(drain, &mut state.audio) {
                Ok(Some(span)) => span,
                Ok(None) => break,
                Err(error) => {
                    gst::element_imp_error!(self, gst::StreamError::Decode, ("{error}"));
                    return Err(gst::FlowError::Error);
                }
            };
            if !span.concealed && state.inputs.pop_front() != Some(Input::Packet) {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Decode,
                    ("Restored audio for a packet that was never received")
                );
                return Err(gst::FlowError::Error);
            }
            // Concealment reported lost by GStreamer finishes its empty buffer; concealment of
            // a gap found in the frame indices goes out ahead of the packet that revealed it,
            // timed after the audio before it.
            let subframe = span.concealed && state.inputs.front() != Some(&Input::Lost);
            if span.concealed && !subframe {
                state.inputs.pop_front();
            }
            let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
            let buffer = samples_to_buffer(&state.audio, &info)?;
            drop(state_guard);
            if subframe {
                element.finish_subframe(Some(buffer))?;
            } else {
                element.finish_frame(Some(buffer), 1)?;
            }
            state_guard = self.state.lock().unwrap();
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn warn_dropped(&self, state: &mut State, error: &dyn std::fmt::Display) {
        state.dropped += 1;
        gst::element_imp_warning!(
            self,
            gst::StreamError::Decode,
            ("Dropped a packet: {error}"),
            ["{} dropped so far", state.dropped]
        );
    }

    /// Sets the output to the model's rate and channels in the sample format downstream
    /// prefers. Called on new caps, or before the first output when none came (a file linked
    /// straight to the decoder).
    fn negotiate_output(&self) -> Result<gst_audio::AudioInfo, gst::FlowError> {
        let (rate, channels) = {
            let state_guard = self.state.lock().unwrap();
            let state = state_guard.as_ref().ok_or(gst::FlowError::Flushing)?;
            (state.decoder.rate(), state.decoder.channels())
        };
        let element = self.obj();
        let allowed = element
            .src_pad()
            .allowed_caps()
            .unwrap_or_else(|| audio_caps(None));
        let mut caps = allowed.intersect(&audio_caps(Some((rate, channels))));
        caps.fixate();
        let info = gst_audio::AudioInfo::from_caps(&caps).map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Downstream takes no {rate} Hz audio with {channels} channels")
            );
            gst::FlowError::NotNegotiated
        })?;
        element.set_output_format(&info)?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info.clone());
        }
        Ok(info)
    }

    /// The latency of waiting for the frames after a packet, when a packet larger than any
    /// before raises it.
    fn raised_latency(&self, state: &mut State, packet_frames: usize) -> Option<gst::ClockTime> {
        let context = state.decoder.context_frames();
        let frames = context.div_ceil(packet_frames.max(1)) * packet_frames;
        if state.latency_frames.is_some_and(|known| known >= frames) {
            return None;
        }
        state.latency_frames = Some(frames);
        let samples = (frames * state.decoder.frame_samples()) as u64;
        gst::ClockTime::SECOND.mul_div_ceil(samples, state.decoder.rate() as u64)
    }
}

/// Interleaved samples in [-1, 1] into a buffer of the negotiated format.
fn samples_to_buffer(
    samples: &[f32],
    info: &gst_audio::AudioInfo,
) -> Result<gst::Buffer, gst::FlowError> {
    let width = info.format_info().width() as usize / 8;
    let mut buffer =
        gst::Buffer::with_size(samples.len() * width).map_err(|_| gst::FlowError::Error)?;
    {
        let buffer = buffer.get_mut().expect("a new buffer is writable");
        let mut map = buffer.map_writable().map_err(|_| gst::FlowError::Error)?;
        match info.format() {
            gst_audio::AudioFormat::S16le => {
                for (out, &sample) in map.chunks_exact_mut(2).zip(samples) {
                    let value = (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                    out.copy_from_slice(&value.to_le_bytes());
                }
            }
            gst_audio::AudioFormat::F32le => {
                for (out, &sample) in map.chunks_exact_mut(4).zip(samples) {
                    out.copy_from_slice(&sample.to_le_bytes());
                }
            }
            _ => return Err(gst::FlowError::NotNegotiated),
        }
    }
    Ok(buffer)
}

impl AudioDecoderImpl for NeuralAudioDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let element = self.obj();
        let (decoder, provider) = settings.start(
            Role::Decode,
            element.upcast_ref::<gst::Element>(),
            *CAT,
            NeuralAudioDecoder::new,
        )?;
        *self.active_provider.lock().unwrap() = Some(provider);
        // The output is timed by its samples from the first packet on; input timestamps
        // that disagree by less than the longest concealment (packets lost on the way, whose
        // audio is made up here) must not move it.
        let concealable = (MAX_CONCEALED_FRAMES as u64 + 1) * decoder.frame_samples() as u64;
        if let Some(tolerance) =
            gst::ClockTime::SECOND.mul_div_ceil(concealable, decoder.rate() as u64)
        {
            element.set_tolerance(tolerance);
        }
        *self.state.lock().unwrap() = Some(State {
            decoder,
            info: None,
            packetized: false,
            inputs: VecDeque::new(),
            audio: Vec::new(),
            latency_frames: None,
            dropped: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        *self.active_provider.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "not started"))?;
        let (rate, channels) = (state.decoder.rate(), state.decoder.channels());
        let structure = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        for (field, value) in [("rate", rate), ("channels", channels)] {
            if let Ok(declared) = structure.get::<i32>(field) {
                if declared != value as i32 {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ("The stream has {field} {declared}, but the model decodes \
                             {rate} Hz audio with {channels} channels")
                    );
                    return Err(gst::loggable_error!(CAT, "stream of another model"));
                }
            }
        }
        state.packetized = structure.get::<bool>("parsed").unwrap_or(false);
        drop(state_guard);
        self.obj().set_plc_aware(true);
        self.negotiate_output()
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused the model's audio"))?;
        Ok(())
    }

    /// A stored stream read from a file comes in a byte segment, which GStreamer's audio decoder
    /// base class does not take; the stream carries no index, so it plays from its start, timed
    /// by its samples, as in a time segment from zero.
    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            // Everything received is restored now: when bytes at the end of a stored stream
            // are no whole packet, the base class would not ask for a drain.
            if let Err(flow) = self.push_ready(self.state.lock().unwrap(), true) {
                gst::warning!(CAT, imp = self, "draining at EOS failed: {flow:?}");
            }
        }
        if let gst::EventView::Segment(segment) = event.view() {
            if segment.segment().format() == gst::Format::Bytes {
                let time = gst::FormattedSegment::<gst::ClockTime>::new();
                let replaced = gst::event::Segment::builder(&time)
                    .seqnum(event.seqnum())
                    .build();
                return self.parent_sink_event(replaced);
            }
        }
        self.parent_sink_event(event)
    }

    /// Splits what has arrived into packets, so that streams read from files (where buffers do
    /// not follow packets) decode as well as packets from an encoder or a depayloader. A packet
    /// is checked whole before it is taken, so that a damaged length field cannot swallow the
    /// packets after it; bytes that are no packet go out as frames of their own, which
    /// handle_frame drops.
    fn parse(&self, adapter: &gst_base::Adapter) -> Result<(u32, u32), gst::FlowError> {
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let available = adapter.available();
        if state.packetized {
            // Each buffer is a packet, whole or damaged: handle_frame checks it.
            return if available > 0 {
                Ok((0, available as u32))
            } else {
                Err(gst::FlowError::Eos)
            };
        }
        let buffer = adapter
            .buffer_fast(available)
            .map_err(|_| gst::FlowError::Error)?;
        let bytes = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let Some(start) = bytes.windows(MAGIC.len()).position(|w| w == MAGIC) else {
            // All but a magic split across buffers is junk.
            let junk = available.saturating_sub(MAGIC.len() - 1);
            return if junk > 0 {
                Ok((0, junk as u32))
            } else {
                // Base classes take this as "more data needed".
                Err(gst::FlowError::Eos)
            };
        };
        if start > 0 {
            return Ok((0, start as u32));
        }
        if available < NeuralAudioDecoder::START_LEN {
            return Err(gst::FlowError::Eos);
        }
        let damage = match state.decoder.check_packet_start(&bytes) {
            Ok(length) if length > available => return Err(gst::FlowError::Eos),
            Ok(length) => match Packet::parse(&bytes[..length]) {
                Ok(_) => return Ok((0, length as u32)),
                Err(error) => error.to_string(),
            },
            Err(error) => error.to_string(),
        };
        // A damaged packet: its first byte goes out as junk, and the search goes on inside it.
        self.warn_dropped(state, &damage);
        Ok((0, 1))
    }

    fn handle_frame(
        &self,
        buffer: Option<&gst::Buffer>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state_guard = self.state.lock().unwrap();
        let Some(buffer) = buffer else {
            return self.push_ready(state_guard, true);
        };
        if buffer.size() == 0 {
            // Packet loss concealment: the base class stands in for lost audio with an empty
            // buffer timed where it was lost.
            let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let hop = state.decoder.frame_samples() as u64;
            let samples = buffer.duration().map_or(0, |duration| {
                duration.nseconds() * state.decoder.rate() as u64
                    / gst::ClockTime::SECOND.nseconds()
            });
            let frames = ((samples + hop / 2) / hop) as usize;
            if state.decoder.conceal_lost(frames) {
                gst::debug!(CAT, imp = self, "concealing {frames} frames reported lost");
                state.inputs.push_back(Input::Lost);
            } else {
                state.inputs.push_back(Input::Dropped);
            }
            return self.push_ready(state_guard, false);
        }
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        if !map.starts_with(&MAGIC) {
            let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            // Before the first packet this is a file's preamble; inside the stream, damage.
            if state.decoder.started() {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Decode,
                    ("Dropped {} bytes that hold no packet", map.len())
                );
            } else {
                gst::debug!(
                    CAT,
                    imp = self,
                    "skipping {} bytes before a packet",
                    map.len()
                );
            }
            state.inputs.push_back(Input::Dropped);
            drop(map);
            return self.push_ready(state_guard, false);
        }
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let mut pushed = state.decoder.push(&map);
        if pushed.as_ref().is_ok_and(|p| *p == Pushed::Discontinuity) {
            // A new stream: hand on the old one's end first.
            gst::debug!(CAT, imp = self, "discontinuity: draining");
            self.push_ready(state_guard, true)?;
            state_guard = self.state.lock().unwrap();
            let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            state.decoder.reset();
            pushed = state.decoder.push(&map);
        }
        drop(map);
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let mut latency = None;
        match pushed {
            Ok(Pushed::Late) => {
                gst::debug!(CAT, imp = self, "dropping a packet that came too late");
                state.inputs.push_back(Input::Dropped);
            }
            Ok(pushed) => {
                if let Pushed::AfterGap { concealed_frames } = pushed {
                    gst::info!(CAT, imp = self, "concealing {concealed_frames} lost frames");
                }
                state.inputs.push_back(Input::Packet);
                if let Some(frames) = state.decoder.last_packet_frames() {
                    latency = self.raised_latency(state, frames);
                }
            }
            Err(error) => {
                state.inputs.push_back(Input::Dropped);
                self.warn_dropped(state, &error);
            }
        }
        let flow = self.push_ready(state_guard, false);
        if let Some(latency) = latency {
            gst::debug!(CAT, imp = self, "latency {latency}");
            self.obj().set_latency(latency, Some(latency));
        }
        flow
    }

    fn flush(&self, hard: bool) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.inputs.clear();
            // A soft flush follows a discontinuity in the input (a packet lost on a network
            // marks the next one): the stream goes on, but the base class now times the
            // output afresh from the next packet, so frames missing before it are passed
            // over rather than concealed (losses that GStreamer reports with a gap event
            // are concealed, in place). A hard flush (a seek) starts anew.
            if hard {
                state.decoder.reset();
            } else {
                state.decoder.skip_next_gap();
            }
        }
    }
}
