// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use percept::video::{self, FrameDecoder, FrameMut, FrameRate, Picture, VideoError};
use percept_gst::bytestream::next_packet;

use crate::caps::{pixel_format, plane_strides, raw_video_caps, ENCODED_MEDIA_TYPE};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "dctdec",
        gst::DebugColorFlags::empty(),
        Some("DCT video decoder"),
    )
});

const EXAMPLE: &str =
    "gst-launch-1.0 filesrc location=clip.dct ! dctdec ! videoconvert ! autovideosink";

const DEFAULT_THREADS: u32 = 0;
const MAX_THREADS: u32 = 256;

#[derive(Debug, Clone, Copy)]
struct Settings {
    threads: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            threads: DEFAULT_THREADS,
        }
    }
}

struct State {
    decoder: FrameDecoder,
    /// The picture the negotiated output caps describe.
    picture: Option<Picture>,
    input_state:
        Option<gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>>,
    dropped: u64,
}

#[derive(Default)]
pub struct DctDec {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for DctDec {
    const NAME: &'static str = "GstDctDec";
    type Type = super::DctDec;
    type ParentType = gst_video::VideoDecoder;
}

impl ObjectImpl for DctDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("Threads that decode slices in parallel (0 = one per core)")
                .maximum(MAX_THREADS)
                .default_value(DEFAULT_THREADS)
                .mutable_ready()
                .build()]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "threads" => {
                self.settings.lock().unwrap().threads = value.get().expect("type checked upstream");
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "threads" => self.settings.lock().unwrap().threads.to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Every packet is a key frame, and a bad one must not stop the stream: the decoder
        // warns about each and goes on.
        self.obj().set_needs_format(false);
        self.obj().set_max_errors(-1);
        // Without caps saying otherwise (a file read without typefinding), the input is a
        // byte stream.
        self.obj().set_packetized(false);
    }
}

impl GstObjectImpl for DctDec {}

impl ElementImpl for DctDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "DCT video decoder",
                "Codec/Decoder/Video",
                "Decodes intra-only DCT video coded by dctenc",
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
                &gst::Caps::new_empty_simple(ENCODED_MEDIA_TYPE),
            )
            .unwrap();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &raw_video_caps(),
            )
            .unwrap();
            vec![src, sink]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl DctDec {
    /// Sets and negotiates output caps for `picture` unless they are already in place. The
    /// frame rate the packets declare applies when the input caps give none, as when a stored
    /// stream is read from a file.
    fn ensure_output(
        &self,
        state: &mut State,
        picture: Picture,
        frame_rate: FrameRate,
    ) -> Result<(), gst::FlowError> {
        if state.picture == Some(picture) {
            return Ok(());
        }
        let format = gst_video::VideoFormat::from_string(picture.format.name());
        let element = self.obj();
        let mut output_state = element.set_output_state(
            format,
            picture.width,
            picture.height,
            state.input_state.as_ref(),
        )?;
        let declared = (
            i32::try_from(frame_rate.numerator),
            i32::try_from(frame_rate.denominator),
        );
        if let (0, (Ok(numerator @ 1..), Ok(denominator @ 1..))) =
            (output_state.info().fps().numer(), declared)
        {
            let info = gst_video::VideoInfo::builder_from_info(output_state.info())
                .fps(gst::Fraction::new(numerator, denominator))
                .build()
                .map_err(|_| gst::FlowError::NotNegotiated)?;
            output_state.set_info(info);
        }
        element.negotiate(output_state).inspect_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "Downstream does not accept {}x{} {}, the picture the stream holds",
                    picture.width,
                    picture.height,
                    picture.format
                ),
                ["add videoconvert and videoscale after dctdec to convert it"]
            );
        })?;
        gst::debug!(
            CAT,
            imp = self,
            "output {}x{} {}",
            picture.width,
            picture.height,
            picture.format
        );
        state.picture = Some(picture);
        Ok(())
    }

    /// Tells the application that a packet was dropped, and why.
    fn warn_dropped(&self, state: &mut State, error: &dyn std::fmt::Display) {
        state.dropped += 1;
        gst::element_imp_warning!(
            self,
            gst::StreamError::Decode,
            ("Dropped a packet: {error}"),
            ["{} dropped so far", state.dropped]
        );
    }

    /// Drops a frame whose packet cannot be decoded.
    fn drop_packet(
        &self,
        state: &mut State,
        frame: gst_video::VideoCodecFrame,
        error: &VideoError,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.warn_dropped(state, error);
        self.obj().drop_frame(frame)
    }
}

impl VideoDecoderImpl for DctDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let threads = self.settings.lock().unwrap().threads;
        let decoder = FrameDecoder::new(threads as usize)
            .map_err(|error| gst::error_msg!(gst::ResourceError::Failed, ["{error}"]))?;
        *self.state.lock().unwrap() = Some(State {
            decoder,
            picture: None,
            input_state: None,
            dropped: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        input_state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let caps = input_state
            .caps()
            .ok_or_else(|| gst::loggable_error!(CAT, "input state without caps"))?;
        let structure = caps.structure(0).unwrap();
        // Encoders and depayloaders deliver one packet per buffer; anything else (a file) is
        // a byte stream to split.
        let packetized = structure.get::<bool>("parsed").unwrap_or(false);
        self.obj().set_packetized(packetized);

        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "not started"))?;
        state.input_state = Some(input_state.clone());
        state.picture = None;

        // Negotiate before the first packet when the caps say what it will hold.
        let declared = (
            structure.get::<&str>("format").ok(),
            structure.get::<i32>("width").ok(),
            structure.get::<i32>("height").ok(),
        );
        if let (Some(format), Some(width), Some(height)) = declared {
            let format = pixel_format(gst_video::VideoFormat::from_string(format))
                .ok_or_else(|| gst::loggable_error!(CAT, "unsupported format {format}"))?;
            let picture = Picture::new(format, width as u32, height as u32);
            self.ensure_output(state, picture, FrameRate::default())
                .map_err(|_| gst::loggable_error!(CAT, "failed to negotiate {picture:?}"))?;
        }
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
            video::check_packet_start,
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
        let stream = match video::inspect(&map) {
            Ok(stream) => stream,
            Err(error) => return self.drop_packet(state, frame, &error),
        };
        let picture = stream.picture;
        let format = gst_video::VideoFormat::from_string(picture.format.name());
        if gst_video::VideoInfo::builder(format, picture.width, picture.height)
            .build()
            .is_err()
        {
            let error = format!(
                "GStreamer cannot describe a {}x{} {} frame",
                picture.width, picture.height, picture.format
            );
            self.warn_dropped(state, &error);
            return self.obj().drop_frame(frame);
        }

        self.ensure_output(state, picture, stream.frame_rate)?;
        self.obj().allocate_output_frame(&mut frame, None)?;
        let output_info = self
            .obj()
            .output_state()
            .ok_or(gst::FlowError::NotNegotiated)?
            .info()
            .clone();

        let result = {
            let output = frame.output_buffer_mut().ok_or(gst::FlowError::Error)?;
            let mut video_frame =
                gst_video::VideoFrameRef::from_buffer_ref_writable(output, &output_info)
                    .map_err(|_| gst::FlowError::Error)?;
            let strides = plane_strides(&video_frame).ok_or_else(|| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("Output frames with negative strides are not supported")
                );
                gst::FlowError::NotSupported
            })?;
            let plane_count = video_frame.n_planes();
            let mut planes = video_frame.planes_data_mut();
            let frame_mut = FrameMut {
                planes: std::array::from_fn(|plane| {
                    if (plane as u32) < plane_count {
                        std::mem::take(&mut planes[plane])
                    } else {
                        &mut []
                    }
                }),
                strides,
            };
            state.decoder.decode(&map, picture, frame_mut)
        };
        drop(map);

        match result {
            Ok(()) => {
                drop(state_guard);
                self.obj().finish_frame(frame)
            }
            Err(error) => self.drop_packet(state, frame, &error),
        }
    }

    fn flush(&self) -> bool {
        // Frames are coded independently: nothing carries over that a flush must clear.
        true
    }

    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        self.parent_decide_allocation(query)?;
        if query
            .find_allocation_meta::<gst_video::VideoMeta>()
            .is_some()
        {
            if let Some((Some(pool), _, _, _)) = query.allocation_pools().next() {
                let mut config = pool.config();
                config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_META);
                pool.set_config(config)
                    .map_err(|_| gst::loggable_error!(CAT, "failed to configure buffer pool"))?;
            }
        }
        Ok(())
    }
}
