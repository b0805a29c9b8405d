//! `codec-floor FILE.y4m`: the floor under the pipeline's figures. Encodes every frame of the
//! file at quality 40 with the streamer's encoder and decodes the result with the viewer's
//! decoder, in one process with nothing else running, and prints mean times per frame:
//! `encode_floor_ms=2.41 decode_floor_ms=2.52 bytes_per_frame=51234 frames=120`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use streamer::encoder::{EncodedFrame, Encoder};
use streamer::source::{RawFrame, Source};
use streamer::y4m::Y4mSource;
use viewer::board::Picture;
use viewer::decoder::Decoder;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: codec-floor FILE.y4m");
        return ExitCode::FAILURE;
    };
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codec-floor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let mut source = Y4mSource::open(path, false)?;
    let mut encoder = Encoder::new(shared::DEFAULT_QUALITY)?;
    let mut decoder = Decoder::new()?;
    let (mut raw, mut out, mut picture) = (
        RawFrame::default(),
        EncodedFrame::default(),
        Picture::default(),
    );
    let (mut encode, mut decode, mut bytes, mut frames) =
        (Duration::ZERO, Duration::ZERO, 0usize, 0u32);
    while source.next_frame(&mut raw)? {
        let t = Instant::now();
        encoder.encode(&mut raw, &mut out)?;
        encode += t.elapsed();
        let t = Instant::now();
        decoder.decode(out.jpeg(), &mut picture, None)?;
        decode += t.elapsed();
        bytes += out.jpeg().len();
        frames += 1;
    }
    anyhow::ensure!(frames > 0, "{}: no frames", path.display());
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(frames);
    println!(
        "encode_floor_ms={:.3} decode_floor_ms={:.3} bytes_per_frame={} frames={frames}",
        ms(encode),
        ms(decode),
        bytes / frames as usize
    );
    Ok(())
}
