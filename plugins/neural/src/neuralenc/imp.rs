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

#[derive(Debug, Clone)]
struct Settings {
    model: ModelSettings,
    quality: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: ModelSettings::with_default(DEFAULT_IMAGE_MODEL),
            quality: None,
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
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        if pspec.name() == "quality" {
            settings.quality = Some(value.get().expect("type checked upstream"));
            return;
        }
        settings.model.set(pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        if pspec.name() == "quality" {
            return settings.quality().to_value();
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
        let settings = self.settings.lock().unwrap().model.clone();
        let element = self.obj();
        let (codec, provider) = settings.start(
            Role::Encode,
            element.upcast_ref::<gst::Element>(),
            *CAT,
            NeuralImageCodec::new,
        )?;
        *self.active_provider.lock().unwrap() = Some(provider);
        *self.state.lock().unwrap() = Some(State { codec, info: None });
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
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let quality = self.settings.lock().unwrap().quality();
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;

        let step = state
            .codec
            .contract()
            .step_for_quality(quality as f32 / 100.0);
        state.codec.set_step(step).map_err(|error| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ("{error}"));
            gst::FlowError::Error
        })?;

        let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
        let video_frame = gst_video::VideoFrameRef::from_buffer_ref_readable(input, &info)
            .map_err(|_| gst::FlowError::Error)?;
        let order = match info.format() {
            gst_video::VideoFormat::Bgr => ColourOrder::Bgr,
            _ => ColourOrder::Rgb,
        };
        let packet = state
            .codec
            .encode(&RgbPicture {
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
            .map_err(|error| {
                gst::element_imp_error!(self, gst::StreamError::Encode, ("{error}"));
                gst::FlowError::Error
            })?;
        drop(video_frame);
        drop(state_guard);

        frame.set_output_buffer(gst::Buffer::from_mut_slice(packet));
        frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        self.obj().finish_frame(frame)
    }
}
