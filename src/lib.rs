//! The codec core of the percept GStreamer elements: transforms, quantization, entropy coding
//! and the packet format, free of any GStreamer dependency so that it can be used and tested
//! on its own.

pub mod coefficients;
pub mod contract;
pub mod dct;
pub mod latents;
pub mod metrics;
pub mod neural;
pub mod neural_audio;
pub mod onnx;
pub mod packet;
pub mod quant;
pub mod range_coder;
pub mod video;
