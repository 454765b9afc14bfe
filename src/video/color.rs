//! Full-range BT.601 conversion between R'G'B' and Y'CbCr, as JFIF defines it, in 16-bit
//! fixed point.

const HALF: i32 = 1 << 15;
const CHROMA_OFFSET: i32 = 128 << 16;

/// Converts one pixel to Y'CbCr.
#[inline(always)]
pub fn rgb_to_ycbcr(red: u8, green: u8, blue: u8) -> (u8, u8, u8) {
    let (r, g, b) = (red as i32, green as i32, blue as i32);
    let luma = (19595 * r + 38470 * g + 7471 * b + HALF) >> 16;
    let blue_difference = (-11059 * r - 21709 * g + 32768 * b + CHROMA_OFFSET + HALF - 1) >> 16;
    let red_difference = (32768 * r - 27439 * g - 5329 * b + CHROMA_OFFSET + HALF - 1) >> 16;
    (
        luma as u8,
        blue_difference.clamp(0, 255) as u8,
        red_difference.clamp(0, 255) as u8,
    )
}

/// Converts one pixel back to R'G'B', clamping to the representable range.
#[inline(always)]
pub fn ycbcr_to_rgb(luma: u8, blue_difference: u8, red_difference: u8) -> (u8, u8, u8) {
    let y = (luma as i32) << 16;
    let cb = blue_difference as i32 - 128;
    let cr = red_difference as i32 - 128;
    let red = (y + 91881 * cr + HALF) >> 16;
    let green = (y - 22554 * cb - 46802 * cr + HALF) >> 16;
    let blue = (y + 116130 * cb + HALF) >> 16;
    (
        red.clamp(0, 255) as u8,
        green.clamp(0, 255) as u8,
        blue.clamp(0, 255) as u8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greys_stay_grey() {
        for level in 0..=255u8 {
            assert_eq!(rgb_to_ycbcr(level, level, level), (level, 128, 128));
            assert_eq!(ycbcr_to_rgb(level, 128, 128), (level, level, level));
        }
    }

    #[test]
    fn round_trip_error_is_small() {
        let mut worst = 0;
        for red in (0..=255u8).step_by(5) {
            for green in (0..=255u8).step_by(3) {
                for blue in (0..=255u8).step_by(7) {
                    let (y, cb, cr) = rgb_to_ycbcr(red, green, blue);
                    let (r, g, b) = ycbcr_to_rgb(y, cb, cr);
                    worst = worst
                        .max(r.abs_diff(red))
                        .max(g.abs_diff(green))
                        .max(b.abs_diff(blue));
                }
            }
        }
        assert!(worst <= 3, "worst error {worst}");
    }

    #[test]
    fn matches_the_floating_point_definition() {
        let (y, cb, cr) = rgb_to_ycbcr(200, 30, 90);
        let fy = 0.299 * 200.0 + 0.587 * 30.0 + 0.114 * 90.0;
        let fcb = 128.0 - 0.168736 * 200.0 - 0.331264 * 30.0 + 0.5 * 90.0;
        let fcr = 128.0 + 0.5 * 200.0 - 0.418688 * 30.0 - 0.081312 * 90.0;
        assert!((y as f64 - fy).abs() <= 0.5);
        assert!((cb as f64 - fcb).abs() <= 0.5);
        assert!((cr as f64 - fcr).abs() <= 0.5);
    }
}
