// SPDX-License-Identifier: MPL-2.0

//! The model and execution settings both elements share, their properties, and loading the
//! model they name.

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;

use percept::contract::{ContractError, LoadedCodec, Role};
use percept::neural::NeuralImageCodec;
use percept::onnx::{self, ExecutionProvider, OnnxError, SessionOptions};

/// The image codec shipped in the source tree, used when `model` is not set.
pub const DEFAULT_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/image_codec/model.json"
);
const DEFAULT_INTRA_THREADS: u32 = 1;
const MAX_INTRA_THREADS: u32 = 256;

/// The encoded media type.
pub const ENCODED_MEDIA_TYPE: &str = "video/x-neural";

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub model: Option<PathBuf>,
    /// As the user set it; checked when the model is loaded, where an error can be reported.
    pub provider: String,
    pub allow_fallback: bool,
    pub intra_threads: u32,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            model: None,
            provider: ExecutionProvider::Cpu.name().to_owned(),
            allow_fallback: false,
            intra_threads: DEFAULT_INTRA_THREADS,
        }
    }
}

impl ModelSettings {
    /// The properties for these settings, and the read-only `active-provider`.
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("model")
                .nick("Model")
                .blurb(
                    "Path of the model contract (JSON) naming the encoder and decoder; \
                     empty for the shipped image codec",
                )
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
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL))
    }

    /// What both elements do when they start: load the runtime and the model their role needs,
    /// log both, warn `element` when the model fell back to the CPU, and wrap the model in a
    /// codec. Returns the codec and the provider it runs on.
    pub fn start(
        &self,
        role: Role,
        element: &gst::Element,
        category: gst::DebugCategory,
    ) -> Result<(NeuralImageCodec, ExecutionProvider), gst::ErrorMessage> {
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
        let codec = NeuralImageCodec::new(loaded)
            .map_err(|error| gst::error_msg!(gst::LibraryError::Init, ("{error}")))?;
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
