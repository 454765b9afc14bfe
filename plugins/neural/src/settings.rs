// SPDX-License-Identifier: MPL-2.0

//! The model and execution settings both elements share, their properties, and loading the
//! model they name.

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;

use percept::contract::{ContractError, LoadedCodec, Role};
use percept::neural::NeuralError;
use percept::onnx::{self, ExecutionProvider, OnnxError, SessionOptions};

/// The image codec shipped in the source tree, used by the video elements when `model` is not
/// set.
pub const DEFAULT_IMAGE_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/image_codec/model.json"
);

/// The speech codec shipped in the source tree, the audio elements' default.
pub const DEFAULT_SPEECH_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/speech_codec/model.json"
);
const DEFAULT_INTRA_THREADS: u32 = 1;
const MAX_INTRA_THREADS: u32 = 256;

pub const IMAGE_MODEL_BLURB: &str = "Path of the model contract (JSON) naming the encoder \
                                     and decoder; empty for the shipped image codec";
pub const SPEECH_MODEL_BLURB: &str = "Path of the model contract (JSON) naming the encoder \
                                      and decoder; empty for the shipped speech codec";

/// The encoded media types.
pub const ENCODED_MEDIA_TYPE: &str = "video/x-neural";
pub const ENCODED_AUDIO_TYPE: &str = "audio/x-neural";

/// Raw audio the audio elements take and give: any interleaved float or 16-bit audio, or the
/// rate and channels a model works in.
pub fn audio_caps(model: Option<(u32, u32)>) -> gst::Caps {
    let builder = gst_audio::AudioCapsBuilder::new_interleaved()
        .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le]);
    match model {
        Some((rate, channels)) => builder.rate(rate as i32).channels(channels as i32).build(),
        None => builder.build(),
    }
}

#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// Where `model` points when it is not set.
    pub default_model: &'static str,
    pub model: Option<PathBuf>,
    /// As the user set it; checked when the model is loaded, where an error can be reported.
    pub provider: String,
    pub allow_fallback: bool,
    pub intra_threads: u32,
}

impl ModelSettings {
    pub fn with_default(default_model: &'static str) -> Self {
        Self {
            default_model,
            model: None,
            provider: ExecutionProvider::Cpu.name().to_owned(),
            allow_fallback: false,
            intra_threads: DEFAULT_INTRA_THREADS,
        }
    }

    /// The properties for these settings, and the read-only `active-provider`; `model_blurb`
    /// describes `model`, naming the default.
    pub fn properties(model_blurb: &'static str) -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("model")
                .nick("Model")
                .blurb(model_blurb)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("execution-provider")
                .nick("Execution provider")
                .blurb("Where the model runs: cpu, cuda or tensorrt")
                .default_value(Some("cpu"))
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("allow-fallback")
                .nick("Allow fallback")
                .blurb(
                    "Run on the CPU, with a warning, when the execution provider is not \
                     available, instead of failing",
                )
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("active-provider")
                .nick("Active provider")
                .blurb("The execution provider the model runs on, once loaded")
                .read_only()
                .build(),
            glib::ParamSpecUInt::builder("intra-threads")
                .nick("Intra-op threads")
                .blurb(
                    "Threads one inference may use (0 = all cores); split the cores between \
                     several models in one pipeline",
                )
                .maximum(MAX_INTRA_THREADS)
                .default_value(DEFAULT_INTRA_THREADS)
                .mutable_ready()
                .build(),
        ]
    }

    /// Applies a property of [`ModelSettings::properties`]; false when `name` is not one.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "model" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                self.model = path.filter(|p| !p.is_empty()).map(PathBuf::from);
            }
            "execution-provider" => {
                let provider: Option<String> = value.get().expect("type checked upstream");
                self.provider = provider.unwrap_or_else(|| "cpu".to_owned());
            }
            "allow-fallback" => self.allow_fallback = value.get().expect("type checked upstream"),
            "intra-threads" => self.intra_threads = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    /// The value of a property of [`ModelSettings::properties`], given the active provider.
    pub fn get(&self, name: &str, active: Option<ExecutionProvider>) -> Option<glib::Value> {
        Some(match name {
            "model" => self
                .model
                .as_ref()
                .map(|p| p.display().to_string())
                .to_value(),
            "execution-provider" => self.provider.to_value(),
            "allow-fallback" => self.allow_fallback.to_value(),
            "active-provider" => active.map(|p| p.name()).to_value(),
            "intra-threads" => self.intra_threads.to_value(),
            _ => return None,
        })
    }

    pub fn model_path(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(|| PathBuf::from(self.default_model))
    }

    /// What every element does when it starts: load the runtime and the model its role needs,
    /// log both, warn `element` when the model fell back to the CPU, and wrap the model in the
    /// element's codec with `wrap`. Returns the codec and the provider it runs on.
    pub fn start<C>(
        &self,
        role: Role,
        element: &gst::Element,
        category: gst::DebugCategory,
        wrap: impl FnOnce(LoadedCodec) -> Result<C, NeuralError>,
    ) -> Result<(C, ExecutionProvider), gst::ErrorMessage> {
        let (loaded, runtime) = self.load(role)?;
        gst::info!(
            category,
            obj = element,
            "ONNX Runtime {} from {}",
            runtime.version,
            runtime.path.display()
        );
        let model = loaded.models().next().expect("the role's model is loaded");
        let provider = model.active_provider();
        if let Some(reason) = model.fallback_reason() {
            gst::element_warning!(
                element,
                gst::LibraryError::Settings,
                ("Running on the CPU: {reason}")
            );
        }
        gst::info!(
            category,
            obj = element,
            "loaded model {} on {provider}",
            loaded.contract.name
        );
        let codec = wrap(loaded).map_err(|error| match error {
            NeuralError::WrongMedia { .. } => {
                gst::error_msg!(gst::ResourceError::OpenRead, ("{error}"))
            }
            _ => gst::error_msg!(gst::LibraryError::Init, ("{error}")),
        })?;
        Ok((codec, provider))
    }

    /// Loads the runtime and the model a role needs.
    fn load(&self, role: Role) -> Result<(LoadedCodec, &'static onnx::Runtime), gst::ErrorMessage> {
        let runtime = onnx::runtime()
            .map_err(|error| gst::error_msg!(gst::LibraryError::Init, ("{error}")))?;
        let provider = self.provider.parse().map_err(|error: onnx::OnnxError| {
            gst::error_msg!(gst::LibraryError::Settings, ("{error}"))
        })?;
        let options = SessionOptions {
            provider,
            allow_fallback: self.allow_fallback,
            intra_threads: self.intra_threads as usize,
        };
        let path = self.model_path();
        let codec = LoadedCodec::load(&path, &options, role).map_err(|error| match error {
            ContractError::Onnx(OnnxError::ProviderUnavailable { .. }) => {
                gst::error_msg!(gst::LibraryError::Settings, ("{error}"))
            }
            _ => gst::error_msg!(gst::ResourceError::OpenRead, ("{error}")),
        })?;
        Ok((codec, runtime))
    }
}
