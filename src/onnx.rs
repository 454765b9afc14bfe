//! ONNX Runtime for the learned codecs and embedders: finding and loading the shared library,
//! one environment per process with telemetry off, and sessions on the execution provider the
//! user asks for.
//!
//! The library is loaded at run time, never linked, so that a build of the elements works
//! without it and a missing runtime is an error an element can report, not a crash. It is
//! looked for, in order:
//! 1. at the path in the environment variable `ORT_DYLIB_PATH`, when set (and only there);
//! 2. at [`DEFAULT_LIBRARY`], where `scripts/setup.sh` installs it in a source checkout;
//! 3. as `libonnxruntime.so.1` on the system's library search path.

use std::ffi::{c_char, CStr};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use ort::execution_providers::{
    CUDAExecutionProvider, ExecutionProvider as _, TensorRTExecutionProvider,
};
use ort::session::Session;

/// The environment variable that names the ONNX Runtime library.
pub const LIBRARY_VARIABLE: &str = "ORT_DYLIB_PATH";

/// Where `scripts/setup.sh` installs ONNX Runtime in this source tree.
pub const DEFAULT_LIBRARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/.deps/onnxruntime/lib/libonnxruntime.so"
);

/// The name the system's dynamic loader is asked for last.
const SYSTEM_LIBRARY: &str = "libonnxruntime.so.1";

/// The oldest ONNX Runtime 1.x minor version the bindings work with.
const MINIMUM_MINOR_VERSION: u32 = 22;

/// Why ONNX Runtime or a model cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnnxError {
    /// No library was found; the text lists where it was looked for.
    RuntimeNotFound(String),
    /// A library was found but cannot serve.
    RuntimeUnusable {
        path: PathBuf,
        why: String,
    },
    /// The requested execution provider is not available.
    ProviderUnavailable {
        provider: ExecutionProvider,
        why: String,
    },
    ModelNotFound(PathBuf),
    /// The model file exists but ONNX Runtime cannot load it.
    ModelUnusable {
        path: PathBuf,
        why: String,
    },
    /// An execution provider name that is not known.
    UnknownProvider(String),
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RuntimeNotFound(tried) => write!(
                f,
                "ONNX Runtime library not found ({tried}); run scripts/setup.sh or set \
                 {LIBRARY_VARIABLE} to the path of libonnxruntime.so"
            ),
            Self::RuntimeUnusable { path, why } => {
                write!(
                    f,
                    "ONNX Runtime at {} cannot be used: {why}",
                    path.display()
                )
            }
            Self::ProviderUnavailable { provider, why } => write!(
                f,
                "execution provider {provider} is not available: {why}; choose \
                 execution-provider=cpu or allow fallback"
            ),
            Self::ModelNotFound(path) => write!(f, "model file {} does not exist", path.display()),
            Self::ModelUnusable { path, why } => {
                write!(f, "cannot load model {}: {why}", path.display())
            }
            Self::UnknownProvider(name) => write!(
                f,
                "unknown execution provider {name:?} (known: cpu, cuda, tensorrt)"
            ),
        }
    }
}

impl std::error::Error for OnnxError {}

/// The ONNX Runtime library in use.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub path: PathBuf,
    pub version: String,
}

/// Reads the version of the ONNX Runtime library at `path`, checking that it can be loaded
/// and is recent enough, without handing it to the bindings.
fn probe(path: &Path) -> Result<String, String> {
    // Safety: loading a shared library runs its initialisers. The path is the one the user or
    // the setup script named as ONNX Runtime, which the bindings would load all the same.
    let library = unsafe { libloading::Library::new(path) }.map_err(|error| error.to_string())?;
    // Safety: `OrtGetApiBase` is ONNX Runtime's C entry point with this signature; it returns a
    // pointer to a static table whose `GetVersionString` returns a static C string.
    let version = unsafe {
        let get_api_base = library
            .get::<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase>(b"OrtGetApiBase")
            .map_err(|_| "no OrtGetApiBase symbol: not an ONNX Runtime library".to_owned())?;
        let api_base = get_api_base();
        if api_base.is_null() {
            return Err("OrtGetApiBase returned nothing".to_owned());
        }
        let version: *const c_char = ((*api_base).GetVersionString)();
        CStr::from_ptr(version).to_string_lossy().into_owned()
    };

    let minor = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok());
    match (version.split('.').next(), minor) {
        (Some("1"), Some(minor)) if minor >= MINIMUM_MINOR_VERSION => Ok(version),
        _ => Err(format!(
            "version {version} is not supported (1.{MINIMUM_MINOR_VERSION} or a later 1.x is \
             needed)"
        )),
    }
}

fn locate_and_start() -> Result<Runtime, OnnxError> {
    let candidates: Vec<PathBuf> = match std::env::var_os(LIBRARY_VARIABLE) {
        Some(path) if !path.is_empty() => vec![PathBuf::from(path)],
        _ => vec![
            PathBuf::from(DEFAULT_LIBRARY),
            PathBuf::from(SYSTEM_LIBRARY),
        ],
    };

    let mut tried = Vec::new();
    for path in candidates {
        let is_bare_name = path.components().count() == 1;
        if !is_bare_name && !path.exists() {
            tried.push(format!("{} does not exist", path.display()));
            continue;
        }
        match probe(&path) {
            Ok(version) => {
                ort::init_from(path.to_string_lossy())
                    .with_name("percept")
                    .with_telemetry(false)
                    .commit()
                    .map_err(|error| OnnxError::RuntimeUnusable {
                        path: path.clone(),
                        why: error.to_string(),
                    })?;
                return Ok(Runtime { path, version });
            }
            Err(why) if is_bare_name => tried.push(format!("{}: {why}", path.display())),
            Err(why) => return Err(OnnxError::RuntimeUnusable { path, why }),
        }
    }
    Err(OnnxError::RuntimeNotFound(tried.join("; ")))
}

/// Loads ONNX Runtime and sets up its environment, once per process; later calls return the
/// same outcome.
pub fn runtime() -> Result<&'static Runtime, OnnxError> {
    static RUNTIME: OnceLock<Result<Runtime, OnnxError>> = OnceLock::new();
    RUNTIME
        .get_or_init(locate_and_start)
        .as_ref()
        .map_err(Clone::clone)
}

/// Where a model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
}

impl ExecutionProvider {
    pub const ALL: [ExecutionProvider; 3] = [Self::Cpu, Self::Cuda, Self::TensorRt];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
        }
    }

    /// Whether the loaded ONNX Runtime was built with this provider.
    fn is_built_in(self) -> Result<bool, String> {
        let available = match self {
            Self::Cpu => return Ok(true),
            Self::Cuda => CUDAExecutionProvider::default().is_available(),
            Self::TensorRt => TensorRTExecutionProvider::default().is_available(),
        };
        available.map_err(|error| error.to_string())
    }
}

impl fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "CPU",
            Self::Cuda => "CUDA",
            Self::TensorRt => "TensorRT",
        })
    }
}

impl FromStr for ExecutionProvider {
    type Err = OnnxError;

    fn from_str(name: &str) -> Result<Self, OnnxError> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| OnnxError::UnknownProvider(name.to_owned()))
    }
}

/// How a model's session is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    pub provider: ExecutionProvider,
    /// Run on the CPU when the provider is not available, instead of failing.
    pub allow_fallback: bool,
    /// Threads one inference may use; 0 lets ONNX Runtime use every core. Several models in
    /// one process should split the cores between them.
    pub intra_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            provider: ExecutionProvider::Cpu,
            allow_fallback: false,
            intra_threads: 1,
        }
    }
}

/// Opens a session for the model at `path` on `provider`, failing if the provider cannot be
/// set up rather than quietly running elsewhere.
fn build_session(
    path: &Path,
    intra_threads: usize,
    provider: ExecutionProvider,
) -> ort::Result<Session> {
    let builder = Session::builder()?.with_intra_threads(intra_threads)?;
    let builder = match provider {
        ExecutionProvider::Cpu => builder,
        ExecutionProvider::Cuda => {
            builder.with_execution_providers([CUDAExecutionProvider::default()
                .build()
                .error_on_failure()])?
        }
        ExecutionProvider::TensorRt => {
            builder.with_execution_providers([TensorRTExecutionProvider::default()
                .build()
                .error_on_failure()])?
        }
    };
    builder.commit_from_file(path)
}

/// A loaded model, ready to run.
pub struct Model {
    session: Session,
    provider: ExecutionProvider,
    fallback: Option<String>,
}

impl Model {
    /// Loads the model at `path` on the provider `options` asks for.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<Self, OnnxError> {
        runtime()?;
        if !path.is_file() {
            return Err(OnnxError::ModelNotFound(path.to_owned()));
        }

        let requested = options.provider;
        let built_in = requested
            .is_built_in()
            .map_err(|why| OnnxError::ProviderUnavailable {
                provider: requested,
                why,
            })?;
        let attempt = if built_in {
            build_session(path, options.intra_threads, requested).map_err(|error| error.to_string())
        } else {
            Err(format!(
                "the ONNX Runtime library in use was built without {requested} support"
            ))
        };

        let (session, provider, fallback) = match attempt {
            Ok(session) => (session, requested, None),
            // On the CPU a failure can only be the model's.
            Err(why) if requested == ExecutionProvider::Cpu => {
                return Err(OnnxError::ModelUnusable {
                    path: path.to_owned(),
                    why,
                })
            }
            Err(why) if options.allow_fallback => {
                let session = build_session(path, options.intra_threads, ExecutionProvider::Cpu)
                    .map_err(|error| OnnxError::ModelUnusable {
                        path: path.to_owned(),
                        why: error.to_string(),
                    })?;
                (session, ExecutionProvider::Cpu, Some(why))
            }
            Err(why) => {
                return Err(OnnxError::ProviderUnavailable {
                    provider: requested,
                    why,
                })
            }
        };

        Ok(Self {
            session,
            provider,
            fallback,
        })
    }

    /// The provider the model runs on.
    pub fn active_provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// Why the requested provider is not the active one, after a permitted fallback.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The session, to run inference with.
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_parse_in_any_case() {
        for provider in ExecutionProvider::ALL {
            assert_eq!(provider.name().parse(), Ok(provider));
            assert_eq!(provider.name().to_uppercase().parse(), Ok(provider));
        }
        let error = "rocm".parse::<ExecutionProvider>().unwrap_err();
        assert!(error.to_string().contains("cpu, cuda, tensorrt"));
    }
}
