//! Entropy coding of a learned codec's quantized latents under a factorized Gaussian model.
//!
//! A model of this kind declares, per latent channel, the scale `s` of a zero-mean Gaussian
//! that the unquantized latents follow. Coding with a quantizer step `q` means coding the
//! integers `round(y / q)`, each under the Gaussian of scale `s / q` integrated over its unit
//! interval. Each channel's distribution is tabulated once, when the step is set, over the
//! symbols within a few standard deviations, plus one escape symbol on either side that
//! carries the Gaussian's remaining tail; an escaped value follows as a 15-bit uniform symbol.
//! The tables drive constriction's range coder.

use std::fmt;

use constriction::stream::model::{DefaultContiguousCategoricalEntropyModel, DefaultUniformModel};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};
use probability::distribution::{Distribution, Gaussian};

/// Largest magnitude a coded latent may have.
pub const MAX_MAGNITUDE: i32 = (1 << 15) - 1;

/// How many standard deviations the tabulated support spans on either side of zero.
const SUPPORT_DEVIATIONS: f64 = 8.0;
/// The support never gets narrower than this, so that small scales still code small values
/// directly.
const MIN_RADIUS: i32 = 4;
/// Nor wider than this, which bounds the tables' size.
const MAX_RADIUS: i32 = 1024;
/// Scales are floored here: a channel that never varies still needs a usable distribution.
const MIN_SCALE: f64 = 0.05;

/// Why latents could not be coded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatentError {
    /// The model's parameters cannot form a distribution.
    BadModel(String),
    /// The latents do not fill whole channels of the model.
    ShapeMismatch { values: usize, channels: usize },
    /// The coded data is truncated or corrupt.
    Corrupt,
}

impl fmt::Display for LatentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadModel(why) => write!(f, "unusable entropy model: {why}"),
            Self::ShapeMismatch { values, channels } => write!(
                f,
                "{values} latent values do not fill {channels} channels evenly"
            ),
            Self::Corrupt => write!(f, "the coded latents are truncated or corrupt"),
        }
    }
}

impl std::error::Error for LatentError {}

/// One channel's tabulated distribution: symbol 0 is the low escape, symbols `1..=2r+1` are
/// the values `-r..=r`, and symbol `2r+2` is the high escape.
struct ChannelTable {
    radius: i32,
    model: DefaultContiguousCategoricalEntropyModel,
}

impl ChannelTable {
    fn new(scale: f64) -> Result<Self, LatentError> {
        let radius = ((SUPPORT_DEVIATIONS * scale).ceil() as i32).clamp(MIN_RADIUS, MAX_RADIUS);
        let gaussian = Gaussian::new(0.0, scale);
        let cdf = |x: f64| gaussian.distribution(x);

        let mut probabilities = Vec::with_capacity(2 * radius as usize + 3);
        probabilities.push(cdf(-radius as f64 - 0.5));
        for value in -radius..=radius {
            probabilities.push(cdf(value as f64 + 0.5) - cdf(value as f64 - 0.5));
        }
        probabilities.push(1.0 - cdf(radius as f64 + 0.5));

        let model =
            DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(
                &probabilities,
                None,
            )
            .map_err(|()| LatentError::BadModel(format!("scale {scale} gives no distribution")))?;
        Ok(Self { radius, model })
    }
}

/// Most bytes [`FactorizedGaussian::encode`] can give for `values` latents: each takes a
/// symbol and perhaps an escape, each under 32 bits at the coder's 24-bit precision, and the
/// coder ends with at most a few words. A packet claiming more is damaged.
pub fn max_coded_len(values: usize) -> usize {
    values * 8 + 16
}

/// Codes latents channel by channel under per-channel Gaussians, for one quantizer step.
pub struct FactorizedGaussian {
    channels: Vec<ChannelTable>,
    escape: DefaultUniformModel,
}

impl FactorizedGaussian {
    /// Tabulates the model with channel scales `scales` (in latent units) for quantizer step
    /// `step`.
    pub fn new(scales: &[f32], step: f32) -> Result<Self, LatentError> {
        if scales.is_empty() {
            return Err(LatentError::BadModel("no channels".to_owned()));
        }
        if !(step.is_finite() && step > 0.0) {
            return Err(LatentError::BadModel(format!("quantizer step {step}")));
        }
        let channels = scales
            .iter()
            .map(|&scale| {
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(LatentError::BadModel(format!("channel scale {scale}")));
                }
                ChannelTable::new((scale as f64 / step as f64).max(MIN_SCALE))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            channels,
            escape: DefaultUniformModel::new(MAX_MAGNITUDE as usize + 1),
        })
    }

    fn plane_len(&self, values: usize) -> Result<usize, LatentError> {
        let channels = self.channels.len();
        if values % channels != 0 {
            return Err(LatentError::ShapeMismatch { values, channels });
        }
        Ok(values / channels)
    }

    /// Codes `latents` (channel-major: every value of channel 0, then of channel 1, ...) and
    /// appends the bytes to `out`. Values beyond [`MAX_MAGNITUDE`] are clamped to it.
    pub fn encode(&self, latents: &[i32], out: &mut Vec<u8>) -> Result<(), LatentError> {
        let plane_len = self.plane_len(latents.len())?;
        // A fresh encoder per call: constriction's range encoder does not return to its
        // initial state after `clear` once its output has been taken.
        let mut encoder = DefaultRangeEncoder::new();
        for (table, plane) in self
            .channels
            .iter()
            .zip(latents.chunks_exact(plane_len.max(1)))
        {
            for &value in plane {
                let value = value.clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE);
                let symbol = (value + table.radius + 1).clamp(0, 2 * table.radius + 2) as usize;
                encoder
                    .encode_symbol(symbol, &table.model)
                    .map_err(|_| LatentError::Corrupt)?;
                if value.abs() > table.radius {
                    let excess = (value.abs() - table.radius - 1) as usize;
                    encoder
                        .encode_symbol(excess, self.escape)
                        .map_err(|_| LatentError::Corrupt)?;
                }
            }
        }
        let words = encoder
            .into_compressed()
            .map_err(|_| LatentError::Corrupt)?;
        out.extend(words.iter().flat_map(|word| word.to_le_bytes()));
        Ok(())
    }

    /// Decodes latents coded by [`FactorizedGaussian::encode`] into `latents`, whose length
    /// says how many there are.
    pub fn decode(&self, bytes: &[u8], latents: &mut [i32]) -> Result<(), LatentError> {
        let plane_len = self.plane_len(latents.len())?;
        if bytes.len() % 4 != 0 {
            return Err(LatentError::Corrupt);
        }
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes(word.try_into().unwrap()))
            .collect();
        let mut decoder =
            DefaultRangeDecoder::from_compressed(words).map_err(|_| LatentError::Corrupt)?;

        for (table, plane) in self
            .channels
            .iter()
            .zip(latents.chunks_exact_mut(plane_len.max(1)))
        {
            for value in plane {
                let symbol = decoder
                    .decode_symbol(&table.model)
                    .map_err(|_| LatentError::Corrupt)? as i32;
                let mut decoded = symbol - table.radius - 1;
                if decoded.abs() > table.radius {
                    let excess = decoder
                        .decode_symbol(self.escape)
                        .map_err(|_| LatentError::Corrupt)? as i32;
                    decoded = decoded.signum() * (table.radius + 1 + excess);
                }
                *value = decoded.clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE);
            }
        }
        Ok(())
    }

    /// Bits the model assigns to `latents`, without coding them: what an ideal coder would
    /// produce.
    pub fn information(&self, latents: &[i32]) -> Result<f64, LatentError> {
        use constriction::stream::model::EncoderModel;

        let plane_len = self.plane_len(latents.len())?;
        let mut bits = 0.0;
        for (table, plane) in self
            .channels
            .iter()
            .zip(latents.chunks_exact(plane_len.max(1)))
        {
            for &value in plane {
                let value = value.clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE);
                let symbol = (value + table.radius + 1).clamp(0, 2 * table.radius + 2) as usize;
                let probability = table.model.floating_point_probability::<f64>(symbol);
                bits -= probability.log2();
                if value.abs() > table.radius {
                    bits += 15.0;
                }
            }
        }
        Ok(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic Gaussian samples (Box-Muller over a xorshift generator).
    fn gaussian_samples(count: usize, scale: f64, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..count)
            .map(|_| {
                let (u, v) = (uniform(), uniform());
                scale * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect()
    }

    fn quantized_latents(scales: &[f32], step: f32, plane_len: usize) -> Vec<i32> {
        scales
            .iter()
            .enumerate()
            .flat_map(|(channel, &scale)| {
                gaussian_samples(plane_len, scale as f64, channel as u64 + 1)
                    .into_iter()
                    .map(move |y| (y / step as f64).round() as i32)
            })
            .collect()
    }

    #[test]
    fn latents_round_trip_exactly_including_escapes() {
        let scales = [0.01, 0.3, 1.0, 4.0, 20.0, 300.0];
        for step in [0.5, 1.0, 3.0] {
            let mut latents = quantized_latents(&scales, step, 500);
            // Values far outside every channel's support.
            latents[0] = 20_000;
            latents[501] = -MAX_MAGNITUDE;
            latents[1002] = 5000;
            let coder = FactorizedGaussian::new(&scales, step).unwrap();
            let mut bytes = Vec::new();
            coder.encode(&latents, &mut bytes).unwrap();

            let mut decoded = vec![0; latents.len()];
            coder.decode(&bytes, &mut decoded).unwrap();
            assert_eq!(decoded, latents, "step {step}");
        }
    }

    #[test]
    fn one_coder_codes_many_frames() {
        let scales = [0.2, 1.0, 5.0, 40.0];
        let coder = FactorizedGaussian::new(&scales, 1.0).unwrap();
        for frame in 0..40 {
            let step = 0.25 + frame as f32 * 0.1;
            let latents = quantized_latents(&scales, step, 300 + frame);
            let mut bytes = Vec::new();
            coder.encode(&latents, &mut bytes).unwrap();
            let mut decoded = vec![0; latents.len()];
            coder.decode(&bytes, &mut decoded).unwrap();
            assert_eq!(decoded, latents, "frame {frame}");
        }
    }

    #[test]
    fn coded_size_is_close_to_the_information_content() {
        let scales = [0.5, 1.0, 2.0, 8.0];
        let latents = quantized_latents(&scales, 1.0, 20_000);
        let coder = FactorizedGaussian::new(&scales, 1.0).unwrap();
        let mut bytes = Vec::new();
        coder.encode(&latents, &mut bytes).unwrap();
        let ideal = coder.information(&latents).unwrap() / 8.0;
        let actual = bytes.len() as f64;
        assert!(
            actual < ideal * 1.005 + 8.0,
            "{actual} bytes against {ideal:.0} ideal"
        );
    }

    #[test]
    fn bad_models_and_shapes_are_refused() {
        assert!(FactorizedGaussian::new(&[], 1.0).is_err());
        assert!(FactorizedGaussian::new(&[1.0, -1.0], 1.0).is_err());
        assert!(FactorizedGaussian::new(&[1.0, f32::NAN], 1.0).is_err());
        assert!(FactorizedGaussian::new(&[1.0], 0.0).is_err());
        let coder = FactorizedGaussian::new(&[1.0, 2.0], 1.0).unwrap();
        let error = coder.encode(&[1, 2, 3], &mut Vec::new()).unwrap_err();
        assert_eq!(
            error,
            LatentError::ShapeMismatch {
                values: 3,
                channels: 2
            }
        );
    }

    #[test]
    fn corrupt_data_decodes_to_an_error_or_bounded_values() {
        let scales = [1.0, 3.0];
        let latents = quantized_latents(&scales, 1.0, 300);
        let coder = FactorizedGaussian::new(&scales, 1.0).unwrap();
        let mut bytes = Vec::new();
        coder.encode(&latents, &mut bytes).unwrap();

        let mut decoded = vec![0; latents.len()];
        assert_eq!(
            coder.decode(&bytes[..bytes.len() - 1], &mut decoded),
            Err(LatentError::Corrupt)
        );
        for flip in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[flip / 8] ^= 1 << (flip % 8);
            if coder.decode(&corrupt, &mut decoded).is_ok() {
                assert!(decoded.iter().all(|v| v.abs() <= MAX_MAGNITUDE));
            }
        }
        let truncated = &bytes[..bytes.len() / 2 / 4 * 4];
        let _ = coder.decode(truncated, &mut decoded);
    }
}
