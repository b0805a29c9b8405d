//! Camera-like test frames for the benchmarks: a real photograph (Debian's mate-backgrounds
//! `Dune.jpg`, fetched by `scripts/bench.sh` into `.cache/bench/`), panned a little per frame,
//! with sensor-like noise, in the layouts cameras deliver (I420, YUYV).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Where `scripts/bench.sh` puts the photograph.
pub fn photo_path() -> PathBuf {
    std::env::var_os("BENCH_PHOTO").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bench/photo.jpg"),
        PathBuf::from,
    )
}

/// The photograph as RGB.
pub struct Photo {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
}

impl Photo {
    /// Loads the photograph from [`photo_path`].
    pub fn load() -> Result<Photo> {
        let path = photo_path();
        let jpeg = std::fs::read(&path).with_context(|| {
            format!(
                "{}: missing; run scripts/bench.sh once to fetch it",
                path.display()
            )
        })?;
        let image = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB)
            .with_context(|| format!("{}: not a JPEG", path.display()))?;
        Ok(Photo {
            rgb: image.pixels,
            width: image.width,
            height: image.height,
        })
    }

    /// Frame `index` at `w`x`h` as full-range I420: the photograph scaled to cover the frame,
    /// panned by `index` pixels, with static-free noise of +-6 levels (a sensor's).
    pub fn i420(&self, w: usize, h: usize, index: usize) -> Vec<u8> {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut out = vec![0u8; w * h + 2 * cw * ch];
        // Scale so that the frame plus some panning room fits inside the photograph.
        let scale = ((w + 64) as f64 / self.width as f64).max(h as f64 / self.height as f64);
        let pixel = |x: usize, y: usize| {
            let sx = (((x + index % 64) as f64 / scale) as usize).min(self.width - 1);
            let sy = ((y as f64 / scale) as usize).min(self.height - 1);
            let i = (sy * self.width + sx) * 3;
            [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]].map(f64::from)
        };
        let mut seed = 0x2545_F491_u32 ^ (index as u32).wrapping_mul(0x9E37_79B9);
        for y in 0..h {
            for x in 0..w {
                let [r, g, b] = pixel(x, y);
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = f64::from(seed % 13) - 6.0;
                let luma = 0.299 * r + 0.587 * g + 0.114 * b + noise;
                out[y * w + x] = luma.round().clamp(0.0, 255.0) as u8;
            }
        }
        for cy in 0..ch {
            for cx in 0..cw {
                let [r, g, b] = pixel(cx * 2, cy * 2);
                let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
                let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
                out[w * h + cy * cw + cx] = cb.round().clamp(0.0, 255.0) as u8;
                out[w * h + cw * ch + cy * cw + cx] = cr.round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// Packs an I420 frame as YUYV (what most USB cameras deliver), chroma repeated vertically.
pub fn i420_to_yuyv(i420: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y_plane, chroma) = i420.split_at(w * h);
    let (u, v) = chroma.split_at(cw * ch);
    let mut out = Vec::with_capacity(cw * 4 * h);
    for y in 0..h {
        for pair in 0..cw {
            let x = pair * 2;
            out.push(y_plane[y * w + x]);
            out.push(u[(y / 2) * cw + pair]);
            out.push(y_plane[y * w + (x + 1).min(w - 1)]);
            out.push(v[(y / 2) * cw + pair]);
        }
    }
    out
}

/// The three sizes every benchmark runs at.
pub const SIZES: [(usize, usize); 3] = [(640, 480), (1280, 720), (1920, 1080)];
