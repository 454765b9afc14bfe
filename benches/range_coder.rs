//! The coefficient coder's speed with its own binary range coder against the same syntax on
//! constriction's range coder, on blocks of a real photo.
//!
//! Both run the identical context modelling ([`percept::coefficients::code_block`]) and the
//! identical adaptive probabilities ([`BitModel`]); only the arithmetic coder differs. For
//! constriction each binary decision is coded with a two-symbol categorical model built from
//! the adaptive probability, which is how its range coder takes a probability that changes
//! after every symbol.
//!
//! ```text
//! cargo bench -p percept-benches --bench range_coder
//! ```

use std::time::Instant;

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::queue::DefaultRangeEncoder;
use constriction::stream::Encode;
use percept::coefficients::{code_block, CodedBlock, CoefficientContexts, Neighbours};
use percept::dct;
use percept::quant::{QuantTable, TableKind};
use percept::range_coder::{BinaryCoder, BitModel, RangeEncoder, PROBABILITY_BITS};
use percept_testing::{load_frames, media};

const PHOTO: &str = "photos/hubble_deep_field.jpg";
const QUALITY: u8 = 85;
const ROUNDS: usize = 5;

/// constriction's fixed-point precision; the 15-bit probabilities are scaled up to it.
const CONSTRICTION_PRECISION: u32 = 24;

/// Codes decisions with constriction's range coder.
struct ConstrictionCoder {
    encoder: DefaultRangeEncoder,
}

impl BinaryCoder for ConstrictionCoder {
    fn code(&mut self, bit: bool, model: &mut BitModel) -> bool {
        let zero = (model.probability_of_zero() << (CONSTRICTION_PRECISION - PROBABILITY_BITS))
            .clamp(1, (1 << CONSTRICTION_PRECISION) - 1);
        let categorical =
            DefaultContiguousCategoricalEntropyModel::from_nonzero_fixed_point_probabilities(
                [zero, (1 << CONSTRICTION_PRECISION) - zero],
                false,
            )
            .expect("probabilities sum to one");
        self.encoder
            .encode_symbol(bit as usize, &categorical)
            .expect("constriction failed to code a bit");
        model.update(bit);
        bit
    }

    fn code_equiprobable(&mut self, value: u32, count: u32) -> u32 {
        let mut zero = BitModel::new();
        for shift in (0..count).rev() {
            self.code((value >> shift) & 1 != 0, &mut zero);
        }
        value
    }
}

/// The luma of the photo as quantized blocks, and the width of the block grid.
fn photo_blocks() -> (Vec<CodedBlock>, usize) {
    percept_testing::init();
    let frames = load_frames(&media(PHOTO), "video/x-raw,format=GRAY8", None);
    let caps = frames[0].caps().unwrap();
    let info = gst_video::VideoInfo::from_caps(caps).unwrap();
    let (width, height, stride) = (
        info.width() as usize,
        info.height() as usize,
        info.stride()[0] as usize,
    );
    let samples = frames[0].buffer().unwrap().map_readable().unwrap();
    let table = QuantTable::new(TableKind::Luma, QUALITY);

    let (columns, rows) = (width / 8, height / 8);
    let mut blocks = Vec::with_capacity(columns * rows);
    for block_row in 0..rows {
        for column in 0..columns {
            let mut block = [[0.0f32; 8]; 8];
            for (y, line) in block.iter_mut().enumerate() {
                let start = (block_row * 8 + y) * stride + column * 8;
                for (x, sample) in line.iter_mut().enumerate() {
                    *sample = samples[start + x] as f32 - 128.0;
                }
            }
            dct::forward(&mut block);
            let mut coded = CodedBlock::default();
            table.quantize(&block, &mut coded.values);
            coded.count_nonzero();
            blocks.push(coded);
        }
    }
    (blocks, columns)
}

/// Codes every block on a grid `columns` wide, as a slice would.
fn code_grid<C: BinaryCoder>(coder: &mut C, blocks: &mut [CodedBlock], columns: usize) {
    let mut contexts = Box::<CoefficientContexts>::default();
    for index in 0..blocks.len() {
        let (row, column) = (index / columns, index % columns);
        let (before, rest) = blocks.split_at_mut(index);
        let neighbours = Neighbours {
            above: (row > 0).then(|| &before[index - columns]),
            left: (column > 0).then(|| &before[index - 1]),
            above_left: (row > 0 && column > 0).then(|| &before[index - columns - 1]),
        };
        code_block(coder, &mut contexts, &mut rest[0], neighbours);
    }
}

/// Best of several rounds, in milliseconds, and the coded size in bytes.
fn measure(mut run: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        bytes = run();
        best = best.min(started.elapsed().as_secs_f64() * 1e3);
    }
    (best, bytes)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        // Run as a test: nothing to check beyond compiling.
        return;
    }
    let (blocks, columns) = photo_blocks();

    let (ours_ms, ours_bytes) = measure(|| {
        let mut bytes = Vec::new();
        let mut encoder = RangeEncoder::new(&mut bytes);
        code_grid(&mut encoder, &mut blocks.clone(), columns);
        encoder.finish();
        bytes.len()
    });
    let (theirs_ms, theirs_bytes) = measure(|| {
        let mut coder = ConstrictionCoder {
            encoder: DefaultRangeEncoder::new(),
        };
        code_grid(&mut coder, &mut blocks.clone(), columns);
        coder.encoder.num_bits().div_ceil(8)
    });

    println!(
        "{PHOTO} luma, {} blocks at quality {QUALITY}, best of {ROUNDS}:",
        blocks.len()
    );
    println!("  binary range coder:       {ours_ms:7.2} ms  {ours_bytes} bytes");
    println!("  constriction range coder: {theirs_ms:7.2} ms  {theirs_bytes} bytes");
    println!(
        "  constriction takes {:.1}x the time for {:+.2}% bytes",
        theirs_ms / ours_ms,
        (theirs_bytes as f64 / ours_bytes as f64 - 1.0) * 100.0
    );
}
