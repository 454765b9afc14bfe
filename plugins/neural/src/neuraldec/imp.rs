// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use percept::contract::{ColourOrder, Role};
use percept::neural::{self, NeuralError, NeuralImageCodec, RgbPictureMut};
use percept::onnx::ExecutionProvider;
use percept_gst::bytestream::next_packet;

use crate::settings::{ModelSettings, DEFAULT_IMAGE_MODEL, ENCODED_MEDIA_TYPE, IMAGE_MODEL_BLURB};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "neuraldec",
        gst::DebugColorFlags::empty(),
        Some("Learned image decoder"),
    )
});

const EXAMPLE: &str = "gst-launch-1.0 videotestsrc num-buffers=10 ! videoconvert \
                       ! neuralenc ! neuraldec ! videoconvert ! autovideosink";

struct State {
    codec: NeuralImageCodec,
    input_state:
        Option<gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>>,
    /// Format and size the negotiated output caps describe.
    output: Option<(gst_video::VideoFormat, u32, u32)>,
    format: gst_video::VideoFormat,
    /// The last packet that decoded, repeated in place of damaged ones.
    last_good: Option<gst::Buffer>,
    dropped: u64,
}

pub struct NeuralDec {
    settings: Mutex<ModelSettings>,
    state: Mutex<Option<State>>,
    active_provider: Mutex<Option<ExecutionProvider>>,
}

impl Default for NeuralDec {
    fn default() -> Self {
        Self {
            settings: Mutex::new(ModelSettings::with_default(DEFAULT_IMAGE_MODEL)),
            state: Mutex::default(),
            active_provider: Mutex::default(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NeuralDec {
    const NAME: &'static str = "GstNeuralDec";
    type Type = super::NeuralDec;
    type ParentType = gst_video::VideoDecoder;
}

impl ObjectImpl for NeuralDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> =
            LazyLock::new(|| ModelSettings::properties(IMAGE_MODEL_BLURB));
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
        // Without caps saying otherwise (a file read without typefinding), the input is a
        // byte stream.
        self.obj().set_packetized(false);
    }
}

impl GstObjectImpl for NeuralDec {}

impl ElementImpl for NeuralDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Learned image decoder",
                "Codec/Decoder/Video",
                "Decodes pictures coded by neuralenc with the same learned codec",
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
                // Packets or a byte stream of them (set_format tells which).
                &gst::Caps::new_empty_simple(ENCODED_MEDIA_TYPE),
            )
            .unwrap();
            let src_caps = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Bgr])
                .width_range(1..=16384)
                .height_range(1..=16384)
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

impl NeuralDec {
    /// Decodes `bytes` into `frame`, negotiating the picture size first and allocating the
    /// frame's buffer if it has none. The outer error stops the stream; the inner one is the
    /// packet's fault.
    fn decode_into(
        &self,
        state: &mut State,
        frame: &mut gst_video::VideoCodecFrame,
        bytes: &[u8],
    ) -> Result<Result<(), NeuralError>, gst::FlowError> {
        let (width, height, frame_rate) = match state.codec.inspect(bytes) {
            Ok(info) => (info.width, info.height, info.frame_rate),
            Err(error) => return Ok(Err(error)),
        };
        let wanted = (state.format, width, height);
        if state.output != Some(wanted) {
            let element = self.obj();
            let negotiated = element
                .set_output_state(state.format, width, height, state.input_state.as_ref())
                .and_then(|mut output_state| {
                    // A stored stream's caps say no frame rate; its packets do, and time it.
                    let declared = (
                        i32::try_from(frame_rate.numerator),
                        i32::try_from(frame_rate.denominator),
                    );
                    if let (0, (Ok(numerator @ 1..), Ok(denominator @ 1..))) =
                        (output_state.info().fps().numer(), declared)
                    {
                        if let Ok(info) =
                            gst_video::VideoInfo::builder_from_info(output_state.info())
                                .fps(gst::Fraction::new(numerator, denominator))
                                .build()
                        {
                            output_state.set_info(info);
                        }
                    }
                    element.negotiate(output_state)
                });
            if let Err(flow) = negotiated {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    (
                        "Downstream does not accept {width}x{height} {}, the picture the \
                         stream holds",
                        state.format
                    )
                );
                return Err(flow);
            }
            state.output = Some(wanted);
        }
        let info = self
            .obj()
            .output_state()
            .ok_or(gst::FlowError::NotNegotiated)?
            .info()
            .clone();
        // A frame being concealed may hold a buffer allocated for a damaged packet's size.
        match frame.output_buffer() {
            None => self.obj().allocate_output_frame(frame, None)?,
            Some(buffer) if buffer.size() != info.size() => {
                let buffer = self
                    .obj()
                    .allocate_output_buffer()
                    .map_err(|_| gst::FlowError::Error)?;
                frame.set_output_buffer(buffer);
                gst::FlowSuccess::Ok
            }
            Some(_) => gst::FlowSuccess::Ok,
        };
        let order = if state.format == gst_video::VideoFormat::Bgr {
            ColourOrder::Bgr
        } else {
            ColourOrder::Rgb
        };
        let output = frame.output_buffer_mut().ok_or(gst::FlowError::Error)?;
        let mut video_frame = gst_video::VideoFrameRef::from_buffer_ref_writable(output, &info)
            .map_err(|_| gst::FlowError::Error)?;
        let stride = usize::try_from(video_frame.plane_stride()[0]).map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Output frames with a negative stride are not supported")
            );
            gst::FlowError::NotSupported
        })?;
        let pixels = video_frame
            .plane_data_mut(0)
            .map_err(|_| gst::FlowError::Error)?;
        Ok(state.codec.decode(
            bytes,
            RgbPictureMut {
                pixels,
                width,
                height,
                stride,
                order,
            },
        ))
    }

    /// Stands in for a packet that cannot be decoded: the previous picture again, so that the
    /// frame keeps its place in time, or, before any picture, nothing. Warns either way.
    fn conceal(
        &self,
        mut state_guard: std::sync::MutexGuard<'_, Option<State>>,
        mut frame: gst_video::VideoCodecFrame,
        error: &NeuralError,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let repeated = match state.last_good.clone() {
            Some(previous) => {
                let bytes = previous.map_readable().map_err(|_| gst::FlowError::Error)?;
                self.decode_into(state, &mut frame, &bytes)?.is_ok()
            }
            None => false,
        };
        if repeated {
            state.dropped += 1;
            let dropped = state.dropped;
            drop(state_guard);
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                ("Repeated the previous picture for a damaged packet: {error}"),
                ["{dropped} damaged so far"]
            );
            self.obj().finish_frame(frame)
        } else {
            self.warn_dropped(state, error);
            drop(state_guard);
            self.obj().drop_frame(frame)
        }
    }

    fn warn_dropped(&self, state: &mut State, error: &dyn std::fmt::Display) {
        state.dropped += 1;
        gst::element_imp_warning!(
            self,
            gst::StreamError::Decode,
            ("Dropped a packet: {error}"),
            ["{} damaged so far", state.dropped]
        );
    }
}

impl VideoDecoderImpl for NeuralDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let element = self.obj();
        let (codec, provider) = settings.start(
            Role::Decode,
            element.upcast_ref::<gst::Element>(),
            *CAT,
            NeuralImageCodec::new,
        )?;
        *self.active_provider.lock().unwrap() = Some(provider);
        *self.state.lock().unwrap() = Some(State {
            codec,
            input_state: None,
            output: None,
            format: gst_video::VideoFormat::Rgb,
            last_good: None,
            dropped: 0,
        });
        Ok(())
    }

    fn flush(&self) -> bool {
        // After a seek the previous picture is no stand-in for anything.
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.last_good = None;
        }
        true
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        *self.active_provider.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        input_state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let caps = input_state
            .caps()
            .ok_or_else(|| gst::loggable_error!(CAT, "input state without caps"))?;
        // Encoders and depayloaders deliver one packet per buffer; anything else (a file) is a
        // byte stream to split.
        let packetized = caps
            .structure(0)
            .and_then(|s| s.get::<bool>("parsed").ok())
            .unwrap_or(false);
        self.obj().set_packetized(packetized);
        let format = caps
            .structure(0)
            .and_then(|s| s.get::<&str>("format").ok())
            .map(gst_video::VideoFormat::from_string)
            .filter(|f| *f == gst_video::VideoFormat::Bgr)
            .unwrap_or(gst_video::VideoFormat::Rgb);
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "not started"))?;
        state.input_state = Some(input_state.clone());
        state.output = None;
        state.last_good = None;
        state.format = format;
        Ok(())
    }

    fn parse(
        &self,
        _frame: &gst_video::VideoCodecFrame,
        adapter: &gst_base::Adapter,
        at_eos: bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let element = self.obj();
        let found = next_packet(
            adapter,
            at_eos,
            element.upcast_ref(),
            *CAT,
            neural::check_packet_start,
            |error| {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    self.warn_dropped(state, error);
                }
            },
        )?;
        match found {
            Some(length) => {
                element.add_to_frame(length as i32);
                element.have_frame()
            }
            None => Ok(gst_video::VIDEO_DECODER_FLOW_NEED_DATA),
        }
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
        let failure = self.decode_into(state, &mut frame, &map)?.err();
        drop(map);
        if failure.is_none() {
            state.last_good = Some(input);
        }
        match failure {
            None => {
                drop(state_guard);
                self.obj().finish_frame(frame)
            }
            Some(error) => self.conceal(state_guard, frame, &error),
        }
    }
}
