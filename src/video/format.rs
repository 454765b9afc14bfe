//! Raw picture formats, and how their samples map onto the planes the codec codes.

use std::fmt;

/// Most memory planes any supported format has.
pub const MAX_PLANES: usize = 3;
/// Most planes any supported format codes (luma, two chroma, alpha).
pub const MAX_COMPONENTS: usize = 4;
/// Largest width or height accepted. It bounds what a packet can make a decoder allocate (a
/// 16384x16384 RGBA frame is 1 GiB) and keeps every frame within what GStreamer can describe.
pub const MAX_DIMENSION: u32 = 16384;

/// A raw picture format, named as GStreamer names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    I420,
    Yv12,
    Nv12,
    Nv21,
    Y42b,
    Y444,
    Gray8,
    Rgb,
    Bgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
    Rgba,
    Bgra,
    Argb,
    Abgr,
}

/// Where one coded component's samples live in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSource {
    /// Memory plane.
    pub plane: usize,
    /// Byte offset of the sample within a pixel group.
    pub offset: usize,
    /// Bytes from one sample of this component to the next along a row.
    pub step: usize,
}

/// How a format's memory relates to the components that are coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Y'CbCr (or grey) samples coded as they are, each component with its own subsampling.
    Yuv {
        components: &'static [SampleSource],
        /// Horizontal and vertical chroma subsampling, as shifts.
        chroma_shift: (u32, u32),
    },
    /// Packed R'G'B', converted to full-range Y'CbCr before coding and back after it. Alpha,
    /// where there is one, is coded as a fourth plane; a padding byte is written as 255.
    Rgb {
        red: usize,
        green: usize,
        blue: usize,
        alpha: Option<usize>,
        filler: Option<usize>,
        pixel_bytes: usize,
    },
}

const fn source(plane: usize, offset: usize, step: usize) -> SampleSource {
    SampleSource {
        plane,
        offset,
        step,
    }
}

const PLANAR: &[SampleSource] = &[source(0, 0, 1), source(1, 0, 1), source(2, 0, 1)];
const PLANAR_SWAPPED: &[SampleSource] = &[source(0, 0, 1), source(2, 0, 1), source(1, 0, 1)];
const SEMI_PLANAR: &[SampleSource] = &[source(0, 0, 1), source(1, 0, 2), source(1, 1, 2)];
const SEMI_PLANAR_SWAPPED: &[SampleSource] = &[source(0, 0, 1), source(1, 1, 2), source(1, 0, 2)];
const GREY: &[SampleSource] = &[source(0, 0, 1)];

const fn packed(red: usize, green: usize, blue: usize, pixel_bytes: usize) -> Layout {
    Layout::Rgb {
        red,
        green,
        blue,
        alpha: None,
        filler: None,
        pixel_bytes,
    }
}

const fn padded(red: usize, green: usize, blue: usize, filler: usize) -> Layout {
    Layout::Rgb {
        red,
        green,
        blue,
        alpha: None,
        filler: Some(filler),
        pixel_bytes: 4,
    }
}

const fn with_alpha(red: usize, green: usize, blue: usize, alpha: usize) -> Layout {
    Layout::Rgb {
        red,
        green,
        blue,
        alpha: Some(alpha),
        filler: None,
        pixel_bytes: 4,
    }
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 17] = [
        Self::I420,
        Self::Yv12,
        Self::Nv12,
        Self::Nv21,
        Self::Y42b,
        Self::Y444,
        Self::Gray8,
        Self::Rgb,
        Self::Bgr,
        Self::Rgbx,
        Self::Bgrx,
        Self::Xrgb,
        Self::Xbgr,
        Self::Rgba,
        Self::Bgra,
        Self::Argb,
        Self::Abgr,
    ];

    /// GStreamer's name for the format.
    pub fn name(self) -> &'static str {
        match self {
            Self::I420 => "I420",
            Self::Yv12 => "YV12",
            Self::Nv12 => "NV12",
            Self::Nv21 => "NV21",
            Self::Y42b => "Y42B",
            Self::Y444 => "Y444",
            Self::Gray8 => "GRAY8",
            Self::Rgb => "RGB",
            Self::Bgr => "BGR",
            Self::Rgbx => "RGBx",
            Self::Bgrx => "BGRx",
            Self::Xrgb => "xRGB",
            Self::Xbgr => "xBGR",
            Self::Rgba => "RGBA",
            Self::Bgra => "BGRA",
            Self::Argb => "ARGB",
            Self::Abgr => "ABGR",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.name() == name)
    }

    /// The format's number in the bitstream.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|&f| f == self).unwrap() as u8 + 1
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get((code as usize).checked_sub(1)?).copied()
    }

    pub fn layout(self) -> Layout {
        match self {
            Self::I420 => Layout::Yuv {
                components: PLANAR,
                chroma_shift: (1, 1),
            },
            Self::Yv12 => Layout::Yuv {
                components: PLANAR_SWAPPED,
                chroma_shift: (1, 1),
            },
            Self::Nv12 => Layout::Yuv {
                components: SEMI_PLANAR,
                chroma_shift: (1, 1),
            },
            Self::Nv21 => Layout::Yuv {
                components: SEMI_PLANAR_SWAPPED,
                chroma_shift: (1, 1),
            },
            Self::Y42b => Layout::Yuv {
                components: PLANAR,
                chroma_shift: (1, 0),
            },
            Self::Y444 => Layout::Yuv {
                components: PLANAR,
                chroma_shift: (0, 0),
            },
            Self::Gray8 => Layout::Yuv {
                components: GREY,
                chroma_shift: (0, 0),
            },
            Self::Rgb => packed(0, 1, 2, 3),
            Self::Bgr => packed(2, 1, 0, 3),
            Self::Rgbx => padded(0, 1, 2, 3),
            Self::Bgrx => padded(2, 1, 0, 3),
            Self::Xrgb => padded(1, 2, 3, 0),
            Self::Xbgr => padded(3, 2, 1, 0),
            Self::Rgba => with_alpha(0, 1, 2, 3),
            Self::Bgra => with_alpha(2, 1, 0, 3),
            Self::Argb => with_alpha(1, 2, 3, 0),
            Self::Abgr => with_alpha(3, 2, 1, 0),
        }
    }

    /// Number of planes the codec codes.
    pub fn component_count(self) -> usize {
        match self.layout() {
            Layout::Yuv { components, .. } => components.len(),
            Layout::Rgb { alpha, .. } => 3 + alpha.is_some() as usize,
        }
    }

    /// Horizontal and vertical subsampling shifts of coded component `component`.
    pub fn component_shift(self, component: usize) -> (u32, u32) {
        match self.layout() {
            Layout::Yuv { chroma_shift, .. } if component == 1 || component == 2 => chroma_shift,
            _ => (0, 0),
        }
    }

    /// Number of memory planes.
    pub fn plane_count(self) -> usize {
        match self.layout() {
            Layout::Yuv { components, .. } => {
                components.iter().map(|c| c.plane).max().unwrap_or(0) + 1
            }
            Layout::Rgb { .. } => 1,
        }
    }

    /// Horizontal and vertical subsampling shifts of memory plane `plane`, and the bytes one
    /// sample position takes in it.
    fn plane_geometry(self, plane: usize) -> (u32, u32, usize) {
        match self.layout() {
            Layout::Yuv {
                components,
                chroma_shift,
            } => {
                let step = components
                    .iter()
                    .filter(|c| c.plane == plane)
                    .map(|c| c.step)
                    .max()
                    .unwrap_or(1);
                if plane == 0 {
                    (0, 0, step)
                } else {
                    (chroma_shift.0, chroma_shift.1, step)
                }
            }
            Layout::Rgb { pixel_bytes, .. } => (0, 0, pixel_bytes),
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A picture's format and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Picture {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
}

/// Divides and rounds up, for subsampled dimensions.
pub(crate) fn shifted_up(value: u32, shift: u32) -> u32 {
    (value + (1 << shift) - 1) >> shift
}

impl Picture {
    pub fn new(format: PixelFormat, width: u32, height: u32) -> Self {
        Self {
            format,
            width,
            height,
        }
    }

    /// Whether the dimensions are within what the codec accepts.
    pub fn dimensions_valid(&self) -> bool {
        (1..=MAX_DIMENSION).contains(&self.width) && (1..=MAX_DIMENSION).contains(&self.height)
    }

    /// Width and height of coded component `component`.
    pub fn component_size(&self, component: usize) -> (u32, u32) {
        let (x_shift, y_shift) = self.format.component_shift(component);
        (
            shifted_up(self.width, x_shift),
            shifted_up(self.height, y_shift),
        )
    }

    /// Rows of memory plane `plane`, and the bytes a row needs at the least.
    pub fn plane_extent(&self, plane: usize) -> (usize, usize) {
        let (x_shift, y_shift, step) = self.format.plane_geometry(plane);
        (
            shifted_up(self.height, y_shift) as usize,
            shifted_up(self.width, x_shift) as usize * step,
        )
    }

    /// Vertical subsampling shift of memory plane `plane`.
    pub fn plane_vertical_shift(&self, plane: usize) -> u32 {
        self.format.plane_geometry(plane).1
    }

    /// Strides and plane sizes of a tightly packed frame (rows padded to 4 bytes, as
    /// GStreamer lays out raw video by default).
    pub fn packed_layout(&self) -> ([usize; MAX_PLANES], [usize; MAX_PLANES]) {
        let mut strides = [0; MAX_PLANES];
        let mut sizes = [0; MAX_PLANES];
        for plane in 0..self.format.plane_count() {
            let (rows, row_bytes) = self.plane_extent(plane);
            strides[plane] = row_bytes.next_multiple_of(4);
            sizes[plane] = strides[plane] * rows;
        }
        (strides, sizes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for format in PixelFormat::ALL {
            assert_eq!(PixelFormat::from_code(format.code()), Some(format));
            assert_eq!(PixelFormat::from_name(format.name()), Some(format));
        }
        assert_eq!(PixelFormat::from_code(0), None);
        assert_eq!(PixelFormat::from_code(200), None);
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let picture = Picture::new(PixelFormat::I420, 7, 5);
        assert_eq!(picture.component_size(0), (7, 5));
        assert_eq!(picture.component_size(1), (4, 3));
        assert_eq!(picture.plane_extent(1), (3, 4));
        let nv12 = Picture::new(PixelFormat::Nv12, 7, 5);
        assert_eq!(nv12.plane_extent(1), (3, 8));
        let rgba = Picture::new(PixelFormat::Rgba, 7, 5);
        assert_eq!(rgba.format.component_count(), 4);
        assert_eq!(rgba.plane_extent(0), (5, 28));
    }
}
