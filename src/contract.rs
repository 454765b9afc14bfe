//! The contract a learned codec's models declare, so that the elements can use any model that
//! fits it: a small JSON file beside the ONNX files (see `models/CONTRACT.md`).
//!
//! Loading checks the file against itself (channel counts, ranges, quantizer steps) and then
//! against the ONNX models it names (that the tensors it promises exist), so that a model that
//! does not fit is refused with the mismatch named, before any media flows.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::onnx::{Model, OnnxError, SessionOptions};

/// Bounds on what an audio contract may declare, far beyond real codecs, so that a corrupt
/// contract cannot ask for absurd buffers.
pub const MAX_AUDIO_RATE: u32 = 768_000;
pub const MAX_AUDIO_CHANNELS: u32 = 64;
pub const MAX_AUDIO_FRAME: u32 = 65_535;
pub const MAX_CONTEXT_FRAMES: u32 = 256;

/// Why a contract or its models cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractError {
    Unreadable {
        path: PathBuf,
        why: String,
    },
    /// The contract parsed but says something impossible.
    Invalid {
        path: PathBuf,
        why: String,
    },
    Onnx(OnnxError),
    /// A model lacks a tensor the contract names.
    MissingTensor {
        model: PathBuf,
        end: TensorEnd,
        tensor: String,
        available: Vec<String>,
    },
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { path, why } => {
                write!(f, "cannot read model contract {}: {why}", path.display())
            }
            Self::Invalid { path, why } => {
                write!(f, "model contract {} is invalid: {why}", path.display())
            }
            Self::Onnx(error) => error.fmt(f),
            Self::MissingTensor {
                model,
                end,
                tensor,
                available,
            } => write!(
                f,
                "{} has no {end} tensor {tensor:?} as its contract says (it has {})",
                model.display(),
                available.join(", ")
            ),
        }
    }
}

impl std::error::Error for ContractError {}

impl From<OnnxError> for ContractError {
    fn from(error: OnnxError) -> Self {
        Self::Onnx(error)
    }
}

/// What a codec codes.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Audio,
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Image => "image",
            Self::Audio => "audio",
        })
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum TensorLayout {
    /// Batch, channels, rows, columns: pictures.
    #[serde(rename = "NCHW")]
    Nchw,
    /// Batch, channels, time: audio.
    #[serde(rename = "NCT")]
    Nct,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum ColourOrder {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// The picture the encoder takes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub tensor: String,
    pub layout: TensorLayout,
    pub colour: ColourOrder,
    /// Sample values for black and for full intensity.
    pub range: [f32; 2],
    /// Width and height must be multiples of this; pictures are padded up to it.
    pub multiple_of: u32,
}

/// The audio the encoder takes: planar samples, `[1, channels, samples]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AudioInput {
    pub tensor: String,
    pub layout: TensorLayout,
    /// Samples per second and channel.
    pub rate: u32,
    pub channels: u32,
    /// Sample values for negative and positive full scale.
    pub range: [f32; 2],
    /// Latent frames of context on each side that make a block coded on its own match the
    /// whole signal coded at once: the elements code overlapping windows and keep the middle.
    pub context_frames: u32,
}

/// What the encoder takes, by media kind.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaInput {
    Image(ImageInput),
    Audio(AudioInput),
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Uniform rounding with a step the encoder chooses within `step_range`.
    Scalar,
}

/// The latents between encoder and decoder.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatentSpec {
    pub tensor: String,
    pub channels: usize,
    /// Picture rows (and columns) per latent row (and column), or audio samples per latent
    /// frame.
    pub downsampling: u32,
    pub quantization: Quantization,
    /// The quantizer steps the model was trained for, smallest (best quality) first.
    pub step_range: [f32; 2],
}

/// The probability model of the quantized latents.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EntropyModel {
    /// Each channel a Gaussian of the given mean and its own scale, in latent units.
    FactorizedGaussian { mean: f32, scales: Vec<f32> },
}

/// What the decoder gives back: a picture or audio in the input's layout.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub tensor: String,
    pub range: [f32; 2],
}

/// A learned codec's contract.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelContract {
    pub name: String,
    pub media: MediaKind,
    /// The encoder and decoder ONNX files, relative to the contract file.
    pub encoder: PathBuf,
    pub decoder: PathBuf,
    pub input: MediaInput,
    pub latents: LatentSpec,
    pub entropy_model: EntropyModel,
    pub output: Output,
}

/// The contract as written, before its input is read by media kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    name: String,
    media: MediaKind,
    encoder: PathBuf,
    decoder: PathBuf,
    input: serde_json::Value,
    latents: LatentSpec,
    entropy_model: EntropyModel,
    output: Output,
}

impl TryFrom<ContractFile> for ModelContract {
    type Error = String;

    fn try_from(file: ContractFile) -> Result<Self, String> {
        let input = match file.media {
            MediaKind::Image => serde_json::from_value(file.input).map(MediaInput::Image),
            MediaKind::Audio => serde_json::from_value(file.input).map(MediaInput::Audio),
        }
        .map_err(|error| format!("input of {} model: {error}", file.media))?;
        Ok(Self {
            name: file.name,
            media: file.media,
            encoder: file.encoder,
            decoder: file.decoder,
            input,
            latents: file.latents,
            entropy_model: file.entropy_model,
            output: file.output,
        })
    }
}

impl ModelContract {
    /// Reads and checks the contract at `path`.
    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let text = std::fs::read_to_string(path).map_err(|error| ContractError::Unreadable {
            path: path.to_owned(),
            why: error.to_string(),
        })?;
        let invalid = |why: String| ContractError::Invalid {
            path: path.to_owned(),
            why,
        };
        let file: ContractFile =
            serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        let mut contract = Self::try_from(file).map_err(invalid)?;
        contract.check().map_err(invalid)?;

        let directory = path.parent().unwrap_or(Path::new("."));
        contract.encoder = directory.join(&contract.encoder);
        contract.decoder = directory.join(&contract.decoder);
        Ok(contract)
    }

    fn check(&self) -> Result<(), String> {
        let ordered = |[low, high]: [f32; 2]| low.is_finite() && high.is_finite() && low < high;
        if !ordered(self.input_range()) || !ordered(self.output.range) {
            return Err("sample ranges must run from a lower to a higher finite value".into());
        }
        let downsampling = self.latents.downsampling;
        match &self.input {
            MediaInput::Image(input) => {
                let multiple = input.multiple_of;
                if input.layout != TensorLayout::Nchw {
                    return Err("image models take NCHW tensors".into());
                }
                if downsampling == 0 || multiple == 0 || multiple % downsampling != 0 {
                    return Err(format!(
                        "multiple_of {multiple} must be a positive multiple of the \
                         downsampling {downsampling}"
                    ));
                }
            }
            MediaInput::Audio(input) => {
                if input.layout != TensorLayout::Nct {
                    return Err("audio models take NCT tensors".into());
                }
                if !(1..=MAX_AUDIO_RATE).contains(&input.rate)
                    || !(1..=MAX_AUDIO_CHANNELS).contains(&input.channels)
                {
                    return Err(format!(
                        "{} Hz with {} channels is not a sample format (rates 1 to \
                         {MAX_AUDIO_RATE}, 1 to {MAX_AUDIO_CHANNELS} channels)",
                        input.rate, input.channels
                    ));
                }
                if !(1..=MAX_AUDIO_FRAME).contains(&downsampling) {
                    return Err(format!(
                        "downsampling {downsampling} is not a frame length (1 to \
                         {MAX_AUDIO_FRAME} samples)"
                    ));
                }
                if input.context_frames > MAX_CONTEXT_FRAMES {
                    return Err(format!(
                        "context_frames {} is more than {MAX_CONTEXT_FRAMES}",
                        input.context_frames
                    ));
                }
            }
        }
        let [smallest, largest] = self.latents.step_range;
        if !(smallest > 0.0 && smallest <= largest && largest.is_finite()) {
            return Err(format!(
                "step_range [{smallest}, {largest}] is not a range of steps"
            ));
        }
        match &self.entropy_model {
            EntropyModel::FactorizedGaussian { mean, scales } => {
                if *mean != 0.0 {
                    return Err(format!(
                        "only zero-mean Gaussians are supported, not {mean}"
                    ));
                }
                if scales.len() != self.latents.channels {
                    return Err(format!(
                        "{} scales for {} latent channels",
                        scales.len(),
                        self.latents.channels
                    ));
                }
                if let Some(scale) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                    return Err(format!("scale {scale} is not positive"));
                }
            }
        }
        Ok(())
    }

    /// The value range of the encoder's input.
    pub fn input_range(&self) -> [f32; 2] {
        match &self.input {
            MediaInput::Image(input) => input.range,
            MediaInput::Audio(input) => input.range,
        }
    }

    /// The name of the encoder's input tensor.
    pub fn input_tensor(&self) -> &str {
        match &self.input {
            MediaInput::Image(input) => &input.tensor,
            MediaInput::Audio(input) => &input.tensor,
        }
    }

    /// The quantizer step for a quality from 0 (the largest step) to 1 (the smallest), spaced
    /// evenly on a logarithmic scale.
    pub fn step_for_quality(&self, quality: f32) -> f32 {
        let [smallest, largest] = self.latents.step_range;
        let quality = quality.clamp(0.0, 1.0);
        (largest.ln() + (smallest.ln() - largest.ln()) * quality).exp()
    }
}

/// Which end of a model a tensor is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorEnd {
    Input,
    Output,
}

impl fmt::Display for TensorEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Output => "output",
        })
    }
}

fn require_tensor(
    model: &mut Model,
    path: &Path,
    end: TensorEnd,
    tensor: &str,
) -> Result<(), ContractError> {
    let session = model.session();
    let names: Vec<String> = match end {
        TensorEnd::Input => session.inputs.iter().map(|i| i.name.clone()).collect(),
        TensorEnd::Output => session.outputs.iter().map(|o| o.name.clone()).collect(),
    };
    if names.iter().any(|name| name == tensor) {
        Ok(())
    } else {
        Err(ContractError::MissingTensor {
            model: path.to_owned(),
            end,
            tensor: tensor.to_owned(),
            available: names,
        })
    }
}

/// Which of a codec's models to load: an encoding element needs no decoder, and the other way
/// round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Encode,
    Decode,
    Both,
}

/// A contract with the models its role needs loaded and checked against it.
pub struct LoadedCodec {
    pub contract: ModelContract,
    pub encoder: Option<Model>,
    pub decoder: Option<Model>,
}

impl LoadedCodec {
    pub fn load(
        contract: &Path,
        options: &SessionOptions,
        role: Role,
    ) -> Result<Self, ContractError> {
        let contract = ModelContract::load(contract)?;
        let encoder = if role == Role::Decode {
            None
        } else {
            let mut encoder = Model::load(&contract.encoder, options)?;
            let path = &contract.encoder;
            require_tensor(
                &mut encoder,
                path,
                TensorEnd::Input,
                contract.input_tensor(),
            )?;
            require_tensor(
                &mut encoder,
                path,
                TensorEnd::Output,
                &contract.latents.tensor,
            )?;
            Some(encoder)
        };
        let decoder = if role == Role::Encode {
            None
        } else {
            let mut decoder = Model::load(&contract.decoder, options)?;
            let path = &contract.decoder;
            require_tensor(
                &mut decoder,
                path,
                TensorEnd::Input,
                &contract.latents.tensor,
            )?;
            require_tensor(
                &mut decoder,
                path,
                TensorEnd::Output,
                &contract.output.tensor,
            )?;
            Some(decoder)
        };
        Ok(Self {
            contract,
            encoder,
            decoder,
        })
    }

    /// The loaded models, encoder first.
    pub fn models(&self) -> impl Iterator<Item = &Model> {
        self.encoder.iter().chain(self.decoder.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{
        "name": "test",
        "media": "image",
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "input": {"tensor": "image", "layout": "NCHW", "colour": "RGB", "range": [0.0, 1.0],
                  "multiple_of": 16},
        "latents": {"tensor": "latents", "channels": 2, "downsampling": 16,
                    "quantization": "scalar", "step_range": [0.5, 4.0]},
        "entropy_model": {"kind": "factorized-gaussian", "mean": 0.0, "scales": [1.0, 2.5]},
        "output": {"tensor": "image", "range": [0.0, 1.0]}
    }"#;

    const VALID_AUDIO: &str = r#"{
        "name": "speech",
        "media": "audio",
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "input": {"tensor": "audio", "layout": "NCT", "rate": 16000, "channels": 1,
                  "range": [-1.0, 1.0], "context_frames": 6},
        "latents": {"tensor": "latents", "channels": 2, "downsampling": 320,
                    "quantization": "scalar", "step_range": [0.5, 4.0]},
        "entropy_model": {"kind": "factorized-gaussian", "mean": 0.0, "scales": [1.0, 2.5]},
        "output": {"tensor": "audio", "range": [-1.0, 1.0]}
    }"#;

    fn load_text(text: &str) -> Result<ModelContract, ContractError> {
        let directory = std::env::temp_dir().join(format!("contract-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join(format!("{:x}.json", crc32fast::hash(text.as_bytes())));
        std::fs::write(&path, text).unwrap();
        let result = ModelContract::load(&path);
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn a_valid_contract_loads_with_paths_beside_it() {
        let contract = load_text(VALID).unwrap();
        assert_eq!(contract.latents.channels, 2);
        assert!(contract.encoder.ends_with("encoder.onnx"));
        assert!(contract.encoder.is_absolute());
        assert_eq!(contract.step_for_quality(1.0), 0.5);
        assert!((contract.step_for_quality(0.5) - 2f32.sqrt()).abs() < 1e-5);

        let audio = load_text(VALID_AUDIO).unwrap();
        let MediaInput::Audio(input) = &audio.input else {
            panic!("an audio contract reads as {:?}", audio.input);
        };
        assert_eq!(
            (input.rate, input.channels, input.context_frames),
            (16000, 1, 6)
        );
        assert_eq!(audio.input_tensor(), "audio");
    }

    #[test]
    fn mismatches_are_named() {
        let cases = [
            (
                VALID.replace("[1.0, 2.5]", "[1.0]"),
                "1 scales for 2 latent channels",
            ),
            (
                VALID.replace("\"multiple_of\": 16", "\"multiple_of\": 24"),
                "multiple_of 24",
            ),
            (VALID.replace("[0.5, 4.0]", "[4.0, 0.5]"), "step_range"),
            (
                VALID.replace("\"image\",\n", "\"audio\",\n"),
                "input of audio model: unknown field `colour`",
            ),
            (
                VALID.replace("\"image\",\n", "\"video\",\n"),
                "unknown variant `video`",
            ),
            (
                VALID_AUDIO.replace("\"NCT\"", "\"NCHW\""),
                "audio models take NCT tensors",
            ),
            (
                VALID_AUDIO.replace("\"rate\": 16000", "\"rate\": 0"),
                "0 Hz with 1 channels",
            ),
            (
                VALID_AUDIO.replace("\"context_frames\": 6", "\"context_frames\": 9999"),
                "context_frames 9999",
            ),
            (
                VALID.replace("\"NCHW\"", "\"NHWC\""),
                "unknown variant `NHWC`",
            ),
            (VALID.replace("\"mean\": 0.0", "\"mean\": 0.5"), "zero-mean"),
            (
                VALID.replace("\"name\"", "\"nmae\""),
                "unknown field `nmae`",
            ),
        ];
        for (text, expected) in cases {
            let error = load_text(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
        let missing = ModelContract::load(Path::new("/nonexistent/model.json")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/model.json"));
    }
}
