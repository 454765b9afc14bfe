//! Quantization tables and the zigzag scan.
//!
//! The base tables are the example luminance and chrominance tables of the JPEG standard
//! (ITU-T T.81, Annex K), which were derived from visibility thresholds of each DCT frequency.
//! A quality from 1 to 100 scales them exactly as the Independent JPEG Group's software does,
//! so that a given quality quantizes the same way here as in a baseline JPEG encoder.

use crate::dct::{Block, SCALE};

/// Position in the row-major 8x8 block of the `n`-th coefficient in zigzag order, from the
/// lowest frequencies to the highest.
pub const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// T.81 Table K.1, row-major.
const LUMA_BASE: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// T.81 Table K.2, row-major.
const CHROMA_BASE: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// Which base table a plane is quantized with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Luma,
    Chroma,
}

/// The lowest and highest quality.
pub const QUALITY_RANGE: std::ops::RangeInclusive<u8> = 1..=100;

/// Quantizer steps for one quality and table kind, with the scaled DCT's factors folded in.
#[derive(Clone, Debug)]
pub struct QuantTable {
    steps: [u16; 64],
    /// Multipliers that take forward-DCT output to quantizer units, in zigzag order.
    forward: [f32; 64],
    /// Multipliers that take quantized values to inverse-DCT input, row-major.
    inverse: [f32; 64],
}

impl QuantTable {
    /// The table for `quality` (clamped to 1..=100).
    pub fn new(kind: TableKind, quality: u8) -> Self {
        let quality = quality.clamp(*QUALITY_RANGE.start(), *QUALITY_RANGE.end()) as u32;
        let percent = if quality < 50 {
            5000 / quality
        } else {
            200 - quality * 2
        };
        let base = match kind {
            TableKind::Luma => &LUMA_BASE,
            TableKind::Chroma => &CHROMA_BASE,
        };

        let mut steps = [0u16; 64];
        for (step, &base) in steps.iter_mut().zip(base) {
            *step = ((base as u32 * percent + 50) / 100).clamp(1, 255) as u16;
        }

        let mut forward = [0.0; 64];
        for (zigzag_index, &position) in ZIGZAG.iter().enumerate() {
            let (u, v) = (position / 8, position % 8);
            forward[zigzag_index] = 1.0 / (steps[position] as f32 * 8.0 * SCALE[u] * SCALE[v]);
        }
        let mut inverse = [0.0; 64];
        for (position, multiplier) in inverse.iter_mut().enumerate() {
            let (u, v) = (position / 8, position % 8);
            *multiplier = steps[position] as f32 * SCALE[u] * SCALE[v] / 8.0;
        }

        Self {
            steps,
            forward,
            inverse,
        }
    }

    /// Quantizer step sizes, row-major.
    pub fn steps(&self) -> &[u16; 64] {
        &self.steps
    }

    /// Quantizes the output of [`crate::dct::forward`] into zigzag order.
    #[inline]
    pub fn quantize(&self, coefficients: &Block, out: &mut [i16; 64]) {
        let flat = coefficients.as_flattened();
        for (zigzag_index, value) in out.iter_mut().enumerate() {
            let scaled = flat[ZIGZAG[zigzag_index]] * self.forward[zigzag_index];
            // Rounds half away from zero; the cast truncates, and is much cheaper than
            // `f32::round` on targets without SSE4.1.
            *value = (scaled + 0.5f32.copysign(scaled)) as i16;
        }
    }

    /// Turns zigzag-ordered quantized values into input for [`crate::dct::inverse`].
    #[inline]
    pub fn dequantize(&self, quantized: &[i16; 64], out: &mut Block) {
        let flat = out.as_flattened_mut();
        flat.fill(0.0);
        for (zigzag_index, &value) in quantized.iter().enumerate() {
            if value != 0 {
                let position = ZIGZAG[zigzag_index];
                flat[position] = value as f32 * self.inverse[position];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dct;

    #[test]
    fn zigzag_is_a_permutation_walking_antidiagonals() {
        let mut seen = [false; 64];
        for pair in ZIGZAG.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let diagonal = |p: usize| p / 8 + p % 8;
            assert!(diagonal(b) == diagonal(a) || diagonal(b) == diagonal(a) + 1);
        }
        for &position in &ZIGZAG {
            assert!(!seen[position]);
            seen[position] = true;
        }
    }

    #[test]
    fn quality_scaling_follows_the_usual_curve() {
        assert_eq!(QuantTable::new(TableKind::Luma, 50).steps(), &LUMA_BASE);
        assert!(QuantTable::new(TableKind::Luma, 100)
            .steps()
            .iter()
            .all(|&s| s == 1));
        assert_eq!(QuantTable::new(TableKind::Luma, 75).steps()[0], 8);
        assert_eq!(QuantTable::new(TableKind::Chroma, 1).steps()[0], 255);
        assert_eq!(QuantTable::new(TableKind::Chroma, 0).steps()[0], 255);
    }

    #[test]
    fn quantize_then_dequantize_reconstructs_within_half_a_step() {
        let table = QuantTable::new(TableKind::Luma, 90);
        let mut samples = [[0.0f32; 8]; 8];
        for (y, row) in samples.iter_mut().enumerate() {
            for (x, sample) in row.iter_mut().enumerate() {
                *sample = ((x * 37 + y * 91) % 200) as f32 - 100.0;
            }
        }
        let mut block = samples;
        dct::forward(&mut block);
        let mut quantized = [0i16; 64];
        table.quantize(&block, &mut quantized);
        table.dequantize(&quantized, &mut block);
        dct::inverse(&mut block);

        let mean_squared_error: f32 = samples
            .as_flattened()
            .iter()
            .zip(block.as_flattened())
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            / 64.0;
        let bound: f32 = table
            .steps()
            .iter()
            .map(|&s| (s as f32).powi(2) / 4.0)
            .sum::<f32>();
        assert!(mean_squared_error <= bound / 64.0, "{mean_squared_error}");
    }
}
