//! What an MCAP recording costs a frame on the recorder's thread (off the receive path): a
//! 120 KB JPEG written as a `CompressedImage` with its latency message, chunks flushed each
//! second, against the Matroska writer on the same frames; and, printed once, each format's
//! bytes per frame beyond the JPEG (the file size overhead).

use std::fs::File;
use std::io::Cursor;

use criterion::{criterion_group, criterion_main, Criterion};
use shared::files::matroska::write::Mkv;
use shared::files::mcap::write::{Frame, McapWriter};
use shared::media::ros_image::Latency;

const FRAME_NS: u64 = 33_333_333;

fn jpeg() -> Vec<u8> {
    (0..120_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn latency() -> Latency {
    Latency {
        arrival_ms: 12.5,
        encode_ms: 4.0,
        queue_ms: 0.5,
        link_ms: 8.0,
        clock_offset_ms: -3.2,
        clock_error_ms: 0.4,
    }
}

/// Bytes per frame beyond the JPEG, for 300 frames (10 s at 30 fps) of `len` bytes.
fn overhead(len: usize) -> (f64, f64) {
    let jpeg = vec![7u8; len];
    let l = latency();
    let mut mcap = McapWriter::new(Cursor::new(Vec::new()), "front").unwrap();
    let mut mkv = Mkv::new(Cursor::new(Vec::new()), 1280, 720).unwrap();
    for i in 0..300u64 {
        let t = 1_700_000_000_000_000_000 + i * FRAME_NS;
        let frame = Frame {
            jpeg: &jpeg,
            capture_ns: t - 20_000_000,
            arrival_ns: t,
            latency: &l,
        };
        mcap.frame(&frame).unwrap();
        mkv.frame(i * FRAME_NS / 1_000_000, &jpeg).unwrap();
    }
    let mcap = mcap.finish().unwrap().into_inner().len();
    let mkv = mkv.finish(10_000.0).unwrap().into_inner().len();
    let per = |total: usize| (total - 300 * len) as f64 / 300.0;
    (per(mcap), per(mkv))
}

fn write(c: &mut Criterion) {
    for len in [20_000, 120_000] {
        let (mcap, mkv) = overhead(len);
        println!(
            "mcap_size: jpeg_bytes={len} mcap_overhead_bytes_per_frame={mcap:.1} \
             mkv_overhead_bytes_per_frame={mkv:.1} mcap_over_mkv_pct={:.3}",
            (mcap - mkv) / (len as f64 + mkv) * 100.0
        );
    }
    let jpeg = jpeg();
    let l = latency();
    let dir = std::env::temp_dir().join(format!("mcap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut mcap = McapWriter::new(File::create(dir.join("b.mcap")).unwrap(), "front").unwrap();
    let mut t = 1_700_000_000_000_000_000u64;
    c.bench_function("mcap: write a 120 KB frame and its latency (file)", |b| {
        b.iter(|| {
            t += FRAME_NS;
            let frame = Frame {
                jpeg: std::hint::black_box(&jpeg),
                capture_ns: t - 20_000_000,
                arrival_ns: t,
                latency: &l,
            };
            mcap.frame(&frame).unwrap();
        })
    });
    let mut mkv = Mkv::new(File::create(dir.join("b.mkv")).unwrap(), 1280, 720).unwrap();
    let mut ms = 0u64;
    c.bench_function("matroska: write a 120 KB frame (file)", |b| {
        b.iter(|| {
            ms += 33;
            mkv.frame(ms, std::hint::black_box(&jpeg)).unwrap();
        })
    });
    drop((mcap, mkv));
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, write);
criterion_main!(benches);
