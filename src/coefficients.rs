//! Context modelling of quantized DCT blocks.
//!
//! Each block is coded as: the number of non-zero AC coefficients; the DC value as a residual
//! from a prediction made of the neighbouring blocks' DC values; then, in zigzag order until
//! every non-zero coefficient has been placed, a significance flag, a magnitude and a sign per
//! position.
//!
//! Every decision is a binary event with an adaptive probability chosen by a context, and the
//! contexts are what make the coding compact:
//! - the non-zero count is predicted from the counts of the blocks above and to the left;
//! - a coefficient's significance depends on its frequency, on how many non-zero coefficients
//!   are still to come, and on the magnitudes at the same frequency in the neighbouring blocks;
//! - magnitudes use an Elias-gamma binarization whose prefix bits are modelled by frequency band
//!   and neighbourhood, and signs are modelled by the neighbours' signs.
//!
//! The syntax is written once, generic over [`BinaryCoder`], so the encoder and the decoder
//! cannot disagree about it.

use crate::range_coder::{BinaryCoder, BitModel};

/// Largest magnitude class (bit length) a coded value may have. Quantized 8-bit samples need
/// at most 13 bits; the margin keeps garbage input bounded without ever limiting real data.
const MAX_CLASS: usize = 15;

/// Quantized DC values are clamped to this range on decoding, which corrupt input can exceed.
const DC_LIMIT: i32 = 4096;

const NONZERO_BUCKETS: usize = 12;
const ACTIVITY_BUCKETS: usize = 6;
const REMAINING_BUCKETS: usize = 6;
const NEIGHBOUR_BUCKETS: usize = 7;
const FREQUENCY_BANDS: usize = 8;

/// Frequency band of each zigzag position, for the magnitude and sign models.
const BAND: [u8; 64] = {
    let mut band = [0u8; 64];
    let mut k = 1;
    while k < 64 {
        band[k] = match k {
            1 => 0,
            2 => 1,
            3..=5 => 2,
            6..=9 => 3,
            10..=14 => 4,
            15..=20 => 5,
            21..=35 => 6,
            _ => 7,
        };
        k += 1;
    }
    band
};

/// One block's quantized coefficients in zigzag order and its count of non-zero AC values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodedBlock {
    pub values: [i16; 64],
    pub nonzero: u8,
}

impl Default for CodedBlock {
    fn default() -> Self {
        Self {
            values: [0; 64],
            nonzero: 0,
        }
    }
}

impl CodedBlock {
    /// Recounts the non-zero AC coefficients after `values` changed.
    pub fn count_nonzero(&mut self) {
        self.nonzero = self.values[1..].iter().filter(|&&v| v != 0).count() as u8;
    }
}

/// The already coded blocks that a block's contexts are drawn from.
#[derive(Clone, Copy, Default)]
pub struct Neighbours<'a> {
    pub above: Option<&'a CodedBlock>,
    pub left: Option<&'a CodedBlock>,
    pub above_left: Option<&'a CodedBlock>,
}

/// Models for a signed integer coded as zero flag, sign and magnitude.
#[derive(Clone)]
struct SignedModels {
    zero: BitModel,
    sign: BitModel,
    magnitude: MagnitudeModels,
}

#[derive(Clone)]
struct MagnitudeModels {
    class: [BitModel; MAX_CLASS],
}

/// The adaptive state for one kind of plane (luma, chroma or alpha).
#[derive(Clone)]
pub struct CoefficientContexts {
    nonzero_count: [[BitModel; 64]; NONZERO_BUCKETS],
    dc: [SignedModels; ACTIVITY_BUCKETS],
    significance: [[[BitModel; NEIGHBOUR_BUCKETS]; REMAINING_BUCKETS]; 64],
    magnitude: [[MagnitudeModels; NEIGHBOUR_BUCKETS]; FREQUENCY_BANDS],
    mantissa: [[BitModel; MAX_CLASS]; MAX_CLASS + 1],
    sign: [[[BitModel; 3]; 3]; FREQUENCY_BANDS],
}

impl Default for CoefficientContexts {
    fn default() -> Self {
        let magnitude = MagnitudeModels {
            class: [BitModel::new(); MAX_CLASS],
        };
        let signed = SignedModels {
            zero: BitModel::new(),
            sign: BitModel::new(),
            magnitude: magnitude.clone(),
        };
        Self {
            nonzero_count: [[BitModel::new(); 64]; NONZERO_BUCKETS],
            dc: std::array::from_fn(|_| signed.clone()),
            significance: [[[BitModel::new(); NEIGHBOUR_BUCKETS]; REMAINING_BUCKETS]; 64],
            magnitude: std::array::from_fn(|_| std::array::from_fn(|_| magnitude.clone())),
            mantissa: [[BitModel::new(); MAX_CLASS]; MAX_CLASS + 1],
            sign: [[[BitModel::new(); 3]; 3]; FREQUENCY_BANDS],
        }
    }
}

impl CoefficientContexts {
    /// Forgets everything learned, as at the start of a slice.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

fn nonzero_bucket(predicted: u32) -> usize {
    match predicted {
        0..=4 => predicted as usize,
        5..=6 => 5,
        7..=9 => 6,
        10..=13 => 7,
        14..=19 => 8,
        20..=29 => 9,
        _ => 10,
    }
}

fn activity_bucket(difference: u32) -> usize {
    match difference {
        0 => 0,
        1..=2 => 1,
        3..=6 => 2,
        7..=14 => 3,
        _ => 4,
    }
}

/// Context bucket of the count of non-zero coefficients still to come.
const REMAINING_BUCKET: [u8; 64] = {
    let mut table = [0u8; 64];
    let mut remaining = 0;
    while remaining < 64 {
        table[remaining] = match remaining {
            0..=1 => 0,
            2 => 1,
            3..=4 => 2,
            5..=8 => 3,
            9..=16 => 4,
            _ => 5,
        };
        remaining += 1;
    }
    table
};

/// Context bucket of the summed magnitudes at the same frequency in the neighbouring blocks,
/// indexed by the sum capped at 15.
const NEIGHBOUR_BUCKET: [u8; 16] = [0, 1, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5];

#[inline(always)]
fn neighbour_bucket(sum: u32) -> usize {
    NEIGHBOUR_BUCKET[sum.min(15) as usize] as usize
}

const NO_NEIGHBOURS: usize = NEIGHBOUR_BUCKETS - 1;

/// Codes a magnitude of at least one: the bit length in unary, then the bits below the
/// leading one.
#[inline(always)]
fn code_magnitude<C: BinaryCoder>(
    coder: &mut C,
    class_models: &mut MagnitudeModels,
    mantissa_models: &mut [[BitModel; MAX_CLASS]; MAX_CLASS + 1],
    value: u32,
) -> u32 {
    let class = (32 - value.leading_zeros()) as usize;
    let mut coded_class = 1;
    while coded_class < MAX_CLASS
        && coder.code(
            class > coded_class,
            &mut class_models.class[coded_class - 1],
        )
    {
        coded_class += 1;
    }

    let mut magnitude = 1u32;
    for bit in (0..coded_class - 1).rev() {
        let set = coder.code(
            (value >> bit) & 1 != 0,
            &mut mantissa_models[coded_class][bit],
        );
        magnitude = (magnitude << 1) | set as u32;
    }
    magnitude
}

#[inline(always)]
fn code_signed<C: BinaryCoder>(
    coder: &mut C,
    models: &mut SignedModels,
    mantissa: &mut [[BitModel; MAX_CLASS]; MAX_CLASS + 1],
    value: i32,
) -> i32 {
    if !coder.code(value != 0, &mut models.zero) {
        return 0;
    }
    let negative = coder.code(value < 0, &mut models.sign);
    let magnitude = code_magnitude(coder, &mut models.magnitude, mantissa, value.unsigned_abs());
    if negative {
        -(magnitude as i32)
    } else {
        magnitude as i32
    }
}

/// Median edge detector on the neighbours' DC values, as in LOCO-I: it follows an edge
/// when one runs through the neighbourhood and averages otherwise.
fn predict_dc(neighbours: &Neighbours) -> (i32, usize) {
    match (neighbours.above, neighbours.left, neighbours.above_left) {
        (Some(above), Some(left), Some(corner)) => {
            let (a, l, c) = (
                above.values[0] as i32,
                left.values[0] as i32,
                corner.values[0] as i32,
            );
            let prediction = if c >= a.max(l) {
                a.min(l)
            } else if c <= a.min(l) {
                a.max(l)
            } else {
                a + l - c
            };
            (prediction, activity_bucket(a.abs_diff(l)))
        }
        (Some(only), _, _) | (None, Some(only), _) => (only.values[0] as i32, ACTIVITY_BUCKETS - 1),
        (None, None, _) => (0, ACTIVITY_BUCKETS - 1),
    }
}

fn sign_index(value: i16) -> usize {
    (value.signum() + 1) as usize
}

/// Codes one block. When encoding, `block` holds the values to code and is left as it was;
/// when decoding, it receives the decoded values.
pub fn code_block<C: BinaryCoder>(
    coder: &mut C,
    contexts: &mut CoefficientContexts,
    block: &mut CodedBlock,
    neighbours: Neighbours,
) {
    let predicted_count = match (neighbours.above, neighbours.left) {
        (Some(above), Some(left)) => {
            nonzero_bucket((above.nonzero as u32 + left.nonzero as u32).div_ceil(2))
        }
        (Some(only), None) | (None, Some(only)) => nonzero_bucket(only.nonzero as u32),
        (None, None) => NONZERO_BUCKETS - 1,
    };
    let count_models = &mut contexts.nonzero_count[predicted_count];
    let mut node = 1usize;
    for shift in (0..6).rev() {
        let bit = coder.code((block.nonzero >> shift) & 1 != 0, &mut count_models[node]);
        node = node * 2 + bit as usize;
    }
    let nonzero = (node - 64) as u8;
    block.nonzero = nonzero;

    let (predicted_dc, activity) = predict_dc(&neighbours);
    let residual = code_signed(
        coder,
        &mut contexts.dc[activity],
        &mut contexts.mantissa,
        block.values[0] as i32 - predicted_dc,
    );
    block.values[0] = (predicted_dc + residual).clamp(-DC_LIMIT, DC_LIMIT) as i16;

    let above = neighbours.above.map(|b| &b.values);
    let left = neighbours.left.map(|b| &b.values);
    let mut remaining = nonzero;
    for k in 1..64 {
        if remaining == 0 {
            block.values[k..].fill(0);
            break;
        }

        let (neighbourhood, sign_context) = match (above, left) {
            (Some(a), Some(l)) => (
                neighbour_bucket(a[k].unsigned_abs() as u32 + l[k].unsigned_abs() as u32),
                (sign_index(a[k]), sign_index(l[k])),
            ),
            (Some(only), None) | (None, Some(only)) => (
                neighbour_bucket(2 * only[k].unsigned_abs() as u32),
                (sign_index(only[k]), 1),
            ),
            (None, None) => (NO_NEIGHBOURS, (1, 1)),
        };

        let value = block.values[k];
        let must_be_significant = remaining as usize == 64 - k;
        let significant = must_be_significant
            || coder.code(
                value != 0,
                &mut contexts.significance[k][REMAINING_BUCKET[remaining as usize & 63] as usize]
                    [neighbourhood],
            );
        if !significant {
            block.values[k] = 0;
            continue;
        }
        remaining -= 1;

        let band = BAND[k] as usize;
        let magnitude = code_magnitude(
            coder,
            &mut contexts.magnitude[band][neighbourhood],
            &mut contexts.mantissa,
            value.unsigned_abs() as u32,
        );
        let negative = coder.code(
            value < 0,
            &mut contexts.sign[band][sign_context.0][sign_context.1],
        );
        let magnitude = magnitude as i16;
        block.values[k] = if negative { -magnitude } else { magnitude };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range_coder::{RangeDecoder, RangeEncoder};

    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Blocks shaped like real ones: large low frequencies, sparse high ones, with a few
    /// extreme values and completely full blocks mixed in.
    fn random_blocks(count: usize, seed: u64) -> Vec<CodedBlock> {
        let mut random = Random(seed | 1);
        (0..count)
            .map(|index| {
                let mut block = CodedBlock::default();
                block.values[0] = (random.next() % 4096) as i16 - 2048;
                for k in 1..64 {
                    let spread = 2048 >> (k / 4).min(11);
                    if index % 13 == 0 || random.next() % 64 > k as u64 {
                        block.values[k] = (random.next() % (2 * spread + 1)) as i16 - spread as i16;
                    }
                }
                if index % 29 == 0 {
                    block.values.fill(2047);
                }
                block.count_nonzero();
                block
            })
            .collect()
    }

    /// Codes blocks laid out on a grid of the given width, as a plane would be.
    fn code_grid<C: BinaryCoder>(coder: &mut C, blocks: &mut [CodedBlock], width: usize) {
        let mut contexts = Box::<CoefficientContexts>::default();
        for index in 0..blocks.len() {
            let (row, column) = (index / width, index % width);
            let (before, rest) = blocks.split_at_mut(index);
            let neighbours = Neighbours {
                above: (row > 0).then(|| &before[index - width]),
                left: (column > 0).then(|| &before[index - 1]),
                above_left: (row > 0 && column > 0).then(|| &before[index - width - 1]),
            };
            code_block(coder, &mut contexts, &mut rest[0], neighbours);
        }
    }

    #[test]
    fn blocks_round_trip_bit_exactly() {
        let original = random_blocks(3000, 5);
        let mut bytes = Vec::new();
        let mut encoder = RangeEncoder::new(&mut bytes);
        let mut encoded = original.clone();
        code_grid(&mut encoder, &mut encoded, 37);
        encoder.finish();
        assert_eq!(encoded, original, "encoding must not change the blocks");

        let mut decoded = vec![CodedBlock::default(); original.len()];
        let mut decoder = RangeDecoder::new(&bytes);
        code_grid(&mut decoder, &mut decoded, 37);
        assert_eq!(decoded, original);
        assert!(!decoder.overrun());
    }

    #[test]
    fn garbage_input_decodes_to_consistent_bounded_blocks() {
        let mut random = Random(77);
        let garbage: Vec<u8> = (0..5000).map(|_| random.next() as u8).collect();
        let mut decoded = vec![CodedBlock::default(); 500];
        let mut decoder = RangeDecoder::new(&garbage);
        code_grid(&mut decoder, &mut decoded, 20);
        for block in &decoded {
            assert!((block.values[0] as i32).abs() <= DC_LIMIT);
            let nonzero = block.values[1..].iter().filter(|&&v| v != 0).count();
            assert_eq!(
                nonzero, block.nonzero as usize,
                "the count matches the values"
            );
        }
    }
}
