//! Quality of decoded raw video against the original, comparing only picture samples (row
//! padding and plane alignment ignored).

use gst_video::prelude::*;
use percept::metrics::psnr_from_squared_error;

/// Squared error and sample count of one plane (or, for packed formats, of all channels).
fn plane_error(
    original: &gst_video::VideoFrameRef<&gst::BufferRef>,
    decoded: &gst_video::VideoFrameRef<&gst::BufferRef>,
    plane: u32,
) -> (u64, usize) {
    let info = original.info();
    let format_info = info.format_info();
    let component = (0..format_info.n_components())
        .find(|&c| format_info.plane()[c as usize] == plane)
        .unwrap_or(0);
    let rows = format_info.scale_height(component as u8, info.height()) as usize;
    let columns = format_info.scale_width(component as u8, info.width()) as usize;
    let row_bytes = columns * format_info.pixel_stride()[component as usize] as usize;

    let (a, b) = (
        original.plane_data(plane).unwrap(),
        decoded.plane_data(plane).unwrap(),
    );
    let (stride_a, stride_b) = (
        original.plane_stride()[plane as usize] as usize,
        decoded.plane_stride()[plane as usize] as usize,
    );
    let mut squared_error = 0u64;
    for row in 0..rows {
        let line_a = &a[row * stride_a..][..row_bytes];
        let line_b = &b[row * stride_b..][..row_bytes];
        for (&x, &y) in line_a.iter().zip(line_b) {
            let difference = x.abs_diff(y) as u64;
            squared_error += difference * difference;
        }
    }
    (squared_error, rows * row_bytes)
}

fn map(sample: &gst::Sample) -> gst_video::VideoFrameRef<&gst::BufferRef> {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info).unwrap()
}

/// PSNR over all planes (all bytes of packed formats), in decibels.
pub fn frame_psnr(original: &gst::Sample, decoded: &gst::Sample) -> f64 {
    let (a, b) = (map(original), map(decoded));
    assert_eq!(a.info().format(), b.info().format(), "formats differ");
    assert_eq!(
        (a.width(), a.height()),
        (b.width(), b.height()),
        "sizes differ"
    );
    let (mut squared_error, mut count) = (0, 0);
    for plane in 0..a.n_planes() {
        let (error, samples) = plane_error(&a, &b, plane);
        squared_error += error;
        count += samples;
    }
    psnr_from_squared_error(squared_error, count)
}

/// PSNR of the first plane only (luma, for Y'CbCr formats).
pub fn luma_psnr(original: &gst::Sample, decoded: &gst::Sample) -> f64 {
    let (a, b) = (map(original), map(decoded));
    let (squared_error, count) = plane_error(&a, &b, 0);
    psnr_from_squared_error(squared_error, count)
}

/// Mean PSNR over frame pairs, weighting every frame equally.
pub fn mean_psnr(
    originals: &[gst::Sample],
    decoded: &[gst::Sample],
    measure: fn(&gst::Sample, &gst::Sample) -> f64,
) -> f64 {
    assert_eq!(originals.len(), decoded.len(), "frame counts differ");
    let sum: f64 = originals
        .iter()
        .zip(decoded)
        .map(|(a, b)| measure(a, b).min(100.0))
        .sum();
    sum / originals.len() as f64
}
