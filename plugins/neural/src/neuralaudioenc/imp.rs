// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_audio::prelude::*;
use gst_audio::subclass::prelude::*;

use percept::contract::Role;
use percept::neural_audio::{NeuralAudioEncoder, MAX_PACKET_FRAMES};
use percept::onnx::ExecutionProvider;

use crate::settings::{
    audio_caps, ModelSettings, DEFAULT_SPEECH_MODEL, ENCODED_AUDIO_TYPE, SPEECH_MODEL_BLURB,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuralaudioenc",
        gst::DebugColorFlags::empty(),
        Some("Learned audio encoder"),
    )
});

const EXAMPLE: &str = "gst-launch-1.0 audiotestsrc num-buffers=50 ! audioconvert \
                       ! audioresample ! neuralaudioenc ! neuralaudiodec ! audioconvert \
                       ! autoaudiosink";
const DEFAULT_QUALITY: u32 = 20;
const DEFAULT_FRAMES_PER_PACKET: u32 = 10;

#[derive(Debug, Clone)]
struct Settings {
    model: ModelSettings,
    quality: u32,
    frames_per_packet: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::with_default(DEFAULT_SPEECH_MODEL),
            quality: DEFAULT_QUALITY,
            frames_per_packet: DEFAULT_FRAMES_PER_PACKET,
        }
    }
}

struct State {
    encoder: NeuralAudioEncoder,
    format: Option<gst_audio::AudioFormat>,
    frames_per_packet: usize,
    packet: Vec<u8>,
}

#[derive(Default)]
pub struct NeuralAudioEnc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    active_provider: Mutex<Option<ExecutionProvider>>,
}

#[glib::object_subclass]
impl ObjectSubclass for NeuralAudioEnc {
    const NAME: &'static str = "GstNeuralAudioEnc";
    type Type = super::NeuralAudioEnc;
    type ParentType = gst_audio::AudioEncoder;
}

impl ObjectImpl for NeuralAudioEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = ModelSettings::properties(SPEECH_MODEL_BLURB);
            properties.push(
                glib::ParamSpecUInt::builder("quality")
                    .nick("Quality")
                    .blurb(
                        "Quality from 0 to 100: sets the latent quantizer step, from the \
                         largest the model was trained for (0) to the smallest (100)",
                    )
                    .maximum(100)
                    .default_value(DEFAULT_QUALITY)
                    .mutable_playing()
                    .build(),
            );
            properties.push(
                glib::ParamSpecUInt::builder("frames-per-packet")
                    .nick("Frames per packet")
                    .blurb(
                        "Latent frames coded together in one packet: more frames cost less \
                         per frame (in bits and in computation) and add latency; at most what \
                         a packet can count (204 frames of 320 samples for the shipped model)",
                    )
                    .minimum(1)
                    .maximum(MAX_PACKET_FRAMES as u32)
                    .default_value(DEFAULT_FRAMES_PER_PACKET)
                    .mutable_ready()
                    .build(),
            );
            properties
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Caps queries offer only the model's rate and channels, so that converters upstream
        // pick them; caps that arrive anyway are refused in set_format with the reason.
        self.obj()
            .sink_pad()
            .set_pad_flags(gst::PadFlags::ACCEPT_TEMPLATE);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => settings.quality = value.get().expect("type checked upstream"),
            "frames-per-packet" => {
                settings.frames_per_packet = value.get().expect("type checked upstream")
            }
            name => {
                settings.model.set(name, value);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => settings.quality.to_value(),
            "frames-per-packet" => settings.frames_per_packet.to_value(),
            name => {
                let active = *self.active_provider.lock().unwrap();
                settings
                    .model
                    .get(name, active)
                    .expect("every property is handled")
            }
        }
    }
}

impl GstObjectImpl for NeuralAudioEnc {}

impl ElementImpl for NeuralAudioEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Learned audio encoder",
                "Codec/Encoder/Audio",
                "Codes audio with a learned audio codec through ONNX Runtime",
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
                &audio_caps(None),
            )
            .unwrap();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &gst::Caps::new_empty_simple(ENCODED_AUDIO_TYPE),
            )
            .unwrap();
            vec![src, sink]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl NeuralAudioEnc {
    /// Codes one packet if one is ready and pushes it; false when none was.
    fn push_packet(&self, drain: bool) -> Result<bool, gst::FlowError> {
        let quality = self.settings.lock().unwrap().quality;
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let step = state
            .encoder
            .contract()
            .step_for_quality(quality as f32 / 100.0);
        let coded = state.encoder.set_step(step).and_then(|()| {
            state
                .encoder
                .encode_next(state.frames_per_packet, drain, &mut state.packet)
        });
        let span = match coded {
            Ok(Some(span)) => span,
            Ok(None) => return Ok(false),
            Err(error) => {
                gst::element_imp_error!(self, gst::StreamError::Encode, ("{error}"));
                return Err(gst::FlowError::Error);
            }
        };
        let buffer = gst::Buffer::from_mut_slice(std::mem::take(&mut state.packet));
        drop(state_guard);
        self.obj().finish_frame(Some(buffer), span.samples as i32)?;
        Ok(true)
    }
}

impl AudioEncoderImpl for NeuralAudioEnc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let element = self.obj();
        let (encoder, provider) = settings.model.start(
            Role::Encode,
            element.upcast_ref::<gst::Element>(),
            *CAT,
            NeuralAudioEncoder::new,
        )?;
        *self.active_provider.lock().unwrap() = Some(provider);
        let frames_per_packet =
            (settings.frames_per_packet as usize).min(encoder.max_packet_frames());
        *self.state.lock().unwrap() = Some(State {
            encoder,
            format: None,
            frames_per_packet,
            packet: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        *self.active_provider.lock().unwrap() = None;
        Ok(())
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> gst::Caps {
        let model = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(|state| (state.encoder.rate(), state.encoder.channels()));
        match model {
            Some(model) => self
                .obj()
                .proxy_getcaps(Some(&audio_caps(Some(model))), filter),
            None => self.parent_caps(filter),
        }
    }

    fn set_format(&self, info: &gst_audio::AudioInfo) -> Result<(), gst::LoggableError> {
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "not started"))?;
        let encoder = &mut state.encoder;
        let (rate, channels) = (encoder.rate(), encoder.channels());
        if (info.rate(), info.channels()) != (rate, channels) {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "Model {} takes {rate} Hz audio with {channels} channels, not {} Hz with {}: \
                     put audioresample and audioconvert before the encoder",
                    encoder.contract().name,
                    info.rate(),
                    info.channels()
                )
            );
            return Err(gst::loggable_error!(CAT, "unsupported sample format"));
        }
        encoder.reset();
        state.format = Some(info.format());

        let hop = encoder.frame_samples() as u64;
        let lookahead = (state.frames_per_packet + encoder.context_frames()) as u64 * hop;
        let latency = gst::ClockTime::SECOND
            .mul_div_ceil(lookahead, rate as u64)
            .expect("a latency of a few frames");
        let caps = gst::Caps::builder(ENCODED_AUDIO_TYPE)
            .field("rate", rate as i32)
            .field("channels", channels as i32)
            .field("model", encoder.contract().name.as_str())
            .field("parsed", true)
            .build();
        drop(state_guard);

        let element = self.obj();
        element.set_latency(latency, Some(latency));
        element
            .set_output_format(&caps)
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused {caps}"))?;
        gst::debug!(
            CAT,
            imp = self,
            "{rate} Hz, {channels} channels, latency {latency}"
        );
        Ok(())
    }

    fn handle_frame(
        &self,
        buffer: Option<&gst::Buffer>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(buffer) = buffer else {
            while self.push_packet(true)? {}
            // Drained (at EOS, a new segment or a gap): what comes next is a new stream.
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.encoder.reset();
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        {
            let mut state_guard = self.state.lock().unwrap();
            let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            match state.format {
                Some(gst_audio::AudioFormat::S16le) => state.encoder.push(
                    map.chunks_exact(2)
                        .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0),
                ),
                Some(gst_audio::AudioFormat::F32le) => state.encoder.push(
                    map.chunks_exact(4)
                        .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
                ),
                _ => return Err(gst::FlowError::NotNegotiated),
            }
        }
        while self.push_packet(false)? {}
        Ok(gst::FlowSuccess::Ok)
    }

    fn flush(&self) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.encoder.reset();
        }
    }
}
