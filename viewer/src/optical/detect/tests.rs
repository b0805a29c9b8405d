//! The detector on synthetic camera pictures of a screen showing the marker: scaled down,
//! blurred, dimmed, with moiré, through JPEG at quality 20 and the viewer's own decoder.
//! Compiled only under `#[cfg(test)]` (see `detect.rs`).

use super::*;
use crate::board::Picture;
use crate::decode::Decoder;

/// An RGB picture.
struct Rgb {
    w: usize,
    h: usize,
    data: Vec<u8>,
}

impl Rgb {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// A `w`x`h` window showing a busy picture (gradients and fine stripes, for moiré) with the
/// marker of `code` drawn over it as the window draws it.
fn screen(w: usize, h: usize, code: Option<u32>) -> Rgb {
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let stripe = if (x / 2 + y / 3) % 2 == 0 { 60 } else { 0 };
            data.extend([
                (x * 255 / w) as u8,
                ((y * 200 / h) + stripe) as u8,
                ((x + y) % 256) as u8,
            ]);
        }
    }
    let mut s = Rgb { w, h, data };
    if let Some(code) = code {
        marker::draw(code, w, h, |x0, y0, bw, bh, black| {
            let v = if black { 0 } else { 255 };
            for y in y0..y0 + bh {
                s.data[(y * w + x0) * 3..(y * w + x0 + bw) * 3].fill(v);
            }
        });
    }
    s
}

/// A `cw`x`ch` camera picture of a dim room with `screen` in it, `scale` times its size, at
/// (`ox`, `oy`); each camera pixel averages the screen pixels it covers (`point`: samples
/// one, which makes moiré of fine patterns).
fn film(
    screen: &Rgb,
    (cw, ch): (usize, usize),
    scale: f64,
    (ox, oy): (usize, usize),
    point: bool,
) -> Rgb {
    let mut data = vec![35u8; cw * ch * 3];
    let (sw, sh) = (
        (screen.w as f64 * scale) as usize,
        (screen.h as f64 * scale) as usize,
    );
    for y in 0..sh.min(ch - oy) {
        for x in 0..sw.min(cw - ox) {
            let (fx0, fy0) = ((x as f64 / scale) as usize, (y as f64 / scale) as usize);
            let (fx1, fy1) = if point {
                (fx0 + 1, fy0 + 1)
            } else {
                (
                    (((x + 1) as f64 / scale) as usize).min(screen.w),
                    (((y + 1) as f64 / scale) as usize).min(screen.h),
                )
            };
            let mut sum = [0u32; 3];
            let mut n = 0;
            for sy in fy0..fy1.max(fy0 + 1) {
                for sx in fx0..fx1.max(fx0 + 1) {
                    let p = screen.at(sx, sy);
                    (0..3).for_each(|c| sum[c] += u32::from(p[c]));
                    n += 1;
                }
            }
            let i = ((oy + y) * cw + ox + x) * 3;
            (0..3).for_each(|c| data[i + c] = (sum[c] / n) as u8);
        }
    }
    Rgb { w: cw, h: ch, data }
}

/// A box blur of `radius` (out of focus), rows then columns.
fn blur(p: &Rgb, radius: usize) -> Rgb {
    let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; src.len()];
        for y in 0..p.h {
            for x in 0..p.w {
                let mut sum = [0u32; 3];
                let mut n = 0;
                for d in 0..=2 * radius {
                    let (sx, sy) = if horizontal {
                        ((x + d).saturating_sub(radius).min(p.w - 1), y)
                    } else {
                        (x, (y + d).saturating_sub(radius).min(p.h - 1))
                    };
                    let i = (sy * p.w + sx) * 3;
                    (0..3).for_each(|c| sum[c] += u32::from(src[i + c]));
                    n += 1;
                }
                let i = (y * p.w + x) * 3;
                (0..3).for_each(|c| out[i + c] = (sum[c] / n) as u8);
            }
        }
        out
    };
    let rows = pass(&p.data, true);
    Rgb {
        w: p.w,
        h: p.h,
        data: pass(&rows, false),
    }
}

/// Each sample times `gain` plus `lift` (a dim screen, a camera's black level).
fn dim(p: &Rgb, gain: f64, lift: u8) -> Rgb {
    let data = p
        .data
        .iter()
        .map(|&v| (f64::from(v) * gain) as u8 + lift)
        .collect();
    Rgb {
        w: p.w,
        h: p.h,
        data,
    }
}

/// Through JPEG at `quality` (4:2:0) and the viewer's decoder, into the window's layout.
fn through_jpeg(p: &Rgb, quality: i32) -> Picture {
    let image = turbojpeg::Image {
        pixels: p.data.as_slice(),
        width: p.w,
        pitch: p.w * 3,
        height: p.h,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(image, quality, turbojpeg::Subsamp::Sub2x2).unwrap();
    let mut picture = Picture::default();
    Decoder::new()
        .unwrap()
        .decode(&jpeg, &mut picture, None)
        .unwrap();
    picture
}

fn frame(p: &Picture) -> Frame<'_> {
    Frame {
        pixels: &p.pixels,
        width: p.width,
        height: p.height,
    }
}

/// The codes read in `p` shown frame after frame, within one round of the lost search.
fn codes(d: &mut Detector, p: &Picture) -> Vec<u32> {
    for _ in 0..Detector::frames_to_cover(p.width, p.height) {
        let found = d.find(frame(p));
        if !found.is_empty() {
            return found.into_iter().map(|f| f.code).collect();
        }
    }
    Vec::new()
}

/// The codes read in `p` in one frame.
fn codes_now(d: &mut Detector, p: &Picture) -> Vec<u32> {
    d.find(frame(p)).into_iter().map(|f| f.code).collect()
}

#[test]
fn reads_the_window_as_drawn() {
    let p = through_jpeg(&screen(1280, 720, Some(0xBEEF)), 90);
    assert_eq!(codes(&mut Detector::default(), &p), vec![0xBEEF]);
}

#[test]
fn reads_a_screen_filling_a_third_of_the_picture_out_of_focus_at_quality_20() {
    let s = screen(1280, 720, Some(12_345));
    // 1280 screen pixels onto 640 of a 1920-wide camera picture.
    let camera = film(&s, (1920, 1080), 0.5, (700, 350), false);
    let p = through_jpeg(&blur(&camera, 2), 20);
    assert_eq!(codes(&mut Detector::default(), &p), vec![12_345]);
    // Dimmed to 40 % with a raised black level.
    let p = through_jpeg(&dim(&blur(&camera, 2), 0.4, 20), 20);
    assert_eq!(codes(&mut Detector::default(), &p), vec![12_345]);
}

#[test]
fn reads_through_moire_and_a_small_camera() {
    let s = screen(1280, 720, Some(777));
    // One screen pixel sampled of every 2.7: the stripes beat into moiré.
    let camera = film(&s, (640, 480), 0.37, (100, 120), true);
    let p = through_jpeg(&camera, 20);
    assert_eq!(codes(&mut Detector::default(), &p), vec![777]);
}

#[test]
fn reads_the_window_filmed_at_a_third_blurred_at_quality_20() {
    // The integration test's rough case: ffmpeg scales the grabbed window to a third, blurs it
    // and encodes it at quality 20.
    let s = screen(960, 540, Some(42));
    let third = film(&s, (320, 180), 1.0 / 3.0, (0, 0), false);
    let p = through_jpeg(&blur(&third, 1), 20);
    assert_eq!(codes(&mut Detector::default(), &p), vec![42]);
}

#[test]
fn finds_nothing_where_there_is_no_marker() {
    let mut d = Detector::default();
    for p in [
        through_jpeg(&screen(1280, 720, None), 40),
        through_jpeg(
            &blur(
                &film(&screen(1280, 720, None), (1920, 1080), 0.5, (10, 10), false),
                2,
            ),
            20,
        ),
        through_jpeg(
            &Rgb {
                w: 64,
                h: 48,
                data: vec![128; 64 * 48 * 3],
            },
            90,
        ),
        through_jpeg(
            &Rgb {
                w: 8,
                h: 8,
                data: vec![0; 8 * 8 * 3],
            },
            90,
        ),
    ] {
        assert!(codes(&mut d, &p).is_empty());
    }
}

#[test]
fn follows_the_marker_where_it_was_and_finds_it_again_when_it_moves() {
    let s = screen(1280, 720, Some(5));
    let mut d = Detector::default();
    let here = through_jpeg(&film(&s, (1920, 1080), 0.5, (100, 100), false), 40);
    assert_eq!(codes(&mut d, &here), vec![5]);
    assert!(d.last.is_some());
    assert_eq!(
        codes_now(&mut d, &here),
        vec![5],
        "found again near where it was, in the next frame"
    );
    let there = through_jpeg(&film(&s, (1920, 1080), 0.5, (1200, 700), false), 40);
    assert_eq!(codes(&mut d, &there), vec![5], "moved");
    assert_eq!(codes_now(&mut d, &there), vec![5], "and followed there");
}

#[test]
fn a_lost_marker_is_found_anywhere_within_one_round_of_bounded_parts() {
    let (w, h) = (1920, 1080);
    let frames = Detector::frames_to_cover(w, h);
    assert!((2..=10).contains(&frames), "{frames} frames a round");
    // Small (a third of the picture's height filmed, the marker straddling band edges at
    // every height) and large (the screen filling the picture).
    let small = screen(1280, 720, Some(9));
    let mut cases: Vec<(f64, (usize, usize))> = (0..7).map(|i| (0.5, (900, i * 100))).collect();
    cases.push((1.5, (0, 0)));
    for (scale, at) in cases {
        let p = through_jpeg(&film(&small, (w, h), scale, at, false), 40);
        let mut d = Detector::default();
        assert_eq!(codes(&mut d, &p), vec![9], "screen x{scale} at {at:?}");
    }
}

#[test]
fn a_larger_marker_takes_over_from_a_smaller_copy_being_followed() {
    // The camera turned back to the screen after the detector settled on the small copy of
    // the marker that the window shows (its own picture of the camera, filmed again).
    let (w, h) = (1920, 1080);
    let copy = film(&screen(1280, 720, Some(3)), (w, h), 0.4, (1300, 700), false);
    let mut both = film(&screen(1280, 720, Some(5)), (w, h), 0.75, (0, 0), false);
    for y in 700..988 {
        let row = (y * w + 1300) * 3..(y * w + 1812) * 3;
        both.data[row.clone()].copy_from_slice(&copy.data[row]);
    }
    let (copy, both) = (through_jpeg(&copy, 40), through_jpeg(&both, 40));
    let mut d = Detector::default();
    assert_eq!(codes(&mut d, &copy), vec![3]);
    let rounds = RECHECK_EVERY as usize * Detector::frames_to_cover(w, h);
    let took = (1..=rounds).find(|_| codes_now(&mut d, &both).contains(&5));
    assert!(
        took.is_some(),
        "the larger marker was never found in {rounds} frames"
    );
    assert_eq!(
        codes_now(&mut d, &both),
        vec![5],
        "and followed from then on"
    );
}
