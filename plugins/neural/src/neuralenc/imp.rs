// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use percept::contract::{ColourOrder, Role};
use percept::neural::{NeuralImageCodec, RgbPicture};
use percept::onnx::ExecutionProvider;
use percept::video::FrameRate;

use crate::settings::{ModelSettings, DEFAULT_IMAGE_MODEL, ENCODED_MEDIA_TYPE, IMAGE_MODEL_BLURB};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuralenc",
        gst::DebugColorFlags::empty(),
        Some("Learned image encoder"),
    )
});

const EXAMPLE: &str = "gst-launch-1.0 videotestsrc num-buffers=10 ! videoconvert \
                       ! neuralenc quality=60 ! neuraldec ! videoconvert ! autovideosink";
const DEFAULT_QUALITY: u32 = 75;
const MAX_BATCH_SIZE: u32 = 64;

#[derive(Debug, Clone)]
struct Settings {
    model: ModelSettings,
    quality: Option<u32>,
    batch_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::with_default(DEFAULT_IMAGE_MODEL),
            quality: None,
            batch_size: 1,
        }
    }
}

impl Settings {
    fn quality(&self) -> u32 {
        self.quality.unwrap_or(DEFAULT_QUALITY)
    }
}

struct State {
    codec: NeuralImageCodec,
    info: Option<gst_video::VideoInfo>,
    batch_size: usize,
    /// Frames waiting for their batch to fill, by system frame number.
    pending: Vec<u32>,
    packets: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct NeuralEnc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    active_provider: Mutex<Option<ExecutionProvider>>,
}

#[glib::object_subclass]
impl ObjectSubclass for NeuralEnc {
    const NAME: &'static str = "GstNeuralEnc";
    type Type = super::NeuralEnc;
    type ParentType = gst_video::VideoEncoder;
}

impl ObjectImpl for NeuralEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = ModelSettings::properties(IMAGE_MODEL_BLURB);
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
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb(
                        "Frames coded together in one run of the model (for parallel \
                         hardware); adds the time of the frames it waits for to the latency",
                    )
                    .minimum(1)
                    .maximum(MAX_BATCH_SIZE)
                    .default_value(1)
                    .mutable_ready()
                    .build(),
            );
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => settings.quality = Some(value.get().expect("type checked upstream")),
            "batch-size" => settings.batch_size = value.get().expect("type checked upstream"),
            name => {
                settings.model.set(name, value);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => return settings.quality().to_value(),
            "batch-size" => return settings.batch_size.to_value(),
            _ => {}
        }
        let active = *self.active_provider.lock().unwrap();
        settings
            .model
            .get(pspec.name(), active)
            .expect("every property is handled")
    }
}

impl GstObjectImpl for NeuralEnc {}

impl ElementImpl for NeuralEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Learned image encoder",
                "Codec/Encoder/Video",
                "Codes pictures with a learned image codec through ONNX Runtime",
                "The percept developers",
                &[("Example", EXAMPLE)],
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink_caps = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Bgr])
                .width_range(1..=16384)
                .height_range(1..=16384)
                .build();
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &sink_caps,
            )
            .unwrap();
            let src_caps = gst::Caps::builder(ENCODED_MEDIA_TYPE)
                .field("parsed", true)
                .build();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &src_caps,
            )
            .unwrap();
            vec![src, sink]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl VideoEncoderImpl for NeuralEnc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let element = self.obj();
        let (codec, provider) = settings.model.start(
            Role::Encode,
            element.upcast_ref::<gst::Element>(),
            *CAT,
            NeuralImageCodec::new,
        )?;
        *self.active_provider.lock().unwrap() = Some(provider);
        let batch_size = settings.batch_size as usize;
        *self.state.lock().unwrap() = Some(State {
            codec,
            info: None,
            batch_size,
            pending: Vec::with_capacity(batch_size),
            packets: Vec::with_capacity(batch_size),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        *self.active_provider.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        // Frames of the old format go out first.
        self.encode_pending(self.state.lock().unwrap())
            .map_err(|flow| gst::loggable_error!(CAT, "coding the last batch failed: {flow:?}"))?;
        let info = state.info().clone();
        let caps = gst::Caps::builder(ENCODED_MEDIA_TYPE)
            .field("format", info.format().to_str())
            .field("parsed", true)
            .build();
        let element = self.obj();
        let output_state = element
            .set_output_state(caps, Some(state))
            .map_err(|_| gst::loggable_error!(CAT, "failed to set output state"))?;
        element
            .negotiate(output_state)
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused {ENCODED_MEDIA_TYPE}"))?;
        gst::debug!(
            CAT,
            imp = self,
            "negotiated {}x{} {}",
            info.width(),
            info.height(),
            info.format()
        );
        let mut state_guard = self.state.lock().unwrap();
        if let Some(state) = state_guard.as_mut() {
            // A batch waits for its last frame.
            let fps = info.fps();
            if fps.numer() > 0 {
                let waiting = (state.batch_size - 1) as u64;
                let latency = gst::ClockTime::SECOND
                    .mul_div_ceil(waiting * fps.denom() as u64, fps.numer() as u64)
                    .unwrap_or(gst::ClockTime::ZERO);
                drop(state_guard);
                element.set_latency(latency, Some(latency));
                state_guard = self.state.lock().unwrap();
            }
            if let Some(state) = state_guard.as_mut() {
                let fps = info.fps();
                state.codec.set_frame_rate(FrameRate {
                    numerator: fps.numer().max(0) as u32,
                    denominator: fps.denom().max(1) as u32,
                });
                state.info = Some(info);
            }
        }
        Ok(())
    }

    fn handle_frame(
        &self,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let id = frame.system_frame_number();
        // The base class holds the frame until it is finished.
        drop(frame);
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        state.pending.push(id);
        if state.pending.len() < state.batch_size {
            return Ok(gst::FlowSuccess::Ok);
        }
        self.encode_pending(state_guard)
    }

    fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.encode_pending(self.state.lock().unwrap())
    }

    fn flush(&self) -> bool {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.pending.clear();
        }
        true
    }
}

impl NeuralEnc {
    /// Codes the frames waiting for their batch in one model run and finishes them in order.
    /// Returns with the state lock released.
    fn encode_pending(
        &self,
        mut state_guard: std::sync::MutexGuard<'_, Option<State>>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(state) = state_guard.as_mut() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        if state.pending.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let quality = self.settings.lock().unwrap().quality();
        let step = state
            .codec
            .contract()
            .step_for_quality(quality as f32 / 100.0);
        state.codec.set_step(step).map_err(|error| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ("{error}"));
            gst::FlowError::Error
        })?;

        let element = self.obj();
        let frames = state
            .pending
            .drain(..)
            .map(|id| element.frame(id as i32).ok_or(gst::FlowError::Error))
            .collect::<Result<Vec<_>, _>>()?;
        let order = match info.format() {
            gst_video::VideoFormat::Bgr => ColourOrder::Bgr,
            _ => ColourOrder::Rgb,
        };
        let video_frames = frames
            .iter()
            .map(|frame| {
                let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
                gst_video::VideoFrameRef::from_buffer_ref_readable(input, &info)
                    .map_err(|_| gst::FlowError::Error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pictures = video_frames
            .iter()
            .map(|video_frame| {
                Ok(RgbPicture {
                    pixels: video_frame
                        .plane_data(0)
                        .map_err(|_| gst::FlowError::Error)?,
                    width: info.width(),
                    height: info.height(),
                    stride: usize::try_from(video_frame.plane_stride()[0]).map_err(|_| {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("Frames with a negative stride are not supported")
                        );
                        gst::FlowError::NotSupported
                    })?,
                    order,
                })
            })
            .collect::<Result<Vec<_>, gst::FlowError>>()?;
        state.packets.clear();
        state
            .codec
            .encode_batch(&pictures, &mut state.packets)
            .map_err(|error| {
                gst::element_imp_error!(self, gst::StreamError::Encode, ("{error}"));
                gst::FlowError::Error
            })?;
        drop(pictures);
        drop(video_frames);
        let packets = std::mem::take(&mut state.packets);
        drop(state_guard);

        for (mut frame, packet) in frames.into_iter().zip(packets) {
            frame.set_output_buffer(gst::Buffer::from_mut_slice(packet));
            frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
            element.finish_frame(frame)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
