//! Real speech through real pipelines, and a spectral measure of how close decoded audio is.

use gst::prelude::*;
use std::path::Path;

use crate::{collect_samples, init};

/// The held-out speech: two speakers in turn, and one speaker.
pub const TEST_SPEECH: [&str; 2] = ["audio/two-speakers.wav", "audio/jfk.wav"];

/// Caps of the raw audio the helpers make and expect.
pub const SPEECH_CAPS: &str = "audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1";

/// Decodes a file into 16 kHz mono samples in [-1, 1].
pub fn load_speech(path: &Path) -> Vec<f32> {
    init();
    let description = format!(
        "filesrc location=\"{}\" ! decodebin ! audioconvert ! audioresample ! {SPEECH_CAPS} \
         ! appsink name=sink sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let samples = collect_samples(&pipeline)
        .unwrap_or_else(|error| panic!("cannot decode {}: {error}", path.display()));
    let audio = samples_f32(&samples);
    assert!(!audio.is_empty(), "no audio in {}", path.display());
    audio
}

/// Cuts 16 kHz mono audio into timestamped buffers of `chunk` samples, ready for an appsrc.
pub fn speech_buffers(audio: &[f32], chunk: usize) -> Vec<gst::Sample> {
    let caps = SPEECH_CAPS.parse::<gst::Caps>().unwrap();
    let mut offset = 0u64;
    audio
        .chunks(chunk.max(1))
        .map(|part| {
            let bytes: Vec<u8> = part.iter().flat_map(|s| s.to_le_bytes()).collect();
            let mut buffer = gst::Buffer::from_mut_slice(bytes);
            {
                let buffer = buffer.get_mut().unwrap();
                let at = |samples: u64| gst::ClockTime::SECOND.mul_div_floor(samples, 16000);
                buffer.set_pts(at(offset));
                buffer.set_duration(at(offset + part.len() as u64).unwrap() - at(offset).unwrap());
                buffer.set_offset(offset);
            }
            offset += part.len() as u64;
            gst::Sample::builder().buffer(&buffer).caps(&caps).build()
        })
        .collect()
}

/// The F32LE samples of every buffer, in order.
pub fn samples_f32(samples: &[gst::Sample]) -> Vec<f32> {
    let mut audio = Vec::new();
    for sample in samples {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        audio.extend(
            map.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    audio
}

/// In-place radix-2 FFT of `re` + i `im` (length a power of two).
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut length = 2;
    while length <= n {
        let angle = -2.0 * std::f64::consts::PI / length as f64;
        for start in (0..n).step_by(length) {
            for k in 0..length / 2 {
                let (sin, cos) = (angle * k as f64).sin_cos();
                let (a, b) = (start + k, start + k + length / 2);
                let (tr, ti) = (re[b] * cos - im[b] * sin, re[b] * sin + im[b] * cos);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        length <<= 1;
    }
}

/// Power spectra of 32 ms Hann-windowed frames every 16 ms.
fn power_spectra(audio: &[f32]) -> Vec<Vec<f64>> {
    const SIZE: usize = 512;
    let window: Vec<f64> = (0..SIZE)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / SIZE as f64).cos())
        .collect();
    audio
        .windows(SIZE)
        .step_by(SIZE / 2)
        .map(|frame| {
            let mut re: Vec<f64> = frame
                .iter()
                .zip(&window)
                .map(|(&s, w)| s as f64 * w)
                .collect();
            let mut im = vec![0.0; SIZE];
            fft(&mut re, &mut im);
            (0..=SIZE / 2)
                .map(|k| re[k] * re[k] + im[k] * im[k])
                .collect()
        })
        .collect()
}

/// Log-spectral distance in dB between a reference and its decoded version (same length), over
/// the frames where the reference is within 40 dB of its loudest frame, with power below 60 dB
/// under the loudest frame's mean counted as that floor (so that differences deep in the
/// noise do not dominate): 0 for identical spectra; on speech about 6.6 for Opus at 6 kbit/s,
/// 22 for silence and 37 for white noise of the speech's power.
pub fn log_spectral_distance(reference: &[f32], decoded: &[f32]) -> f64 {
    assert_eq!(reference.len(), decoded.len(), "lengths differ");
    let reference = power_spectra(reference);
    let decoded = power_spectra(decoded);
    let energy: Vec<f64> = reference.iter().map(|frame| frame.iter().sum()).collect();
    let loudest = energy.iter().cloned().fold(0.0, f64::max);
    let floor = 1e-6 * loudest / reference[0].len() as f64;
    let mut total = 0.0;
    let mut frames = 0;
    for ((a, b), &e) in reference.iter().zip(&decoded).zip(&energy) {
        if e < loudest * 1e-4 {
            continue;
        }
        let squared: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let difference = 10.0 * ((x + floor) / (y + floor)).log10();
                difference * difference
            })
            .sum::<f64>()
            / a.len() as f64;
        total += squared.sqrt();
        frames += 1;
    }
    total / frames.max(1) as f64
}
