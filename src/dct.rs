//! The 8x8 two-dimensional DCT-II and its inverse, in the scaled form of Arai, Agui and
//! Nakajima.
//!
//! The scaled transform leaves every output coefficient multiplied by a known factor
//! (`SCALE[u] * SCALE[v]`, with an overall 1/8 for the inverse). Those factors are folded into
//! the quantizer's divisors and multipliers (see [`crate::quant`]), which leaves five
//! multiplications per one-dimensional pass. Each pass runs on eight columns at once, which
//! the compiler turns into SIMD arithmetic.

/// An 8x8 block of samples or coefficients, row-major.
pub type Block = [[f32; 8]; 8];

/// `SCALE[0] = 1` and `SCALE[k] = sqrt(2) cos(k pi / 16)`: the factor by which the scaled
/// forward transform overshoots the orthonormal DCT-II along one axis, times `sqrt(8)`.
pub const SCALE: [f32; 8] = [
    1.0,
    1.387_039_8,
    1.306_563,
    1.175_875_6,
    1.0,
    0.785_694_96,
    0.541_196_1,
    0.275_899_38,
];

const COS_4: f32 = std::f32::consts::FRAC_1_SQRT_2;
const COS_6_SQRT_2: f32 = 0.541_196_1;
const COS_2_SQRT_2: f32 = 1.306_563;
const COS_6: f32 = 0.382_683_43;
const SQRT_2: f32 = std::f32::consts::SQRT_2;
const TWO_COS_2: f32 = 1.847_759;
const TWO_COS_2_MINUS_6: f32 = 1.082_392_2;
const TWO_COS_2_PLUS_6: f32 = 2.613_126;

/// Forward transform of one axis, applied to all eight lanes: `v[n][lane]` is sample `n` of
/// the sequence in that lane. Indexing by lane, rather than iterating, is what lets the
/// compiler turn each statement into one vector operation across the eight lanes.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn forward_pass(v: &mut Block) {
    for lane in 0..8 {
        let sum07 = v[0][lane] + v[7][lane];
        let diff07 = v[0][lane] - v[7][lane];
        let sum16 = v[1][lane] + v[6][lane];
        let diff16 = v[1][lane] - v[6][lane];
        let sum25 = v[2][lane] + v[5][lane];
        let diff25 = v[2][lane] - v[5][lane];
        let sum34 = v[3][lane] + v[4][lane];
        let diff34 = v[3][lane] - v[4][lane];

        // Even half: a 4-point DCT of the sums.
        let even0 = sum07 + sum34;
        let even3 = sum07 - sum34;
        let even1 = sum16 + sum25;
        let even2 = sum16 - sum25;
        v[0][lane] = even0 + even1;
        v[4][lane] = even0 - even1;
        let rotated = (even2 + even3) * COS_4;
        v[2][lane] = even3 + rotated;
        v[6][lane] = even3 - rotated;

        // Odd half: a rotation network on the differences.
        let odd0 = diff34 + diff25;
        let odd1 = diff25 + diff16;
        let odd2 = diff16 + diff07;
        let shared = (odd0 - odd2) * COS_6;
        let rotated0 = COS_6_SQRT_2 * odd0 + shared;
        let rotated2 = COS_2_SQRT_2 * odd2 + shared;
        let rotated1 = odd1 * COS_4;
        let upper = diff07 + rotated1;
        let lower = diff07 - rotated1;
        v[5][lane] = lower + rotated0;
        v[3][lane] = lower - rotated0;
        v[1][lane] = upper + rotated2;
        v[7][lane] = upper - rotated2;
    }
}

/// Inverse transform of one axis, applied to all eight lanes.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn inverse_pass(v: &mut Block) {
    for lane in 0..8 {
        // Even half.
        let sum04 = v[0][lane] + v[4][lane];
        let diff04 = v[0][lane] - v[4][lane];
        let sum26 = v[2][lane] + v[6][lane];
        let diff26 = (v[2][lane] - v[6][lane]) * SQRT_2 - sum26;
        let even0 = sum04 + sum26;
        let even3 = sum04 - sum26;
        let even1 = diff04 + diff26;
        let even2 = diff04 - diff26;

        // Odd half.
        let sum53 = v[5][lane] + v[3][lane];
        let diff53 = v[5][lane] - v[3][lane];
        let sum17 = v[1][lane] + v[7][lane];
        let diff17 = v[1][lane] - v[7][lane];
        let odd7 = sum17 + sum53;
        let odd_mid = (sum17 - sum53) * SQRT_2;
        let shared = (diff53 + diff17) * TWO_COS_2;
        let rotated0 = shared - diff17 * TWO_COS_2_MINUS_6;
        let rotated2 = shared - diff53 * TWO_COS_2_PLUS_6;
        let odd6 = rotated2 - odd7;
        let odd5 = odd_mid - odd6;
        let odd4 = rotated0 - odd5;

        v[0][lane] = even0 + odd7;
        v[7][lane] = even0 - odd7;
        v[1][lane] = even1 + odd6;
        v[6][lane] = even1 - odd6;
        v[2][lane] = even2 + odd5;
        v[5][lane] = even2 - odd5;
        v[3][lane] = even3 + odd4;
        v[4][lane] = even3 - odd4;
    }
}

#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn transpose(block: &mut Block) {
    for row in 0..8 {
        for column in row + 1..8 {
            let value = block[row][column];
            block[row][column] = block[column][row];
            block[column][row] = value;
        }
    }
}

/// Scaled forward DCT-II in place: afterwards `block[u][v]` holds the orthonormal coefficient
/// times `8 * SCALE[u] * SCALE[v]`, with `u` the vertical frequency.
#[inline]
pub fn forward(block: &mut Block) {
    forward_pass(block);
    transpose(block);
    forward_pass(block);
    transpose(block);
}

/// Scaled inverse DCT in place: given orthonormal coefficients multiplied by
/// `SCALE[u] * SCALE[v] / 8`, it leaves the samples.
#[inline]
pub fn inverse(block: &mut Block) {
    inverse_pass(block);
    transpose(block);
    inverse_pass(block);
    transpose(block);
}

// The reference transforms are written as their formulas are, with indices.
#[allow(clippy::needless_range_loop)]
#[cfg(test)]
mod tests {
    use super::*;

    fn orthonormal_dct(samples: &Block) -> Block {
        let mut out = [[0.0; 8]; 8];
        let alpha = |k: usize| if k == 0 { (0.125f64).sqrt() } else { 0.5 };
        for u in 0..8 {
            for v in 0..8 {
                let mut sum = 0.0f64;
                for y in 0..8 {
                    for x in 0..8 {
                        sum += samples[y][x] as f64
                            * ((2 * y + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()
                            * ((2 * x + 1) as f64 * v as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                out[u][v] = (alpha(u) * alpha(v) * sum) as f32;
            }
        }
        out
    }

    fn random_block(seed: u64) -> Block {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut block = [[0.0; 8]; 8];
        for row in block.iter_mut() {
            for sample in row.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *sample = (state % 256) as f32 - 128.0;
            }
        }
        block
    }

    #[test]
    fn scale_factors_match_their_definition() {
        for (k, &scale) in SCALE.iter().enumerate().skip(1) {
            let expected = 2f64.sqrt() * (k as f64 * std::f64::consts::PI / 16.0).cos();
            assert!((scale as f64 - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn forward_matches_the_naive_transform() {
        for seed in 0..50 {
            let samples = random_block(seed);
            let reference = orthonormal_dct(&samples);
            let mut block = samples;
            forward(&mut block);
            for u in 0..8 {
                for v in 0..8 {
                    let scaled = block[u][v] / (8.0 * SCALE[u] * SCALE[v]);
                    assert!(
                        (scaled - reference[u][v]).abs() < 1e-3,
                        "({u},{v}): {scaled} against {}",
                        reference[u][v]
                    );
                }
            }
        }
    }

    #[test]
    fn inverse_undoes_forward() {
        for seed in 0..50 {
            let samples = random_block(seed);
            let mut block = orthonormal_dct(&samples);
            for (u, row) in block.iter_mut().enumerate() {
                for (v, coefficient) in row.iter_mut().enumerate() {
                    *coefficient *= SCALE[u] * SCALE[v] / 8.0;
                }
            }
            inverse(&mut block);
            for y in 0..8 {
                for x in 0..8 {
                    assert!((block[y][x] - samples[y][x]).abs() < 1e-3);
                }
            }
        }
    }

    #[test]
    fn agrees_with_rustdct() {
        use rustdct::DctPlanner;

        let samples = random_block(99);
        let dct = DctPlanner::<f32>::new().plan_dct2(8);
        // Rows, then columns, with rustdct's unnormalised DCT-II.
        let mut rows = samples;
        for row in rows.iter_mut() {
            dct.process_dct2(row);
        }
        transpose(&mut rows);
        for row in rows.iter_mut() {
            dct.process_dct2(row);
        }
        transpose(&mut rows);

        let mut block = samples;
        forward(&mut block);
        for u in 0..8 {
            for v in 0..8 {
                // rustdct's DCT-II is the orthonormal one times 2 / alpha(k) per axis.
                let unnormalised = |k: usize| if k == 0 { 8f32.sqrt() } else { 2.0 };
                let expected = rows[u][v] / (unnormalised(u) * unnormalised(v));
                let ours = block[u][v] / (8.0 * SCALE[u] * SCALE[v]);
                assert!((ours - expected).abs() < 1e-3);
            }
        }
    }
}
