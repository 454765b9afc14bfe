// SPDX-License-Identifier: MPL-2.0

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use percept::quant::QUALITY_RANGE;
use percept::video::{FrameEncoder, FrameRate, FrameRef, Picture};

use crate::caps::{pixel_format, plane_strides, raw_video_caps, ENCODED_MEDIA_TYPE};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "dctenc",
        gst::DebugColorFlags::empty(),
        Some("DCT video encoder"),
    )
});

const DEFAULT_QUALITY: u32 = 85;
const EXAMPLE: &str = "gst-launch-1.0 videotestsrc num-buffers=100 ! dctenc quality=90 ! dctdec ! videoconvert ! autovideosink";

const DEFAULT_THREADS: u32 = 0;
const MAX_THREADS: u32 = 256;

#[derive(Debug, Clone, Copy)]
struct Settings {
    quality: u32,
    threads: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            quality: DEFAULT_QUALITY,
            threads: DEFAULT_THREADS,
        }
    }
}

struct State {
    encoder: FrameEncoder,
    info: gst_video::VideoInfo,
}

#[derive(Default)]
pub struct DctEnc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for DctEnc {
    const NAME: &'static str = "GstDctEnc";
    type Type = super::DctEnc;
    type ParentType = gst_video::VideoEncoder;
}

impl ObjectImpl for DctEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("quality")
                    .nick("Quality")
                    .blurb(
                        "Quality from 1 to 100: scales the quantization matrices as JPEG \
                         encoders do, higher is better and larger",
                    )
                    .minimum(*QUALITY_RANGE.start() as u32)
                    .maximum(*QUALITY_RANGE.end() as u32)
                    .default_value(DEFAULT_QUALITY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Threads that code slices in parallel (0 = one per core)")
                    .maximum(MAX_THREADS)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => {
                let quality = value.get().expect("type checked upstream");
                gst::info!(CAT, imp = self, "quality set to {quality}");
                settings.quality = quality;
            }
            "threads" => {
                settings.threads = value.get().expect("type checked upstream");
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => settings.quality.to_value(),
            "threads" => settings.threads.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for DctEnc {}

impl ElementImpl for DctEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "DCT video encoder",
                "Codec/Encoder/Video",
                "Intra-only 8x8 DCT video coding with perceptual quantization and \
                 context-adaptive range coding",
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
                &raw_video_caps(),
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

impl VideoEncoderImpl for DctEnc {
    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn propose_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        // Frames are read through their video meta, so upstream may pad strides and planes.
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        self.parent_propose_allocation(query)
    }

    fn set_format(
        &self,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let info = state.info().clone();
        let format = pixel_format(info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported raw format {}", info.format()))?;
        let picture = Picture::new(format, info.width(), info.height());
        let settings = *self.settings.lock().unwrap();

        let mut encoder =
            FrameEncoder::new(picture, settings.quality as u8, settings.threads as usize)
                .map_err(|error| gst::loggable_error!(CAT, "cannot code {picture:?}: {error}"))?;
        let fps = info.fps();
        if let (Ok(numerator @ 1..), Ok(denominator @ 1..)) =
            (u32::try_from(fps.numer()), u32::try_from(fps.denom()))
        {
            encoder.set_frame_rate(FrameRate {
                numerator,
                denominator,
            });
        }
        gst::debug!(
            CAT,
            imp = self,
            "negotiated {}x{} {format}, {} slices per frame",
            picture.width,
            picture.height,
            encoder.slice_count()
        );

        let caps = gst::Caps::builder(ENCODED_MEDIA_TYPE)
            .field("format", format.name())
            .field("parsed", true)
            .build();
        let element = self.obj();
        let output_state = element
            .set_output_state(caps, Some(state))
            .map_err(|_| gst::loggable_error!(CAT, "failed to set output state"))?;
        element
            .negotiate(output_state)
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused {ENCODED_MEDIA_TYPE}"))?;

        *self.state.lock().unwrap() = Some(State { encoder, info });
        Ok(())
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;

        let quality = self.settings.lock().unwrap().quality as u8;
        if quality != state.encoder.quality() {
            gst::debug!(CAT, imp = self, "quality changed to {quality}");
            state.encoder.set_quality(quality);
        }

        let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
        let video_frame = gst_video::VideoFrameRef::from_buffer_ref_readable(input, &state.info)
            .map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Failed,
                    ("Failed to map the input frame")
                );
                gst::FlowError::Error
            })?;
        let frame_ref = FrameRef {
            planes: std::array::from_fn(|plane| {
                if plane < video_frame.n_planes() as usize {
                    video_frame.plane_data(plane as u32).unwrap_or(&[])
                } else {
                    &[]
                }
            }),
            strides: plane_strides(&video_frame).ok_or_else(|| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Frames with negative strides are not supported")
                );
                gst::FlowError::NotSupported
            })?,
        };

        let length = state.encoder.encode(&frame_ref).map_err(|error| {
            gst::element_imp_error!(self, gst::StreamError::Encode, ("{error}"));
            gst::FlowError::Error
        })?;
        drop(video_frame);

        self.obj().allocate_output_frame(&mut frame, length)?;
        {
            let output = frame.output_buffer_mut().unwrap();
            let mut map = output.map_writable().map_err(|_| gst::FlowError::Error)?;
            state.encoder.write_packet(&mut map);
        }
        drop(state_guard);

        frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        self.obj().finish_frame(frame)
    }
}
