//! `codec-floor FILE.y4m [SLICES [DIR]]`: the floor under the pipeline's figures. Encodes every
//! frame of the file at quality 40 with the streamer's encoder and decodes the result with the
//! viewer's decoder, in one process with nothing else running, and prints mean times per frame:
//! `encode_floor_ms=2.41 decode_floor_ms=2.52 bytes_per_frame=51234 frames=120`.
//! With SLICES (2..=16) it also encodes every frame in that many strips and decodes it split,
//! and adds `encode_sliced_ms`, `decode_split_ms`, `decode_sliced_whole_ms` (the sliced frame
//! decoded whole, as other decoders do, restart markers and all), the speed-ups over the
//! floors, the CPU time (all threads) sliced over unsliced (`encode_cpu_ratio`,
//! `decode_cpu_ratio`: the cost of slicing, which bounds the speed-up on idle cores to
//! SLICES / ratio), `bytes_sliced_per_frame` and `size_cost_pct`. With DIR, every frame is also
//! written there as `NNNN-unsliced.jpg` and `NNNN-sliced.jpg` (for timing other decoders).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use streamer::encode::encoder::{EncodedFrame, Encoder};
use streamer::source::y4m::Y4mSource;
use streamer::source::{RawFrame, Source as _};
use viewer::board::Picture;
use viewer::decode::Decoder;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: codec-floor FILE.y4m [SLICES [DIR]]");
        return ExitCode::FAILURE;
    };
    let slices = match args.next().map(|s| s.to_string_lossy().parse::<usize>()) {
        None => None,
        Some(Ok(n)) if (2..=16).contains(&n) => Some(n),
        Some(_) => {
            eprintln!("codec-floor: SLICES must be 2..=16");
            return ExitCode::FAILURE;
        }
    };
    let dir = args.next().map(PathBuf::from);
    match run(&path, slices, dir.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codec-floor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Time spent and bytes made over all frames.
#[derive(Default)]
struct Totals {
    encode: Duration,
    decode: Duration,
    decode_whole: Duration,
    /// CPU time (user + system, all threads) of the encode and decode passes.
    encode_cpu: Duration,
    decode_cpu: Duration,
    bytes: usize,
}

/// CPU time this process has used so far, all threads.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Encodes every frame of the file with `encoder` (timed); returns the JPEGs.
fn encode_all(path: &Path, encoder: &mut Encoder, t: &mut Totals) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut source = Y4mSource::open(path, false)?;
    let (mut raw, mut out, mut jpegs) = (RawFrame::default(), EncodedFrame::default(), Vec::new());
    while source.next_frame(&mut raw)? {
        let (started, cpu) = (Instant::now(), cpu_time());
        encoder.encode(&mut raw, &mut out)?;
        t.encode += started.elapsed();
        t.encode_cpu += cpu_time() - cpu;
        t.bytes += out.jpeg().len();
        jpegs.push(out.jpeg().to_vec());
    }
    Ok(jpegs)
}

/// Decodes every JPEG with `decoder`; the time taken and the CPU time used.
fn decode_all(jpegs: &[Vec<u8>], decoder: &mut Decoder) -> anyhow::Result<(Duration, Duration)> {
    let mut picture = Picture::default();
    let (started, cpu) = (Instant::now(), cpu_time());
    for jpeg in jpegs {
        decoder.decode(jpeg, &mut picture, None)?;
    }
    Ok((started.elapsed(), cpu_time() - cpu))
}

fn run(path: &Path, slices: Option<usize>, dir: Option<&Path>) -> anyhow::Result<()> {
    // Each codec in a pass of its own over all frames, so that none runs on caches another
    // one warmed.
    let (mut plain, mut cut) = (Totals::default(), Totals::default());
    let mut encoder = Encoder::new(shared::DEFAULT_QUALITY)?;
    let unsliced = encode_all(path, &mut encoder, &mut plain)?;
    let mut decoder = Decoder::new()?;
    (plain.decode, plain.decode_cpu) = decode_all(&unsliced, &mut decoder)?;
    let mut sliced = Vec::new();
    if let Some(n) = slices {
        sliced = encode_all(
            path,
            &mut Encoder::with_slices(shared::DEFAULT_QUALITY, n)?,
            &mut cut,
        )?;
        (cut.decode, cut.decode_cpu) = decode_all(&sliced, &mut decoder)?;
        let mut whole = Decoder::new()?;
        whole.set_split(false);
        cut.decode_whole = decode_all(&sliced, &mut whole)?.0;
    }
    if let Some(dir) = dir {
        for (kind, jpegs) in [("unsliced", &unsliced), ("sliced", &sliced)] {
            for (i, jpeg) in jpegs.iter().enumerate() {
                let file = dir.join(format!("{i:04}-{kind}.jpg"));
                std::fs::write(&file, jpeg).with_context(|| file.display().to_string())?;
            }
        }
    }
    let frames = u32::try_from(unsliced.len())?;
    anyhow::ensure!(frames > 0, "{}: no frames", path.display());
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(frames);
    let mut line = format!(
        "encode_floor_ms={:.3} decode_floor_ms={:.3} bytes_per_frame={} frames={frames}",
        ms(plain.encode),
        ms(plain.decode),
        plain.bytes / frames as usize
    );
    if let Some(n) = slices {
        line += &format!(
            " slices={n} encode_sliced_ms={:.3} decode_split_ms={:.3} decode_sliced_whole_ms={:.3} \
             encode_speedup={:.2} decode_speedup={:.2} encode_cpu_ratio={:.3} \
             decode_cpu_ratio={:.3} bytes_sliced_per_frame={} size_cost_pct={:.3}",
            ms(cut.encode),
            ms(cut.decode),
            ms(cut.decode_whole),
            ms(plain.encode) / ms(cut.encode),
            ms(plain.decode) / ms(cut.decode),
            ms(cut.encode_cpu) / ms(plain.encode_cpu),
            ms(cut.decode_cpu) / ms(plain.decode_cpu),
            cut.bytes / frames as usize,
            (cut.bytes as f64 / plain.bytes as f64 - 1.0) * 100.0
        );
    }
    println!("{line}");
    Ok(())
}
