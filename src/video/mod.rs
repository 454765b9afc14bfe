//! Intra-only transform coding of raw pictures: each frame is cut into slices, each slice's
//! planes into 8x8 blocks, and each block is transformed, quantized and entropy coded.

mod codec;
mod color;
mod format;
mod slice;

pub use codec::{
    check_packet_start, inspect, FrameDecoder, FrameEncoder, FrameMut, FrameRate, FrameRef,
    StreamInfo, VideoError, VideoHeader,
};
pub use format::{Layout, Picture, PixelFormat, MAX_COMPONENTS, MAX_DIMENSION, MAX_PLANES};
