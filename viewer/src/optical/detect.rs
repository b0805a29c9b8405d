//! Finding and reading the optical marker in a decoded picture (a camera's view of the screen):
//! a reduced luma picture, thresholded against its neighbourhood (dim or unevenly lit screens),
//! the dark regions labelled, the ones shaped like the marker's frame read at full size and
//! kept when their check holds. Pure; next frames look first where the marker was last seen,
//! and a lost marker is searched for one bounded part of the picture a frame ([`super::sweep`]);
//! while one is followed, a part every [`RECHECK_EVERY`] frames too, so that a larger one
//! elsewhere takes over.

use super::marker::{self, BODY, DATA};
use super::sweep::{Plan, Sweep};

/// A rectangle in picture pixels: x, y, width, height.
pub type Rect = (usize, usize, usize, usize);

/// One marker read in a picture: its counter and where its framed body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub code: u32,
    pub body: Rect,
}

/// A picture in the window's layout (0RGB words, row after row).
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub pixels: &'a [u32],
    pub width: usize,
    pub height: usize,
}

/// Threshold tiles, in reduced pixels; each pixel is judged against 5x5 tiles around its own.
const TILE: usize = 8;
/// Less than this between the darkest and the lightest luma nearby is no edge.
const MIN_CONTRAST: u8 = 32;
/// A frame candidate spans at least this many reduced pixels on each side.
const MIN_BODY: usize = 14;
/// While the marker is followed, one part of the whole picture's search runs every this many
/// frames: a smaller copy (the window showing the camera's own picture) may be the one being
/// followed while the marker filmed directly is back in view, and only the larger is right.
const RECHECK_EVERY: u32 = 8;

/// The search's reused buffers and where the marker was last seen.
#[derive(Default)]
pub struct Detector {
    /// Where the marker was last seen: looked at first in every frame until found elsewhere.
    last: Option<Rect>,
    sweep: Sweep,
    /// Frames the marker was followed in, for [`RECHECK_EVERY`].
    followed: u32,
    luma: Vec<u8>,
    tiles: Vec<(u8, u8)>,
    limits: Vec<u8>,
    runs: Vec<Run>,
    parent: Vec<u32>,
    /// Each root run's box in [`Detector::candidates`].
    slot: Vec<u32>,
}

/// A horizontal run of dark reduced pixels on row `y`, columns `x0..x1`.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

impl Detector {
    /// Every marker read in `f`: near the last one seen, and when it is not there in this
    /// frame's part of the search of the whole picture (a whole round of parts takes
    /// [`Detector::frames_to_cover`] frames).
    pub fn find(&mut self, f: Frame<'_>) -> Vec<Found> {
        if let Some(r) = self.last {
            let grow = r.2.max(r.3) / 2;
            let x = r.0.saturating_sub(grow).min(f.width);
            let y = r.1.saturating_sub(grow).min(f.height);
            let roi = (
                x,
                y,
                (r.0 + r.2 + grow).min(f.width).saturating_sub(x),
                (r.1 + r.3 + grow).min(f.height).saturating_sub(y),
            );
            let step = (r.2 / BODY / 4).max(1);
            let mut found = self.scan(f, roi, step);
            if !found.is_empty() {
                self.followed = self.followed.wrapping_add(1);
                if self.followed.is_multiple_of(RECHECK_EVERY) {
                    let part = self.sweep.next(f.width, f.height, MIN_BODY);
                    found.extend(self.scan(f, part.roi, part.step));
                }
                self.last = largest(&found);
                return found;
            }
        }
        let part = self.sweep.next(f.width, f.height, MIN_BODY);
        let found = self.scan(f, part.roi, part.step);
        if let Some(r) = largest(&found) {
            self.last = Some(r);
            self.sweep.restart();
        }
        found
    }

    /// Frames a search for a lost marker takes to look at the whole of a `width`x`height`
    /// picture once.
    pub fn frames_to_cover(width: usize, height: usize) -> usize {
        Plan::new(width, height, MIN_BODY).parts()
    }

    /// Markers read within `roi`, looked for every `step` pixels.
    fn scan(&mut self, f: Frame<'_>, roi: Rect, step: usize) -> Vec<Found> {
        let (rw, rh) = (roi.2 / step, roi.3 / step);
        if rw < MIN_BODY || rh < MIN_BODY || f.pixels.len() < f.width * f.height {
            return Vec::new();
        }
        self.luma.clear();
        for y in 0..rh {
            let row = (roi.1 + y * step) * f.width + roi.0;
            let line = &f.pixels[row..row + rw * step];
            self.luma
                .extend(line.chunks_exact(step).map(|p| luma(p[0])));
        }
        if !self.threshold(rw, rh) {
            return Vec::new();
        }
        self.label(rw, rh);
        let mut found = Vec::new();
        for (x0, y0, x1, y1) in self.candidates() {
            let body = (
                roi.0 + x0 * step,
                roi.1 + y0 * step,
                (x1 - x0 + 1) * step,
                (y1 - y0 + 1) * step,
            );
            if let Some(code) = read_body(f, body) {
                found.push(Found { code, body });
            }
        }
        found
    }

    /// Each tile's darkest and lightest luma, then each tile's limit from the 5x5 tiles
    /// around it (the picture's middle where they are all flat). False when the whole
    /// picture is flat.
    fn threshold(&mut self, rw: usize, rh: usize) -> bool {
        let (tw, th) = (rw.div_ceil(TILE), rh.div_ceil(TILE));
        self.tiles.clear();
        self.tiles.resize(tw * th, (255, 0));
        for (y, row) in self.luma.chunks_exact(rw).enumerate() {
            let tiles = &mut self.tiles[(y / TILE) * tw..][..tw];
            for (t, part) in tiles.iter_mut().zip(row.chunks(TILE)) {
                let lo = part.iter().copied().min().unwrap_or(255);
                let hi = part.iter().copied().max().unwrap_or(0);
                *t = (t.0.min(lo), t.1.max(hi));
            }
        }
        let lo = self.tiles.iter().map(|t| t.0).min().unwrap_or(0);
        let hi = self.tiles.iter().map(|t| t.1).max().unwrap_or(0);
        if hi.saturating_sub(lo) < MIN_CONTRAST {
            return false;
        }
        let middle = ((u16::from(lo) + u16::from(hi)) / 2) as u8;
        self.limits.clear();
        for ty in 0..th {
            for tx in 0..tw {
                let (mut a, mut b) = (255u8, 0u8);
                for ny in ty.saturating_sub(2)..(ty + 3).min(th) {
                    for nx in tx.saturating_sub(2)..(tx + 3).min(tw) {
                        let t = self.tiles[ny * tw + nx];
                        a = a.min(t.0);
                        b = b.max(t.1);
                    }
                }
                self.limits.push(if b.saturating_sub(a) < MIN_CONTRAST {
                    middle
                } else {
                    ((u16::from(a) + u16::from(b)) / 2) as u8
                });
            }
        }
        true
    }

    /// Labels the dark pixels' 4-connected regions: runs per row, joined with the runs they
    /// touch on the row above.
    fn label(&mut self, rw: usize, rh: usize) {
        let tw = rw.div_ceil(TILE);
        self.runs.clear();
        self.parent.clear();
        let mut above = 0..0;
        for y in 0..rh {
            let start = self.runs.len();
            let row = &self.luma[y * rw..(y + 1) * rw];
            let limits = &self.limits[(y / TILE) * tw..];
            let mut x = 0;
            while x < rw {
                if row[x] >= limits[x / TILE] {
                    x += 1;
                    continue;
                }
                let x0 = x;
                while x < rw && row[x] < limits[x / TILE] {
                    x += 1;
                }
                let id = self.runs.len() as u32;
                self.runs.push(Run {
                    y: y as u32,
                    x0: x0 as u32,
                    x1: x as u32,
                });
                self.parent.push(id);
                // The runs above are in order: skip those that end before this one starts,
                // join those that overlap it.
                while above.start < above.end && self.runs[above.start].x1 <= x0 as u32 {
                    above.start += 1;
                }
                let mut j = above.start;
                while j < above.end && self.runs[j].x0 < x as u32 {
                    union(&mut self.parent, j as u32, id);
                    j += 1;
                }
                // The last run joined may reach under the next run of this row too.
                above.start = j.saturating_sub(1).max(above.start);
            }
            above = start..self.runs.len();
        }
    }

    /// The regions shaped like the marker's frame: a square-ish ring, as bounding boxes in
    /// reduced pixels (inclusive).
    fn candidates(&mut self) -> Vec<(usize, usize, usize, usize)> {
        // Per root: bounding box and pixel count; `slot` finds a root's box in one step.
        let mut boxes: Vec<([u32; 4], u64)> = Vec::new();
        self.slot.clear();
        self.slot.resize(self.runs.len(), u32::MAX);
        for i in 0..self.runs.len() {
            let root = find(&mut self.parent, i as u32) as usize;
            let r = self.runs[i];
            if self.slot[root] == u32::MAX {
                self.slot[root] = boxes.len() as u32;
                boxes.push(([r.x0, r.y, r.x1 - 1, r.y], 0));
            }
            let b = &mut boxes[self.slot[root] as usize];
            b.0 = [
                b.0[0].min(r.x0),
                b.0[1].min(r.y),
                b.0[2].max(r.x1 - 1),
                b.0[3].max(r.y),
            ];
            b.1 += u64::from(r.x1 - r.x0);
        }
        boxes
            .into_iter()
            .filter_map(|([x0, y0, x1, y1], count)| {
                let (w, h) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
                let fill = count as f64 / (w * h) as f64;
                let square = (0.5..=2.0).contains(&(w as f64 / h as f64));
                (w >= MIN_BODY && h >= MIN_BODY && square && (0.2..=0.7).contains(&fill))
                    .then_some((x0 as usize, y0 as usize, x1 as usize, y1 as usize))
            })
            .collect()
    }
}

/// The largest marker found (the one filmed directly rather than a copy on the screen).
fn largest(found: &[Found]) -> Option<Rect> {
    found.iter().map(|f| f.body).max_by_key(|b| b.2 * b.3)
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let up = parent[parent[i as usize] as usize];
        parent[i as usize] = up;
        i = up;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb) as usize] = ra.min(rb);
    }
}

/// Luma of a 0RGB word, (R + 2G + B) / 4.
fn luma(p: u32) -> u8 {
    let (r, g, b) = ((p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF);
    ((r + 2 * g + b) / 4) as u8
}

/// Reads the marker whose framed body fills `body`: the border and the white ring give the
/// black and white levels, every module is judged at its centre (a small average, for blur
/// and noise), and the code is kept only when the frame is whole and the check holds.
fn read_body(f: Frame<'_>, body: Rect) -> Option<u32> {
    let (mx, my) = (body.2 as f64 / BODY as f64, body.3 as f64 / BODY as f64);
    let reach = ((mx.min(my) / 5.0) as usize).min(3);
    let sample = |row: usize, col: usize| -> u32 {
        let cx = body.0 + ((col as f64 + 0.5) * mx) as usize;
        let cy = body.1 + ((row as f64 + 0.5) * my) as usize;
        let (mut sum, mut n) = (0u32, 0u32);
        for y in cy.saturating_sub(reach)..=(cy + reach).min(f.height - 1) {
            for x in cx.saturating_sub(reach)..=(cx + reach).min(f.width - 1) {
                sum += u32::from(luma(f.pixels[y * f.width + x]));
                n += 1;
            }
        }
        sum / n.max(1)
    };
    let mut modules = [[0u32; BODY]; BODY];
    for (r, row) in modules.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = sample(r, c);
        }
    }
    let frame = |ring: usize| {
        (ring..BODY - ring).flat_map(move |i| {
            [
                (ring, i),
                (BODY - 1 - ring, i),
                (i, ring),
                (i, BODY - 1 - ring),
            ]
        })
    };
    let mean = |ring: usize| {
        let (sum, n) = frame(ring).fold((0, 0), |(s, n), (r, c)| (s + modules[r][c], n + 1));
        sum / n
    };
    let (black, white) = (mean(0), mean(1));
    if white < black + u32::from(MIN_CONTRAST) {
        return None;
    }
    let limit = (black + white) / 2;
    // A whole frame: every border module dark, every ring module light (one slip allowed).
    let slips = frame(0).filter(|&(r, c)| modules[r][c] >= limit).count()
        + frame(1).filter(|&(r, c)| modules[r][c] < limit).count();
    if slips > 1 {
        return None;
    }
    let mut bits = 0u64;
    for r in 0..DATA {
        for c in 0..DATA {
            bits = bits << 1 | u64::from(modules[r + 2][c + 2] < limit);
        }
    }
    marker::read(bits)
}

#[cfg(test)]
mod tests;
