//! ONNX Runtime through the core crate: the library the setup script installs, a real
//! pretrained model on real photos, and clear errors for what is missing or unavailable.

use std::path::Path;
use std::process::Command;

use percept::onnx::{self, ExecutionProvider, Model, OnnxError, SessionOptions};
use percept_testing::media;

use percept_testing::classifier::{self, INPUT_SIZE};

const CLASSIFIER: &str = classifier::MODEL;

/// The classifier's two class probabilities for a photo.
fn classify(model: &mut Model, photo: &str) -> Vec<f32> {
    let input = classifier::input(photo);
    let session = model.session();
    let input_name = session.inputs[0].name.clone();
    let tensor =
        ort::value::Tensor::from_array(([1usize, INPUT_SIZE, INPUT_SIZE, 3], input)).unwrap();
    let outputs = session.run(ort::inputs![input_name => tensor]).unwrap();
    let (shape, values) = outputs[0].try_extract_tensor::<f32>().unwrap();
    assert_eq!(&shape[..], &[1, 2]);
    values.to_vec()
}

#[test]
fn runtime_from_the_setup_script_loads() {
    let runtime = onnx::runtime().unwrap();
    assert!(runtime.version.starts_with("1.22."), "{}", runtime.version);
    println!(
        "ONNX Runtime {} from {}",
        runtime.version,
        runtime.path.display()
    );
}

#[test]
fn pretrained_classifier_runs_on_real_photos() {
    percept_testing::init();
    let mut model = Model::load(&media(CLASSIFIER), &SessionOptions::default()).unwrap();
    assert_eq!(model.active_provider(), ExecutionProvider::Cpu);
    assert_eq!(model.fallback_reason(), None);

    for photo in [
        "photos/chelsea.png",
        "photos/coffee.png",
        "photos/astronaut.png",
    ] {
        let probabilities = classify(&mut model, photo);
        println!("{photo}: {probabilities:?}");
        let sum: f32 = probabilities.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "{photo}: probabilities sum to {sum}"
        );
        assert!(
            probabilities[0] > 0.8,
            "{photo} judged unsafe: {probabilities:?}"
        );
    }
}

#[test]
fn unavailable_provider_is_named_unless_fallback_is_allowed() {
    // The runtime the setup script installs is the CPU build, on any machine.
    let strict = SessionOptions {
        provider: ExecutionProvider::Cuda,
        ..SessionOptions::default()
    };
    let error = Model::load(&media(CLASSIFIER), &strict)
        .err()
        .expect("CUDA is not built into the CPU runtime");
    assert!(matches!(
        error,
        OnnxError::ProviderUnavailable {
            provider: ExecutionProvider::Cuda,
            ..
        }
    ));
    assert!(error.to_string().contains("CUDA"), "{error}");

    let lenient = SessionOptions {
        allow_fallback: true,
        ..strict
    };
    let model = Model::load(&media(CLASSIFIER), &lenient).unwrap();
    assert_eq!(model.active_provider(), ExecutionProvider::Cpu);
    assert!(model.fallback_reason().unwrap().contains("CUDA"));
}

#[test]
fn missing_and_broken_models_are_named() {
    let missing = Path::new("/nonexistent/model.onnx");
    let error = Model::load(missing, &SessionOptions::default())
        .err()
        .unwrap();
    assert_eq!(error, OnnxError::ModelNotFound(missing.to_owned()));
    assert!(error.to_string().contains("/nonexistent/model.onnx"));

    // A photo is a file, but not a model.
    let photo = media("photos/coffee.png");
    let error = Model::load(&photo, &SessionOptions::default())
        .err()
        .unwrap();
    assert!(matches!(error, OnnxError::ModelUnusable { .. }), "{error}");
    assert!(error.to_string().contains("coffee.png"));
}

/// Runs in a child process with `ORT_DYLIB_PATH` pointing nowhere (see the test below).
#[test]
#[ignore = "run by missing_runtime_is_a_clear_error in a process of its own"]
fn child_without_runtime() {
    let error = onnx::runtime().unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, OnnxError::RuntimeNotFound(_)), "{text}");
    assert!(text.contains("/nonexistent/libonnxruntime.so"), "{text}");
    assert!(text.contains(onnx::LIBRARY_VARIABLE), "{text}");

    let error = Model::load(&media(CLASSIFIER), &SessionOptions::default())
        .err()
        .unwrap();
    assert!(matches!(error, OnnxError::RuntimeNotFound(_)));
}

#[test]
fn missing_runtime_is_a_clear_error() {
    // The runtime is loaded once per process, so the missing case needs a process of its own.
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_without_runtime", "--ignored"])
        .env(onnx::LIBRARY_VARIABLE, "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the child process failed:\n{}",
        String::from_utf8_lossy(&child.stdout)
    );
}
