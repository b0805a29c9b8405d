//! What the figures band costs a frame: a stream's four band lines and the PAUSED and REC
//! marks drawn over a 1280x720 picture shown in place, and the picture restored afterwards,
//! as the window does for every frame with the band on.

use criterion::{criterion_group, criterion_main, Criterion};
use viewer::window::hud::{self, Figures, Probe, Surface, Undo};

fn band(c: &mut Criterion) {
    let (w, h) = (1280, 720);
    let mut pixels: Vec<u32> = (0..w * h)
        .map(|i| (i as u32).wrapping_mul(0x9E37_79B9) & 0xFF_FFFF)
        .collect();
    let mut undo = Undo::default();
    let figures = Figures {
        fps: 30.0,
        kbit_per_s: 17_600.0,
        bytes_per_frame: 73_400.0,
        decode_ms: Some(2.27),
        dropped: 12,
        errors: 0,
        glass_ms: Some(6.1),
        stages_ms: Some([2.0, 0.1, 1.5, 2.3, 0.2]),
        name: Some("x3pi/video8".into()),
        optical: None,
    };
    let probe = Probe {
        x: 240,
        y: 200,
        rgb: 0xBFBF00,
    };
    let peer = "192.168.3.7:50012".parse().unwrap();
    c.bench_function("hud/band_and_marks_1280x720_drawn_and_undone", |b| {
        b.iter(|| {
            let lines = hud::lines(peer, Some((w, h)), &figures, Some(probe));
            let mut surface = Surface {
                pixels: &mut pixels,
                width: w,
                height: h,
                undo: Some(&mut undo),
            };
            hud::draw_band(&mut surface, (0, 0, w, h), &lines);
            hud::draw_marks(&mut surface, true, true);
            undo.restore(&mut pixels, w);
        })
    });
}

criterion_group!(benches, band);
criterion_main!(benches);
