//! The search of a picture while the marker is lost, spread over frames so that each frame's
//! share stays bounded: the whole picture reduced twice as far (large markers), then half
//! overlapping horizontal bands at the full search's reduction, one part a frame. Pure.

use super::detect::Rect;

/// The full search reduces a picture to about this width or height at most.
pub const FULL_SCAN_SIDE: usize = 480;
/// Reduced pixels one frame's part of the search looks at, about: the cost of a search is
/// about proportional to them (1.86 ms for the 480x270 of a whole 1080p picture, measured).
pub const BUDGET: usize = 40_000;

/// One frame's part of the search: a region of the picture, looked at every `step` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub roi: Rect,
    pub step: usize,
}

/// How the search of a `width`x`height` picture is cut into parts. A marker no taller than
/// half a band lies wholly in one band; a taller one is found in the coarse part, where it
/// still spans `min_body` + 2 reduced pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    width: usize,
    height: usize,
    /// The bands' step and the coarse part's step (0: no coarse part, one whole band).
    step: usize,
    coarse: usize,
    /// Band height and the distance between band starts, in picture rows.
    band: usize,
    stride: usize,
    bands: usize,
}

impl Plan {
    /// The plan for a picture, for frame candidates at least `min_body` reduced pixels tall.
    pub fn new(width: usize, height: usize, min_body: usize) -> Plan {
        let step = width.max(height).div_ceil(FULL_SCAN_SIDE).max(1);
        let (rw, rh) = ((width / step).max(1), height / step);
        if rw * rh <= BUDGET {
            return Plan {
                width,
                height,
                step,
                coarse: 0,
                band: height,
                stride: height.max(1),
                bands: 1,
            };
        }
        let mut coarse = 2 * step;
        while (width / coarse) * (height / coarse) > BUDGET {
            coarse += 1;
        }
        // Half a band (reduced rows) must reach the coarse part's smallest sure find.
        let half = (BUDGET / rw / 2).max(((min_body + 2) * coarse).div_ceil(step));
        let band_rows = (2 * half).min(rh);
        let bands = if band_rows >= rh {
            1
        } else {
            (rh - band_rows).div_ceil(half) + 1
        };
        Plan {
            width,
            height,
            step,
            coarse,
            band: band_rows * step,
            stride: half * step,
            bands,
        }
    }

    /// Frames a whole search takes: the coarse part and every band.
    pub fn parts(&self) -> usize {
        self.bands + usize::from(self.coarse > 0)
    }

    /// Part `i` (modulo [`Plan::parts`]): the coarse part first, then the bands top down.
    pub fn part(&self, i: usize) -> Part {
        let mut i = i % self.parts();
        if self.coarse > 0 {
            if i == 0 {
                return Part {
                    roi: (0, 0, self.width, self.height),
                    step: self.coarse,
                };
            }
            i -= 1;
        }
        let y = (i * self.stride).min(self.height - self.band.min(self.height));
        Part {
            roi: (0, y, self.width, self.band.min(self.height - y)),
            step: self.step,
        }
    }
}

/// Where a lost search is in its round of parts.
#[derive(Debug, Default)]
pub struct Sweep {
    next: usize,
}

impl Sweep {
    /// This frame's part of the search of a `width`x`height` picture.
    pub fn next(&mut self, width: usize, height: usize, min_body: usize) -> Part {
        let plan = Plan::new(width, height, min_body);
        let i = self.next % plan.parts();
        self.next = i + 1;
        plan.part(i)
    }

    /// The next search starts a round again (the marker was found).
    pub fn restart(&mut self) {
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN_BODY: usize = 14;

    #[test]
    fn a_small_picture_is_searched_whole_in_every_frame() {
        let p = Plan::new(256, 144, MIN_BODY);
        assert_eq!(p.parts(), 1);
        assert_eq!(
            p.part(5),
            Part {
                roi: (0, 0, 256, 144),
                step: 1
            }
        );
        // A third of the x11grab loop's window: over the budget, in parts.
        assert_eq!(Plan::new(320, 180, MIN_BODY).parts(), 3);
    }

    #[test]
    fn every_part_is_within_budget_and_every_marker_is_in_one_part() {
        for (w, h) in [
            (1920, 1080),
            (1280, 720),
            (640, 480),
            (480, 480),
            (3840, 2160),
        ] {
            let plan = Plan::new(w, h, MIN_BODY);
            let parts: Vec<Part> = (0..plan.parts()).map(|i| plan.part(i)).collect();
            for p in &parts {
                let (x, y, pw, ph) = p.roi;
                assert!(x + pw <= w && y + ph <= h, "{w}x{h}: {p:?} outside");
                let pixels = (pw / p.step) * (ph / p.step);
                assert!(pixels <= BUDGET * 6 / 5, "{w}x{h}: {p:?} is {pixels}");
            }
            // A marker of each height at each row: wholly in a band at the fine step, or
            // large enough for the coarse part.
            for side in (MIN_BODY..h / 2).step_by(7) {
                for top in (0..h - side).step_by(5) {
                    let held = parts.iter().any(|p| {
                        let (_, y, _, ph) = p.roi;
                        let big = side / p.step >= MIN_BODY + 2;
                        big && (p.roi == (0, 0, w, h) || (y <= top && top + side <= y + ph))
                    });
                    let too_small = side / plan.step < MIN_BODY + 2;
                    assert!(held || too_small, "{w}x{h}: side {side} at {top}");
                }
            }
        }
    }

    #[test]
    fn the_sweep_goes_round_and_restarts() {
        let mut s = Sweep::default();
        let plan = Plan::new(1920, 1080, MIN_BODY);
        assert!(plan.parts() > 2);
        let round: Vec<Part> = (0..plan.parts())
            .map(|_| s.next(1920, 1080, MIN_BODY))
            .collect();
        assert_eq!(round[0].step, 8, "coarse first");
        assert_eq!(s.next(1920, 1080, MIN_BODY), round[0], "round again");
        s.next(1920, 1080, MIN_BODY);
        s.restart();
        assert_eq!(s.next(1920, 1080, MIN_BODY), round[0]);
    }
}
