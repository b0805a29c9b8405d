//! What finding the optical marker costs a 1080p picture (issue target: at most 1 ms a frame):
//! a camera's view of a room (shapes, a few levels of noise) with a screen filling a third of
//! it, through JPEG at quality 40 and the viewer's decoder; where it was last seen (the steady
//! state), and while it is lost: each part of the search that covers the picture over a few
//! frames (the dearest part is a frame's cost), and frames and time until a lost one is found.

use criterion::{criterion_group, criterion_main, Criterion};
use viewer::board::Picture;
use viewer::decode::Decoder;
use viewer::optical::detect::{Detector, Frame};
use viewer::optical::marker;

/// A 1920x1080 camera picture: a textured room, and a 640x360 screen at (700, 360) showing
/// a 1280x720 window's marker of `code` at half size, when given.
fn camera(code: Option<u32>) -> Picture {
    let (w, h) = (1920, 1080);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let noise = ((x * 7 + y * 13) ^ (x * y)) % 40;
            rgb.extend([
                (40 + noise) as u8,
                (60 + y / 20 + noise) as u8,
                (50 + x / 40) as u8,
            ]);
        }
    }
    let (ox, oy) = (700, 360);
    for y in oy..oy + 360 {
        for x in ox..ox + 640 {
            let i = (y * w + x) * 3;
            rgb[i..i + 3].copy_from_slice(&[(x % 256) as u8, 120, (y % 200) as u8]);
        }
    }
    if let Some(code) = code {
        marker::draw(code, 1280, 720, |x0, y0, bw, bh, black| {
            let v = if black { 10 } else { 230 };
            for y in y0 / 2..(y0 + bh) / 2 {
                let row = (oy + y) * w;
                rgb[(row + ox + x0 / 2) * 3..(row + ox + (x0 + bw) / 2) * 3].fill(v);
            }
        });
    }
    let image = turbojpeg::Image {
        pixels: rgb.as_slice(),
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(image, 40, turbojpeg::Subsamp::Sub2x2).expect("encode");
    let mut picture = Picture::default();
    Decoder::new()
        .expect("decoder")
        .decode(&jpeg, &mut picture, None)
        .expect("decode");
    picture
}

/// This thread's CPU time, ms: on a machine shared with other work, wall time overstates it.
fn cpu_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
}

/// Prints the CPU time one call of `f` takes, over 50 calls.
fn cpu_per_call(name: &str, mut f: impl FnMut()) {
    let start = cpu_ms();
    for _ in 0..50 {
        f();
    }
    eprintln!("{name}: {:.3} ms of CPU a call", (cpu_ms() - start) / 50.0);
}

fn frame(p: &Picture) -> Frame<'_> {
    Frame {
        pixels: &p.pixels,
        width: p.width,
        height: p.height,
    }
}

fn detect(c: &mut Criterion) {
    let with = camera(Some(4242));
    let without = camera(None);
    let round = Detector::frames_to_cover(with.width, with.height);
    let mut first = Detector::default();
    let found = (0..round)
        .map(|_| first.find(frame(&with)))
        .position(|f| f.first().map(|f| f.code) == Some(4242));
    let Some(until) = found else {
        panic!("the bench picture's marker does not read within {round} frames");
    };
    eprintln!(
        "optical: a lost marker found in frame {} of {round}",
        until + 1
    );
    // Each part of the round in a picture without the marker, its CPU time over 20 rounds.
    let mut lost = Detector::default();
    let mut cost = vec![0.0; round];
    for _ in 0..20 {
        for c in cost.iter_mut() {
            let start = cpu_ms();
            lost.find(frame(&without));
            *c += (cpu_ms() - start) / 20.0;
        }
    }
    for (i, c) in cost.iter().enumerate() {
        eprintln!("optical: lost, part {} of {round}: {c:.3} ms of CPU", i + 1);
    }
    cpu_per_call("optical: until a lost marker is found, all frames", || {
        let mut d = Detector::default();
        (0..=until).for_each(|_| drop(d.find(frame(&with))));
    });
    let mut d = Detector::default();
    (0..=until).for_each(|_| drop(d.find(frame(&with))));
    cpu_per_call("optical: where last seen", || {
        d.find(frame(&with));
    });
    let mut tracking = Detector::default();
    (0..=until).for_each(|_| drop(tracking.find(frame(&with))));
    c.bench_function("optical: find the marker in 1080p, where last seen", |b| {
        b.iter(|| tracking.find(std::hint::black_box(frame(&with))))
    });
    c.bench_function("optical: search 1080p without a marker, a frame", |b| {
        b.iter(|| lost.find(std::hint::black_box(frame(&without))))
    });
}

criterion_group!(benches, detect);
criterion_main!(benches);
