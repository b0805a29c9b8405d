//! What the black box costs a frame (issue target: at most 0.05 ms at 720p/30 fps): keeping a
//! 120 KB JPEG in a ring of 10 s bounded by 128 MiB, in the steady state where every frame
//! pushes the oldest out and reuses its buffer. The streamer's `keep` adds a mutex around this.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use streamer::black_box::ring::Ring;

fn keep(c: &mut Criterion) {
    // A 720p camera-like JPEG at quality 40 is 75–120 KB: the larger, with bytes that vary.
    let jpeg: Vec<u8> = (0..120_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let interval = Duration::from_micros(33_333);
    let mut ring = Ring::new(Duration::from_secs(10), 128 << 20);
    let mut at = Instant::now();
    // Fill it first: 10 s at 30 fps, so each kept frame evicts one.
    for _ in 0..301 {
        at += interval;
        ring.keep(at, &jpeg);
    }
    c.bench_function("black box: keep a 120 KB frame (10 s ring, full)", |b| {
        b.iter(|| {
            at += interval;
            ring.keep(at, std::hint::black_box(&jpeg));
        })
    });
}

criterion_group!(benches, keep);
criterion_main!(benches);
