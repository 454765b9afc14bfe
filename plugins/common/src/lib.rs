// SPDX-License-Identifier: MPL-2.0

//! What the percept GStreamer plugins share.

pub mod bytestream;
