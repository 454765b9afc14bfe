//! Slices: horizontal bands of a picture that are coded independently of each other, so that
//! they can be coded in parallel.
//!
//! A slice covers `rows` luma rows (a multiple of 16, so that every subsampled plane is cut on
//! a block boundary) and all planes at those rows. Each slice restarts its entropy coder and
//! its adaptive contexts, and predicts nothing across its top edge. How a picture is cut into
//! slices depends only on its size, never on the number of threads, so the bitstream is the
//! same however many threads code it.

use crate::coefficients::{code_block, CodedBlock, CoefficientContexts, Neighbours};
use crate::dct::{self, Block};
use crate::quant::QuantTable;
use crate::range_coder::{BinaryCoder, RangeDecoder, RangeEncoder};
use crate::video::color::{rgb_to_ycbcr, ycbcr_to_rgb};
use crate::video::format::{shifted_up, Layout, Picture, MAX_COMPONENTS, MAX_PLANES};

/// Aim for slices of about this many luma samples: enough for the adaptive models to learn,
/// small enough to spread a large picture over several cores.
const SLICE_TARGET_SAMPLES: u32 = 1 << 18;

/// Luma rows per slice for a picture of the given size.
pub fn slice_rows(width: u32, height: u32) -> u32 {
    let rows = (SLICE_TARGET_SAMPLES / width.max(1)).next_multiple_of(16);
    rows.clamp(16, height.next_multiple_of(16))
}

/// Kinds of plane, each with its own adaptive contexts.
const CONTEXT_SETS: usize = 3;

fn context_set(component: usize) -> usize {
    match component {
        0 => 0,
        1 | 2 => 1,
        _ => 2,
    }
}

/// Samples of one component over one slice, padded to whole blocks by repeating the last
/// column and row.
#[derive(Default)]
struct ComponentSamples {
    samples: Vec<u8>,
    /// Row length, a multiple of 8.
    stride: usize,
    /// Rows and columns that hold picture samples; the rest is padding.
    width: usize,
    rows: usize,
    block_columns: usize,
    block_rows: usize,
}

impl ComponentSamples {
    fn configure(&mut self, width: usize, rows: usize) {
        self.width = width;
        self.rows = rows;
        self.block_columns = width.div_ceil(8);
        self.block_rows = rows.div_ceil(8);
        self.stride = self.block_columns * 8;
        self.samples.resize(self.stride * self.block_rows * 8, 0);
    }

    fn row_mut(&mut self, row: usize) -> &mut [u8] {
        &mut self.samples[row * self.stride..(row + 1) * self.stride]
    }

    fn row(&self, row: usize) -> &[u8] {
        &self.samples[row * self.stride..row * self.stride + self.width]
    }

    /// Repeats the last picture column and row into the padding.
    fn pad(&mut self) {
        let (width, stride) = (self.width, self.stride);
        for row in 0..self.rows {
            let line = self.row_mut(row);
            let edge = line[width - 1];
            line[width..stride].fill(edge);
        }
        for row in self.rows..self.block_rows * 8 {
            self.samples
                .copy_within((self.rows - 1) * stride..self.rows * stride, row * stride);
        }
    }

    fn load_block(&self, block_row: usize, block_column: usize, block: &mut Block) {
        let origin = block_row * 8 * self.stride + block_column * 8;
        for (y, row) in block.iter_mut().enumerate() {
            let line = &self.samples[origin + y * self.stride..][..8];
            for (sample, &value) in row.iter_mut().zip(line) {
                *sample = value as f32 - 128.0;
            }
        }
    }

    fn store_block(&mut self, block_row: usize, block_column: usize, block: &Block) {
        let origin = block_row * 8 * self.stride + block_column * 8;
        for (y, row) in block.iter().enumerate() {
            let line = &mut self.samples[origin + y * self.stride..][..8];
            for (sample, &value) in line.iter_mut().zip(row) {
                // The cast saturates, so this rounds and clamps to 0..=255.
                *sample = (value + 128.5) as u8;
            }
        }
    }
}

/// Everything one slice needs while it is coded, kept from frame to frame.
pub(crate) struct SliceWorkspace {
    components: [ComponentSamples; MAX_COMPONENTS],
    contexts: Box<[CoefficientContexts; CONTEXT_SETS]>,
    above: Vec<CodedBlock>,
    current: Vec<CodedBlock>,
    /// Coded bytes of the slice, when encoding.
    pub(crate) coded: Vec<u8>,
}

impl Default for SliceWorkspace {
    fn default() -> Self {
        Self {
            components: Default::default(),
            contexts: Box::new(std::array::from_fn(|_| CoefficientContexts::default())),
            above: Vec::new(),
            current: Vec::new(),
            coded: Vec::new(),
        }
    }
}

/// Where one slice lies in a picture.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceGeometry {
    pub picture: Picture,
    pub rows: u32,
    pub index: usize,
}

impl SliceGeometry {
    /// First row and row count of this slice in a plane with the given vertical shift and
    /// height.
    fn span(&self, vertical_shift: u32, plane_rows: u32) -> (usize, usize) {
        let rows = self.rows >> vertical_shift;
        let start = self.index as u32 * rows;
        (start as usize, (rows.min(plane_rows - start)) as usize)
    }

    /// Rows of this slice in coded component `component`.
    fn component_span(&self, component: usize) -> (usize, usize) {
        let (_, height) = self.picture.component_size(component);
        let (_, y_shift) = self.picture.format.component_shift(component);
        self.span(y_shift, height)
    }

    /// Rows of this slice in memory plane `plane`.
    pub fn plane_span(&self, plane: usize) -> (usize, usize) {
        let shift = self.picture.plane_vertical_shift(plane);
        self.span(shift, shifted_up(self.picture.height, shift))
    }
}

/// Read-only access to a raw frame's planes.
pub(crate) struct SourcePlanes<'a> {
    pub data: [&'a [u8]; MAX_PLANES],
    pub strides: [usize; MAX_PLANES],
}

/// Write access to the rows of each memory plane that one slice covers; row 0 is the slice's
/// first row.
pub(crate) struct TargetPlanes<'a> {
    pub data: [&'a mut [u8]; MAX_PLANES],
    pub strides: [usize; MAX_PLANES],
}

impl SliceWorkspace {
    fn configure(&mut self, geometry: &SliceGeometry) {
        let picture = &geometry.picture;
        for component in 0..picture.format.component_count() {
            let (width, _) = picture.component_size(component);
            let (_, rows) = geometry.component_span(component);
            self.components[component].configure(width as usize, rows);
        }
    }

    /// Copies this slice's samples out of a raw frame, converting R'G'B' to Y'CbCr.
    fn gather(&mut self, geometry: &SliceGeometry, source: &SourcePlanes) {
        let picture = &geometry.picture;
        match picture.format.layout() {
            Layout::Yuv { components, .. } => {
                for (component, sample_source) in components.iter().enumerate() {
                    let (first_row, _) = geometry.component_span(component);
                    let target = &mut self.components[component];
                    let (plane, stride) = (
                        source.data[sample_source.plane],
                        source.strides[sample_source.plane],
                    );
                    for row in 0..target.rows {
                        let line = &plane[(first_row + row) * stride..];
                        let width = target.width;
                        let out = &mut target.row_mut(row)[..width];
                        if sample_source.step == 1 {
                            out.copy_from_slice(&line[..width]);
                        } else {
                            let samples = line[sample_source.offset..]
                                .iter()
                                .step_by(sample_source.step);
                            for (out, &sample) in out.iter_mut().zip(samples) {
                                *out = sample;
                            }
                        }
                    }
                }
            }
            Layout::Rgb {
                red,
                green,
                blue,
                alpha,
                pixel_bytes,
                ..
            } => {
                let (first_row, rows) = geometry.component_span(0);
                let (plane, stride) = (source.data[0], source.strides[0]);
                let width = picture.width as usize;
                for row in 0..rows {
                    let line = &plane[(first_row + row) * stride..][..width * pixel_bytes];
                    let [luma, blue_difference, red_difference, opacity] = &mut self.components;
                    let luma = &mut luma.row_mut(row)[..width];
                    let blue_difference = &mut blue_difference.row_mut(row)[..width];
                    let red_difference = &mut red_difference.row_mut(row)[..width];
                    for (x, pixel) in line.chunks_exact(pixel_bytes).enumerate() {
                        let (y, cb, cr) = rgb_to_ycbcr(pixel[red], pixel[green], pixel[blue]);
                        luma[x] = y;
                        blue_difference[x] = cb;
                        red_difference[x] = cr;
                    }
                    if let Some(alpha) = alpha {
                        let opacity = &mut opacity.row_mut(row)[..width];
                        for (out, pixel) in opacity.iter_mut().zip(line.chunks_exact(pixel_bytes)) {
                            *out = pixel[alpha];
                        }
                    }
                }
            }
        }
        for component in 0..picture.format.component_count() {
            self.components[component].pad();
        }
    }

    /// Writes this slice's decoded samples into a raw frame, converting Y'CbCr to R'G'B'.
    fn scatter(&self, geometry: &SliceGeometry, target: &mut TargetPlanes) {
        let picture = &geometry.picture;
        match picture.format.layout() {
            Layout::Yuv { components, .. } => {
                for (component, sample_source) in components.iter().enumerate() {
                    let decoded = &self.components[component];
                    let stride = target.strides[sample_source.plane];
                    let plane = &mut *target.data[sample_source.plane];
                    for row in 0..decoded.rows {
                        let line = &mut plane[row * stride..];
                        let samples = decoded.row(row);
                        if sample_source.step == 1 {
                            line[..samples.len()].copy_from_slice(samples);
                        } else {
                            let outputs = line[sample_source.offset..]
                                .iter_mut()
                                .step_by(sample_source.step);
                            for (out, &sample) in outputs.zip(samples) {
                                *out = sample;
                            }
                        }
                    }
                }
            }
            Layout::Rgb {
                red,
                green,
                blue,
                alpha,
                filler,
                pixel_bytes,
            } => {
                let stride = target.strides[0];
                let plane = &mut *target.data[0];
                let width = picture.width as usize;
                for row in 0..self.components[0].rows {
                    let line = &mut plane[row * stride..][..width * pixel_bytes];
                    let luma = self.components[0].row(row);
                    let blue_difference = self.components[1].row(row);
                    let red_difference = self.components[2].row(row);
                    for (x, pixel) in line.chunks_exact_mut(pixel_bytes).enumerate() {
                        let (r, g, b) =
                            ycbcr_to_rgb(luma[x], blue_difference[x], red_difference[x]);
                        pixel[red] = r;
                        pixel[green] = g;
                        pixel[blue] = b;
                        if let Some(filler) = filler {
                            pixel[filler] = 0xFF;
                        }
                    }
                    if let Some(alpha) = alpha {
                        let opacity = self.components[3].row(row);
                        for (pixel, &value) in line.chunks_exact_mut(pixel_bytes).zip(opacity) {
                            pixel[alpha] = value;
                        }
                    }
                }
            }
        }
    }

    /// Transforms, quantizes and codes (or decodes, dequantizes and inverse-transforms) every
    /// component of the slice, in order.
    fn code_components<C: BinaryCoder>(
        &mut self,
        coder: &mut C,
        component_count: usize,
        tables: &[QuantTable; 2],
        decoding: bool,
    ) {
        for set in self.contexts.iter_mut() {
            set.reset();
        }

        for component in 0..component_count {
            let table = &tables[(component == 1 || component == 2) as usize];
            let contexts = &mut self.contexts[context_set(component)];
            let samples = &mut self.components[component];
            let columns = samples.block_columns;
            self.above.resize(columns, CodedBlock::default());
            self.current.resize(columns, CodedBlock::default());

            let mut block: Block = [[0.0; 8]; 8];
            for block_row in 0..samples.block_rows {
                for column in 0..columns {
                    let (left, current) = self.current.split_at_mut(column);
                    let coded = &mut current[0];
                    if !decoding {
                        samples.load_block(block_row, column, &mut block);
                        dct::forward(&mut block);
                        table.quantize(&block, &mut coded.values);
                        coded.count_nonzero();
                    }

                    let has_above = block_row > 0;
                    let neighbours = Neighbours {
                        above: has_above.then(|| &self.above[column]),
                        left: left.last(),
                        above_left: (has_above && column > 0).then(|| &self.above[column - 1]),
                    };
                    code_block(coder, contexts, coded, neighbours);

                    if decoding {
                        table.dequantize(&coded.values, &mut block);
                        dct::inverse(&mut block);
                        samples.store_block(block_row, column, &block);
                    }
                }
                std::mem::swap(&mut self.above, &mut self.current);
            }
        }
    }

    /// Codes one slice of `source` into `self.coded`.
    pub(crate) fn encode(
        &mut self,
        geometry: &SliceGeometry,
        source: &SourcePlanes,
        tables: &[QuantTable; 2],
    ) {
        self.configure(geometry);
        self.gather(geometry, source);

        let mut coded = std::mem::take(&mut self.coded);
        coded.clear();
        let mut encoder = RangeEncoder::new(&mut coded);
        self.code_components(
            &mut encoder,
            geometry.picture.format.component_count(),
            tables,
            false,
        );
        encoder.finish();
        self.coded = coded;
    }

    /// Decodes one slice from `bytes` into `target`. Returns false when the bytes ran out
    /// before the slice was complete.
    pub(crate) fn decode(
        &mut self,
        geometry: &SliceGeometry,
        bytes: &[u8],
        tables: &[QuantTable; 2],
        target: &mut TargetPlanes,
    ) -> bool {
        self.configure(geometry);
        let mut decoder = RangeDecoder::new(bytes);
        self.code_components(
            &mut decoder,
            geometry.picture.format.component_count(),
            tables,
            true,
        );
        self.scatter(geometry, target);
        !decoder.overrun()
    }
}
