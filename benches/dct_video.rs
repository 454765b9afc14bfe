//! `dctenc` and `dctdec` against their JPEG peers, `jpegenc` and `jpegdec` (libjpeg-turbo), on
//! the real photos and clip that `scripts/setup.sh` installs in `media/`.
//!
//! * Speed: every element runs alone in a `gst_check::Harness`, and only pushing one frame (or
//!   packet) and pulling what comes out is timed, after a warm-up, taking turns with the elements
//!   it is compared with. Ours run with one thread and with all cores, at quality 85, on
//!   1920x1080 frames made from the photos and on the clip at its native size and at 1920x1080.
//! * Rate-distortion: bits per pixel and PSNR of encoding and decoding at qualities 30 to 95, on
//!   the photos at their native size and on the clip, and from those curves the Bjøntegaard
//!   delta rate (BD-rate) of `dctenc` against `jpegenc` at equal PSNR.
//!
//! Run it with
//!
//! ```text
//! cargo bench -p percept-benches --bench dct_video
//! ```
//!
//! It prints its figures and writes them, with a description of the machine and whether the
//! project's targets are met, to `benches/REPORT.md`. It takes under a minute on two cores.
//! Without `--bench` (as `cargo test --all-targets` runs it), it only checks its BD-rate
//! arithmetic.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use percept_testing::quality::{frame_psnr, luma_psnr, mean_psnr};
use percept_testing::{init, load_frames, media, process, total_bytes, TEST_CLIP, TEST_PHOTOS};

/// Quality of every encoder in the speed comparison.
const SPEED_QUALITY: u32 = 85;
/// Frames pushed before timing starts, and frames timed, per element and input.
const WARM_UP_FRAMES: usize = 5;
const TIMED_FRAMES: usize = 100;
/// Frames of the clip used for speed and for rate-distortion.
const SPEED_CLIP_FRAMES: usize = 50;
const RD_CLIP_FRAMES: usize = 20;
/// The qualities along which rate-distortion curves are measured.
const RD_QUALITIES: [u32; 10] = [30, 40, 50, 60, 70, 75, 80, 85, 90, 95];

const NATIVE_I420: &str = "video/x-raw,format=I420";
const HD_I420: &str = "video/x-raw,format=I420,width=1920,height=1080";
/// JPEG's accurate integer DCT, libjpeg's own default, for the rate-distortion curves:
/// GStreamer's jpegenc and jpegdec default to the fast approximate one, which costs JPEG
/// quality, above all at high qualities. The speed comparison keeps the faster default.
const JPEG_ACCURATE_DCT: &str = "idct-method=islow";

/// The project's targets: at least this fast as jpegenc with all cores, and at most this
/// BD-rate (in percent) against jpegenc.
const TARGET_ENCODE_SPEED: f64 = 1.0;
const TARGET_BD_RATE: f64 = -10.0;

fn main() {
    check_bd_rate();
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("BD-rate arithmetic checked; run `cargo bench` for the measurements");
        return;
    }

    let started = Instant::now();
    init();
    let machine = machine();
    let photos: Vec<Input> = TEST_PHOTOS
        .iter()
        .map(|path| Input::new(path, load_frames(&media(path), NATIVE_I420, None)))
        .collect();
    let clip = load_frames(&media(TEST_CLIP), NATIVE_I420, Some(SPEED_CLIP_FRAMES));

    let hd_photos = TEST_PHOTOS
        .iter()
        .flat_map(|path| load_frames(&media(path), HD_I420, None))
        .collect();
    let hd_clip = process(&clip, &format!("videoscale ! {HD_I420}")).unwrap();
    let speed = speed_section(&[
        Input::new(&format!("{} photos scaled", TEST_PHOTOS.len()), hd_photos),
        Input::new(TEST_CLIP, clip.clone()),
        Input::new(&format!("{TEST_CLIP} scaled"), hd_clip),
    ]);

    let rd_clip = Input::new(TEST_CLIP, clip[..RD_CLIP_FRAMES].to_vec());
    let rate_distortion = rate_distortion_section(&photos, &rd_clip);

    let report = report(&machine, &speed, &rate_distortion, started.elapsed());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("REPORT.md");
    std::fs::write(&path, &report).expect("cannot write the report");
    println!("{report}");
    println!("Written to {}", path.display());
}

/// Raw frames to measure on, under the name the report gives them.
struct Input {
    name: String,
    frames: Vec<gst::Sample>,
}

impl Input {
    /// Names `frames` by `label`, their size and their count.
    fn new(label: &str, frames: Vec<gst::Sample>) -> Self {
        let (width, height) = frame_size(&frames[0]);
        let mut name = format!("{label}, {width}x{height}");
        if frames.len() > 1 {
            name += &format!(", {} frames", frames.len());
        }
        Self { name, frames }
    }

    fn pixels(&self) -> usize {
        self.frames
            .iter()
            .map(|frame| {
                let (width, height) = frame_size(frame);
                width * height
            })
            .sum()
    }
}

fn frame_size(sample: &gst::Sample) -> (usize, usize) {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    (info.width() as usize, info.height() as usize)
}

// Speed

/// Time per frame of one element on one input, in milliseconds.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    mean: f64,
}

impl Timing {
    fn from_durations(mut durations: Vec<Duration>) -> Self {
        durations.sort();
        let milliseconds = |duration: &Duration| duration.as_secs_f64() * 1000.0;
        let middle = durations.len() / 2;
        let median = if durations.len() % 2 == 0 {
            (milliseconds(&durations[middle - 1]) + milliseconds(&durations[middle])) / 2.0
        } else {
            milliseconds(&durations[middle])
        };
        let mean = durations.iter().map(milliseconds).sum::<f64>() / durations.len() as f64;
        Self { median, mean }
    }
}

/// An element in its own harness, the frames (or packets) it is fed, and its timings so far.
struct Contender<'a> {
    element: String,
    harness: gst_check::Harness,
    samples: &'a [gst::Sample],
    durations: Vec<Duration>,
}

impl<'a> Contender<'a> {
    /// `element` is a gst-launch description; `samples` all have the caps of the first.
    fn new(element: String, samples: &'a [gst::Sample]) -> Self {
        let mut harness = gst_check::Harness::new_parse(&element);
        harness.set_src_caps(samples[0].caps().unwrap().to_owned());
        Self {
            element,
            harness,
            samples,
            durations: Vec::with_capacity(TIMED_FRAMES),
        }
    }

    /// Pushes the `index`th frame, cycling through the samples, and pulls the output, timing
    /// that once the warm-up is over.
    fn push_and_pull(&mut self, index: usize) {
        let frame_duration = gst::ClockTime::from_mseconds(40);
        // A shallow copy with timestamps of its own, so that every push is a new frame.
        let mut buffer = self.samples[index % self.samples.len()]
            .buffer()
            .unwrap()
            .copy();
        {
            let buffer = buffer.get_mut().unwrap();
            buffer.set_pts(frame_duration * index as u64);
            buffer.set_dts(gst::ClockTime::NONE);
            buffer.set_duration(frame_duration);
        }
        let started = Instant::now();
        self.harness
            .push_and_pull(buffer)
            .unwrap_or_else(|error| panic!("{}: no output ({error:?})", self.element));
        if index >= WARM_UP_FRAMES {
            self.durations.push(started.elapsed());
        }
    }
}

/// Times the contenders frame by frame in turn, so that whatever else the machine does slows
/// them alike.
fn time_interleaved<const N: usize>(mut contenders: [Contender; N]) -> [Timing; N] {
    for index in 0..WARM_UP_FRAMES + TIMED_FRAMES {
        for contender in &mut contenders {
            contender.push_and_pull(index);
        }
    }
    contenders.map(|contender| Timing::from_durations(contender.durations))
}

/// One of our elements raced against its JPEG peer, each on its own input.
struct Race<'a> {
    ours: &'a str,
    our_input: &'a [gst::Sample],
    peer: &'a str,
    peer_input: &'a [gst::Sample],
}

impl Race<'_> {
    /// Times ours with one thread and with all cores against the peer, adding a table row for
    /// each; returns our speed with all cores against the peer's (above 1 is faster).
    fn run(&self, input: &str, table: &mut String) -> f64 {
        let ours = |threads: u32| format!("{} threads={threads}", self.ours);
        let [one_thread, all_cores, peer] = time_interleaved([
            Contender::new(ours(1), self.our_input),
            Contender::new(ours(0), self.our_input),
            Contender::new(self.peer.to_owned(), self.peer_input),
        ]);
        let peer_name = self.peer.split_whitespace().next().unwrap();
        let speed = |timing: Timing| peer.median / timing.median;
        for (threads, label, timing) in [(1, "1 thread", one_thread), (0, "all cores", all_cores)] {
            let element = format!("`{}` ({label})", ours(threads));
            let versus = format!("{:.2}x {peer_name}'s", speed(timing));
            speed_row(table, input, &element, timing, &versus);
        }
        speed_row(table, input, &format!("`{}`", self.peer), peer, "(peer)");
        speed(all_cores)
    }
}

fn speed_row(table: &mut String, input: &str, element: &str, timing: Timing, speed: &str) {
    println!(
        "{input}: {element}: median {:.2} ms, mean {:.2} ms per frame, {speed}",
        timing.median, timing.mean
    );
    writeln!(
        table,
        "| {input} | {element} | {:.2} | {:.2} | {speed} |",
        timing.median, timing.mean
    )
    .unwrap();
}

/// The speed table, and the slowest all-core encoding speed against jpegenc with its input.
struct SpeedSection {
    table: String,
    slowest_encode: (f64, String),
}

fn speed_section(inputs: &[Input]) -> SpeedSection {
    let mut table = String::from(
        "| Input | Element | Median ms/frame | Mean ms/frame | Speed against the JPEG peer |\n\
         |---|---|---:|---:|---|\n",
    );
    let mut slowest_encode = (f64::INFINITY, String::new());
    let dctenc = format!("dctenc quality={SPEED_QUALITY}");
    let jpegenc = format!("jpegenc quality={SPEED_QUALITY}");
    for input in inputs {
        let dct_packets = process(&input.frames, &dctenc).unwrap();
        let jpeg_packets = process(&input.frames, &jpegenc).unwrap();
        let encode = Race {
            ours: &dctenc,
            our_input: &input.frames,
            peer: &jpegenc,
            peer_input: &input.frames,
        };
        let speed = encode.run(&input.name, &mut table);
        if speed < slowest_encode.0 {
            slowest_encode = (speed, input.name.clone());
        }
        let decode = Race {
            ours: "dctdec",
            our_input: &dct_packets,
            peer: "jpegdec",
            peer_input: &jpeg_packets,
        };
        decode.run(&input.name, &mut table);
    }
    SpeedSection {
        table,
        slowest_encode,
    }
}

// Rate-distortion

/// Rate and quality of one codec at one quality setting on one input.
#[derive(Clone, Copy)]
struct RdPoint {
    bpp: f64,
    psnr: f64,
    luma_psnr: f64,
}

impl RdPoint {
    /// Encodes `input` with `encoder` and decodes with `decoder` (gst-launch descriptions).
    fn measure(input: &Input, encoder: &str, decoder: &str) -> Self {
        let packets = process(&input.frames, encoder).unwrap();
        let decoded = process(&packets, decoder).unwrap();
        Self {
            bpp: total_bytes(&packets) as f64 * 8.0 / input.pixels() as f64,
            psnr: mean_psnr(&input.frames, &decoded, frame_psnr),
            luma_psnr: mean_psnr(&input.frames, &decoded, luma_psnr),
        }
    }

    fn mean(points: &[RdPoint]) -> Self {
        let count = points.len() as f64;
        let mean = |field: fn(&RdPoint) -> f64| points.iter().map(field).sum::<f64>() / count;
        Self {
            bpp: mean(|point| point.bpp),
            psnr: mean(|point| point.psnr),
            luma_psnr: mean(|point| point.luma_psnr),
        }
    }
}

/// Both codecs' points on one input, one per quality of `RD_QUALITIES`.
struct RdCurves {
    ours: Vec<RdPoint>,
    jpeg: Vec<RdPoint>,
}

impl RdCurves {
    fn measure(input: &Input) -> Self {
        println!("rate-distortion on {}", input.name);
        let (mut ours, mut jpeg) = (Vec::new(), Vec::new());
        for quality in RD_QUALITIES {
            ours.push(RdPoint::measure(
                input,
                &format!("dctenc quality={quality}"),
                "dctdec",
            ));
            jpeg.push(RdPoint::measure(
                input,
                &format!("jpegenc quality={quality} {JPEG_ACCURATE_DCT}"),
                &format!("jpegdec {JPEG_ACCURATE_DCT} ! videoconvert ! {NATIVE_I420}"),
            ));
        }
        Self { ours, jpeg }
    }

    /// Point by point means over several inputs.
    fn mean(curves: &[RdCurves]) -> Self {
        let mean_at = |index: usize, side: fn(&RdCurves) -> &[RdPoint]| {
            RdPoint::mean(&curves.iter().map(|c| side(c)[index]).collect::<Vec<_>>())
        };
        let indices = 0..RD_QUALITIES.len();
        Self {
            ours: indices.clone().map(|i| mean_at(i, |c| &c.ours)).collect(),
            jpeg: indices.map(|i| mean_at(i, |c| &c.jpeg)).collect(),
        }
    }

    /// BD-rate of ours against JPEG, by the PSNR over all planes and by the luma PSNR.
    fn bd_rates(&self) -> BdRates {
        let curve = |points: &[RdPoint], psnr: fn(&RdPoint) -> f64| -> Vec<RatePoint> {
            points
                .iter()
                .map(|point| RatePoint {
                    rate: point.bpp,
                    psnr: psnr(point),
                })
                .collect()
        };
        let by =
            |psnr: fn(&RdPoint) -> f64| bd_rate(&curve(&self.jpeg, psnr), &curve(&self.ours, psnr));
        BdRates {
            psnr: by(|point| point.psnr),
            luma: by(|point| point.luma_psnr),
        }
    }

    fn table(&self) -> String {
        let mut table = String::from(
            "| Quality | dctenc bpp | dctenc PSNR dB | dctenc luma dB \
             | jpegenc bpp | jpegenc PSNR dB | jpegenc luma dB |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for ((quality, ours), jpeg) in RD_QUALITIES.iter().zip(&self.ours).zip(&self.jpeg) {
            writeln!(
                table,
                "| {quality} | {:.3} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} |",
                ours.bpp, ours.psnr, ours.luma_psnr, jpeg.bpp, jpeg.psnr, jpeg.luma_psnr
            )
            .unwrap();
        }
        table
    }
}

/// BD-rates in percent; `None` where the two curves share no PSNR range.
#[derive(Clone, Copy)]
struct BdRates {
    psnr: Option<f64>,
    luma: Option<f64>,
}

impl BdRates {
    fn mean(rates: &[BdRates]) -> Self {
        let mean = |field: fn(&BdRates) -> Option<f64>| {
            let values: Option<Vec<f64>> = rates.iter().map(field).collect();
            values.map(|values| values.iter().sum::<f64>() / values.len() as f64)
        };
        Self {
            psnr: mean(|rates| rates.psnr),
            luma: mean(|rates| rates.luma),
        }
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(
        || "n/a (no common PSNR range)".to_owned(),
        |rate| format!("{rate:+.1}%"),
    )
}

/// The rate-distortion tables and BD-rates, and the BD-rates the target is judged on: the
/// photos' mean and the clip's.
struct RateDistortionSection {
    text: String,
    photos: BdRates,
    clip: BdRates,
}

fn rate_distortion_section(photos: &[Input], clip: &Input) -> RateDistortionSection {
    let photo_curves: Vec<RdCurves> = photos.iter().map(RdCurves::measure).collect();
    let clip_curves = RdCurves::measure(clip);
    let photo_rates: Vec<BdRates> = photo_curves.iter().map(RdCurves::bd_rates).collect();
    let photos_mean = BdRates::mean(&photo_rates);
    let clip_rates = clip_curves.bd_rates();

    let mut bd_table = String::from(
        "| Input | BD-rate at equal PSNR | BD-rate at equal luma PSNR |\n|---|---:|---:|\n",
    );
    let names = photos.iter().map(|photo| photo.name.as_str());
    let photos_name = format!("{} photos (mean of the above)", photos.len());
    let rows = names.zip(photo_rates).chain([
        (photos_name.as_str(), photos_mean),
        (clip.name.as_str(), clip_rates),
    ]);
    for (name, rates) in rows {
        writeln!(
            bd_table,
            "| {name} | {} | {} |",
            percent(rates.psnr),
            percent(rates.luma)
        )
        .unwrap();
    }

    let text = format!(
        "### {count} photos at their native size, means over the photos\n\n{photo_table}\n\
         ### {clip_name}\n\n{clip_table}\n\
         ### BD-rate of dctenc against jpegenc\n\n\
         Negative means dctenc needs fewer bits than jpegenc for the same PSNR. For each curve, \
         log(bpp) is fitted by least squares as a cubic in PSNR over the {points} qualities, and \
         the two fits are compared over the PSNR range both curves cover. The photos are \
         compared one by one and their BD-rates averaged.\n\n{bd_table}",
        count = photos.len(),
        photo_table = RdCurves::mean(&photo_curves).table(),
        clip_name = clip.name,
        clip_table = clip_curves.table(),
        points = RD_QUALITIES.len(),
    );
    RateDistortionSection {
        text,
        photos: photos_mean,
        clip: clip_rates,
    }
}

// Bjøntegaard delta rate

/// A point of a rate-distortion curve: a rate (any unit) and a PSNR in decibels.
#[derive(Clone, Copy)]
struct RatePoint {
    rate: f64,
    psnr: f64,
}

/// log(rate) as a cubic polynomial of PSNR, fitted by least squares. The polynomial is in
/// `psnr - centre`, the mean PSNR of the points, to keep the normal equations well conditioned.
struct LogRateFit {
    coefficients: [f64; 4],
    centre: f64,
}

impl LogRateFit {
    fn new(points: &[RatePoint]) -> Self {
        let centre = points.iter().map(|point| point.psnr).sum::<f64>() / points.len() as f64;
        let mut normal_matrix = [[0.0; 4]; 4];
        let mut normal_vector = [0.0; 4];
        for point in points {
            let x = point.psnr - centre;
            let powers = [1.0, x, x * x, x * x * x];
            for (row, &power) in normal_matrix.iter_mut().zip(&powers) {
                for (entry, &other) in row.iter_mut().zip(&powers) {
                    *entry += power * other;
                }
            }
            for (entry, &power) in normal_vector.iter_mut().zip(&powers) {
                *entry += power * point.rate.ln();
            }
        }
        Self {
            coefficients: solve(normal_matrix, normal_vector),
            centre,
        }
    }

    /// The integral of the fitted log(rate) over PSNR from `low` to `high`.
    fn integral(&self, low: f64, high: f64) -> f64 {
        let antiderivative = |psnr: f64| {
            let x = psnr - self.centre;
            self.coefficients
                .iter()
                .enumerate()
                .map(|(power, coefficient)| {
                    coefficient * x.powi(power as i32 + 1) / (power + 1) as f64
                })
                .sum::<f64>()
        };
        antiderivative(high) - antiderivative(low)
    }
}

/// Solves `matrix * x = vector` by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut matrix: [[f64; N]; N], mut vector: [f64; N]) -> [f64; N] {
    for column in 0..N {
        let pivot = (column..N)
            .max_by(|&a, &b| matrix[a][column].abs().total_cmp(&matrix[b][column].abs()))
            .unwrap();
        matrix.swap(column, pivot);
        vector.swap(column, pivot);
        let pivot_row = matrix[column];
        assert!(pivot_row[column] != 0.0, "singular normal equations");
        for row in column + 1..N {
            let factor = matrix[row][column] / pivot_row[column];
            for (entry, &above) in matrix[row][column..].iter_mut().zip(&pivot_row[column..]) {
                *entry -= factor * above;
            }
            vector[row] -= factor * vector[column];
        }
    }
    let mut solution = [0.0; N];
    for row in (0..N).rev() {
        let known: f64 = (row + 1..N).map(|k| matrix[row][k] * solution[k]).sum();
        solution[row] = (vector[row] - known) / matrix[row][row];
    }
    solution
}

/// The Bjøntegaard delta rate of `test` against `anchor` in percent: how much more rate (less,
/// if negative) `test` needs on average for the same PSNR, over the PSNR range both cover.
fn bd_rate(anchor: &[RatePoint], test: &[RatePoint]) -> Option<f64> {
    let range = |points: &[RatePoint]| {
        let psnrs = points.iter().map(|point| point.psnr);
        (
            psnrs.clone().fold(f64::INFINITY, f64::min),
            psnrs.fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let ((anchor_low, anchor_high), (test_low, test_high)) = (range(anchor), range(test));
    let (low, high) = (anchor_low.max(test_low), anchor_high.min(test_high));
    if low >= high {
        return None;
    }
    let difference =
        LogRateFit::new(test).integral(low, high) - LogRateFit::new(anchor).integral(low, high);
    Some(((difference / (high - low)).exp() - 1.0) * 100.0)
}

/// Checks `bd_rate` on curves whose answer is known.
fn check_bd_rate() {
    let anchor: Vec<RatePoint> = (0..10)
        .map(|index| {
            let psnr = 28.0 + 1.7 * index as f64;
            RatePoint {
                rate: 0.05 * (0.19 * psnr - 5.0).exp() + 0.01 * psnr.sin().abs(),
                psnr,
            }
        })
        .collect();
    let cheaper: Vec<RatePoint> = anchor
        .iter()
        .map(|point| RatePoint {
            rate: point.rate * 0.9,
            psnr: point.psnr,
        })
        .collect();
    let itself = bd_rate(&anchor, &anchor).unwrap();
    assert!(
        itself.abs() < 1e-9,
        "BD-rate of a curve against itself: {itself}"
    );
    let ten_percent = bd_rate(&anchor, &cheaper).unwrap();
    assert!(
        (ten_percent + 10.0).abs() < 1e-6,
        "BD-rate of 90% of the rate: {ten_percent}"
    );
}

// The report

fn report(
    machine: &str,
    speed: &SpeedSection,
    rate_distortion: &RateDistortionSection,
    took: Duration,
) -> String {
    format!(
        "# dctenc and dctdec against libjpeg-turbo\n\n\
         Written by `cargo bench -p percept-benches --bench dct_video`, which measured every \
         figure below in one run of {seconds:.0} s.\n\n\
         ## Machine\n\n{machine}\n\
         ## Targets\n\n{targets}\n\
         ## Speed\n\n\
         Each element runs alone in a `gst_check::Harness`; a figure is the time from pushing \
         one frame (or packet) to pulling its output, over {TIMED_FRAMES} frames after \
         {WARM_UP_FRAMES} frames of warm-up. The elements compared with each other take turns, \
         frame by frame, so that anything else running on the machine slows them alike. The \
         encoders run at quality {SPEED_QUALITY}, and the decoders decode their own encoder's \
         packets at that quality. jpegenc and jpegdec run with their default settings, \
         including the fast approximate DCT. The speed against the JPEG peer is the peer's \
         median time divided by ours: above 1x is faster than the peer.\n\n{speed_table}\n\
         ## Rate-distortion\n\n\
         Bits per pixel (bpp) are the encoded bytes times 8 over the pixels of all frames. \
         PSNR is over the three I420 planes together, luma PSNR over Y alone, each averaged \
         over the frames. jpegenc and jpegdec run with `{JPEG_ACCURATE_DCT}`, the accurate \
         integer DCT that libjpeg uses by default, rather than GStreamer's default fast \
         approximation, which loses JPEG quality; jpegdec's output is converted to I420, which \
         keeps its 4:2:0 samples as they are.\n\n{rd}",
        seconds = took.as_secs_f64(),
        targets = targets(speed, rate_distortion),
        speed_table = speed.table,
        rd = rate_distortion.text,
    )
}

fn targets(speed: &SpeedSection, rate_distortion: &RateDistortionSection) -> String {
    let verdict = |met: bool| if met { "**met**" } else { "**not met**" };
    let (slowest, slowest_input) = &speed.slowest_encode;
    let bits_met = [rate_distortion.photos.psnr, rate_distortion.clip.psnr]
        .iter()
        .all(|rate| rate.is_some_and(|rate| rate <= TARGET_BD_RATE));
    format!(
        "- Encode no slower than jpegenc using the machine's cores: {}. With all cores, dctenc \
         runs at {slowest:.2}x jpegenc's speed on its slowest input, {slowest_input}.\n\
         - At least 10% fewer bits than jpegenc at equal PSNR: {}. BD-rate at equal PSNR: {} \
         on the photos (mean), {} on the clip.\n",
        verdict(*slowest >= TARGET_ENCODE_SPEED),
        verdict(bits_met),
        percent(rate_distortion.photos.psnr),
        percent(rate_distortion.clip.psnr),
    )
}

fn machine() -> String {
    let unknown = || "unknown".to_owned();
    let cpu = file_field("/proc/cpuinfo", "model name", ':').unwrap_or_else(unknown);
    let cores =
        std::thread::available_parallelism().map_or_else(|_| unknown(), |cores| cores.to_string());
    let memory = file_field("/proc/meminfo", "MemTotal", ':')
        .and_then(|total| total.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(unknown, |kib| format!("{:.1} GiB", kib / (1024.0 * 1024.0)));
    let os = file_field("/etc/os-release", "PRETTY_NAME", '=')
        .map_or_else(unknown, |name| name.trim_matches('"').to_owned());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(unknown);
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(unknown);
    // Other work on the machine slows the measurements, the multi-threaded ones most.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(unknown);
    let rows = [
        ("CPU", cpu),
        ("Cores", cores),
        ("Memory", memory),
        ("OS", os),
        ("GStreamer", gst::version_string().to_string()),
        ("Load average (1 minute) at the start", load),
        ("Commit", commit),
        ("Date", date),
    ];
    let mut table = String::from("| | |\n|---|---|\n");
    for (name, value) in rows {
        writeln!(table, "| {name} | {value} |").unwrap();
    }
    table
}

/// The value of the first line of a `key<separator>value` file whose key is `key`.
fn file_field(path: &str, key: &str, separator: char) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(separator)?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}

/// The trimmed standard output of a command run in the workspace, if it succeeds.
fn command_output(program: &str, arguments: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(arguments)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| text.trim().to_owned())
}
