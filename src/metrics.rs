//! Objective quality measures.

/// Peak signal-to-noise ratio in decibels between two 8-bit sample sequences of equal length.
/// Identical inputs give infinity.
pub fn psnr(reference: &[u8], distorted: &[u8]) -> f64 {
    assert_eq!(
        reference.len(),
        distorted.len(),
        "PSNR of sequences of different lengths"
    );
    let squared_error: u64 = reference
        .iter()
        .zip(distorted)
        .map(|(&a, &b)| {
            let difference = a.abs_diff(b) as u64;
            difference * difference
        })
        .sum();
    psnr_from_squared_error(squared_error, reference.len())
}

/// PSNR from a sum of squared errors over `count` 8-bit samples.
pub fn psnr_from_squared_error(squared_error: u64, count: usize) -> f64 {
    if squared_error == 0 {
        return f64::INFINITY;
    }
    let mean = squared_error as f64 / count as f64;
    10.0 * (255.0 * 255.0 / mean).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        let value = psnr(&[0; 100], &[1; 100]);
        assert!((value - 48.1308).abs() < 1e-3);
    }
}
