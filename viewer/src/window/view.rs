//! Zoom and pan: which part of a picture a window cell shows, and the mapping between window
//! and picture coordinates both ways. Pure arithmetic, shared by drawing, the mouse and the
//! pixel inspector, so what is drawn and what is read under the cursor always agree.

/// A rectangle in window pixels: x, y, width, height.
pub type Rect = (usize, usize, usize, usize);

/// Largest magnification over fit-to-window.
pub const MAX_ZOOM: f64 = 16.0;
/// Magnification of one wheel notch: two notches double the size.
pub const NOTCH: f64 = std::f64::consts::SQRT_2;

/// How every tile is shown: magnification over fit-to-window and the picture point (as a
/// fraction of its width and height) at the cell's centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    zoom: f64,
    center: (f64, f64),
}

impl Default for View {
    fn default() -> Self {
        View {
            zoom: 1.0,
            center: (0.5, 0.5),
        }
    }
}

impl View {
    /// Fit-to-window, the picture letterboxed in its cell.
    pub fn is_fit(&self) -> bool {
        *self == View::default()
    }

    /// Magnification over fit-to-window.
    pub fn zoom(&self) -> f64 {
        self.zoom
    }

    /// Back to fit-to-window (`Z`).
    pub fn fit(&mut self) {
        *self = View::default();
    }

    /// Zooms by `notches` wheel steps (negative: out) keeping the picture point under `cursor`
    /// where it is; never below fit-to-window (or the current 1:1 view) nor above 16×.
    pub fn zoom_at(
        &mut self,
        cell: Rect,
        picture: (usize, usize),
        cursor: (f64, f64),
        notches: f64,
    ) {
        let Some(before) = Mapping::new(self, cell, picture) else {
            return;
        };
        let point = before.picture_at(cursor);
        let floor = self.zoom.min(1.0);
        let mut zoom = (self.zoom * NOTCH.powf(notches)).clamp(floor, MAX_ZOOM);
        // Whole steps land on whole factors (4 notches: exactly 4×), not 4.000000000000001.
        if (zoom - zoom.round()).abs() < 1e-9 {
            zoom = zoom.round();
        }
        self.zoom = zoom;
        let scale = fit_scale(cell, picture) * zoom;
        let (cx, cy, cw, ch) = cell;
        self.center = (
            (cx as f64 + cw as f64 / 2.0 - cursor.0 + point.0 * scale) / (picture.0 as f64 * scale),
            (cy as f64 + ch as f64 / 2.0 - cursor.1 + point.1 * scale) / (picture.1 as f64 * scale),
        );
        self.clamp(cell, picture);
    }

    /// Moves the picture by (`dx`, `dy`) window pixels (a mouse drag).
    pub fn pan(&mut self, cell: Rect, picture: (usize, usize), delta: (f64, f64)) {
        if picture.0 == 0 || picture.1 == 0 {
            return;
        }
        let scale = fit_scale(cell, picture) * self.zoom;
        self.center.0 -= delta.0 / (picture.0 as f64 * scale);
        self.center.1 -= delta.1 / (picture.1 as f64 * scale);
        self.clamp(cell, picture);
    }

    /// One window pixel per frame pixel (`1`), centred where the view was centred; `source` is
    /// the frame's size as sent (the picture may have been decoded smaller).
    pub fn one_to_one(&mut self, cell: Rect, picture: (usize, usize), source: (usize, usize)) {
        let (_, _, cw, ch) = cell;
        if source.0 == 0 || source.1 == 0 || cw == 0 || ch == 0 {
            return;
        }
        let fit = (cw as f64 / source.0 as f64).min(ch as f64 / source.1 as f64);
        self.zoom = (1.0 / fit).min(MAX_ZOOM);
        self.clamp(cell, picture);
    }

    /// Keeps the cell covered by the picture where the picture is larger than the cell, and
    /// the picture centred where it is smaller.
    fn clamp(&mut self, cell: Rect, picture: (usize, usize)) {
        let scale = fit_scale(cell, picture) * self.zoom;
        let axis = |c: f64, cell_len: usize, len: usize| {
            let half = cell_len as f64 / (2.0 * scale * len as f64);
            if half >= 0.5 {
                0.5
            } else {
                c.clamp(half, 1.0 - half)
            }
        };
        self.center = (
            axis(self.center.0, cell.2, picture.0),
            axis(self.center.1, cell.3, picture.1),
        );
        if self.zoom == 1.0 && self.center == (0.5, 0.5) {
            *self = View::default();
        }
    }
}

/// Window pixels per picture pixel when the picture fits its cell.
fn fit_scale(cell: Rect, picture: (usize, usize)) -> f64 {
    (cell.2 as f64 / picture.0.max(1) as f64).min(cell.3 as f64 / picture.1.max(1) as f64)
}

/// Where a `picture` sits in its `cell` under a [`View`].
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    cell: Rect,
    picture: (usize, usize),
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Fit-to-window: the letterboxed rectangle, mapped with integer arithmetic exactly as
    /// the letterbox drawing does.
    Fit(Rect),
    /// Zoomed: window pixels per picture pixel and the window position of the picture's
    /// top-left corner.
    Zoomed { scale: f64, origin: (f64, f64) },
}

impl Mapping {
    /// The mapping, or `None` for an empty cell or picture.
    pub fn new(view: &View, cell: Rect, picture: (usize, usize)) -> Option<Mapping> {
        let (cx, cy, cw, ch) = cell;
        let (pw, ph) = picture;
        if pw == 0 || ph == 0 || cw == 0 || ch == 0 {
            return None;
        }
        let kind = if view.is_fit() {
            let (dw, dh) = letterbox(cell, picture);
            Kind::Fit((cx + (cw - dw) / 2, cy + (ch - dh) / 2, dw, dh))
        } else {
            let scale = fit_scale(cell, picture) * view.zoom;
            Kind::Zoomed {
                scale,
                origin: (
                    cx as f64 + cw as f64 / 2.0 - view.center.0 * pw as f64 * scale,
                    cy as f64 + ch as f64 / 2.0 - view.center.1 * ph as f64 * scale,
                ),
            }
        };
        Some(Mapping {
            cell,
            picture,
            kind,
        })
    }

    /// The cell this mapping draws into.
    pub fn cell(&self) -> Rect {
        self.cell
    }

    /// Whether the picture is letterboxed (not zoomed).
    pub fn is_fit(&self) -> bool {
        matches!(self.kind, Kind::Fit(_))
    }

    /// The picture column shown at window column `x`, if any.
    pub fn column(&self, x: usize) -> Option<usize> {
        let (cx, _, cw, _) = self.cell;
        if x < cx || x >= cx + cw {
            return None;
        }
        match self.kind {
            Kind::Fit((ox, _, dw, _)) => {
                (x >= ox && x < ox + dw).then(|| (x - ox) * self.picture.0 / dw)
            }
            Kind::Zoomed { scale, origin } => axis(x, origin.0, scale, self.picture.0),
        }
    }

    /// The picture row shown at window row `y`, if any.
    pub fn row(&self, y: usize) -> Option<usize> {
        let (_, cy, _, ch) = self.cell;
        if y < cy || y >= cy + ch {
            return None;
        }
        match self.kind {
            Kind::Fit((_, oy, _, dh)) => {
                (y >= oy && y < oy + dh).then(|| (y - oy) * self.picture.1 / dh)
            }
            Kind::Zoomed { scale, origin } => axis(y, origin.1, scale, self.picture.1),
        }
    }

    /// The picture pixel under window pixel (`x`, `y`), if the picture is there.
    pub fn to_picture(&self, x: usize, y: usize) -> Option<(usize, usize)> {
        Some((self.column(x)?, self.row(y)?))
    }

    /// The (fractional) picture position under a window position.
    fn picture_at(&self, at: (f64, f64)) -> (f64, f64) {
        match self.kind {
            Kind::Fit((ox, oy, dw, dh)) => (
                (at.0 - ox as f64) * self.picture.0 as f64 / dw as f64,
                (at.1 - oy as f64) * self.picture.1 as f64 / dh as f64,
            ),
            Kind::Zoomed { scale, origin } => {
                ((at.0 - origin.0) / scale, (at.1 - origin.1) / scale)
            }
        }
    }
}

/// One zoomed axis: the picture index whose pixel covers window pixel `at`'s centre.
fn axis(at: usize, origin: f64, scale: f64, len: usize) -> Option<usize> {
    let p = ((at as f64 + 0.5 - origin) / scale).floor();
    (p >= 0.0 && p < len as f64).then_some(p as usize)
}

/// The letterboxed size of a `picture` in a `cell`: as large as fits, aspect ratio kept.
pub fn letterbox(cell: Rect, picture: (usize, usize)) -> (usize, usize) {
    let (_, _, cw, ch) = cell;
    let (pw, ph) = picture;
    if cw * ph <= ch * pw {
        (cw, (cw * ph / pw).max(1))
    } else {
        ((ch * pw / ph).max(1), ch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: Rect = (0, 0, 1280, 720);
    const PIC: (usize, usize) = (1280, 720);

    #[test]
    fn fit_maps_like_the_letterbox() {
        let view = View::default();
        // A 4:3 picture in a 16:9 cell: pillarboxed, 960 wide starting at 160.
        let m = Mapping::new(&view, CELL, (640, 480)).unwrap();
        assert_eq!(m.column(159), None);
        assert_eq!(m.column(160), Some(0));
        assert_eq!(m.column(161), Some(0));
        assert_eq!(m.column(162), Some(1));
        assert_eq!(m.column(1119), Some(639));
        assert_eq!(m.column(1120), None);
        assert_eq!(m.to_picture(640, 719), Some((320, 479)));
    }

    #[test]
    fn four_notches_zoom_four_times_around_the_cursor() {
        let mut view = View::default();
        // A bar boundary of the 8-bar pattern at x = 480.
        for _ in 0..4 {
            view.zoom_at(CELL, PIC, (480.0, 300.0), 1.0);
        }
        assert_eq!(view.zoom(), 4.0);
        let m = Mapping::new(&view, CELL, PIC).unwrap();
        // The point under the cursor stays; neighbours move 4× as far away.
        assert_eq!(m.column(479), Some(479));
        assert_eq!(m.column(480), Some(480));
        assert_eq!(m.column(480 + 4 * 160 - 1), Some(639));
        assert_eq!(m.column(480 + 4 * 160), Some(640));
        assert_eq!(m.row(300), Some(300));
        // Back out: exactly fit again.
        for _ in 0..4 {
            view.zoom_at(CELL, PIC, (100.0, 100.0), -1.0);
        }
        assert!(view.is_fit());
        for _ in 0..20 {
            view.zoom_at(CELL, PIC, (640.0, 360.0), 1.0);
        }
        assert_eq!(view.zoom(), MAX_ZOOM);
    }

    #[test]
    fn panning_stops_at_the_picture_edges() {
        let mut view = View::default();
        view.pan(CELL, PIC, (500.0, 0.0));
        assert!(view.is_fit(), "nothing to pan at fit");
        view.zoom_at(CELL, PIC, (0.0, 0.0), 2.0);
        assert_eq!(view.zoom(), 2.0);
        let m = Mapping::new(&view, CELL, PIC).unwrap();
        assert_eq!(m.to_picture(0, 0), Some((0, 0)));
        // Dragging right would show what is left of the picture: there is nothing there.
        view.pan(CELL, PIC, (300.0, 300.0));
        let m = Mapping::new(&view, CELL, PIC).unwrap();
        assert_eq!(m.to_picture(0, 0), Some((0, 0)));
        // Dragging left by 200 window pixels moves 100 picture pixels.
        view.pan(CELL, PIC, (-200.0, -100.0));
        let m = Mapping::new(&view, CELL, PIC).unwrap();
        assert_eq!(m.to_picture(0, 0), Some((100, 50)));
        // Far to the bottom right: the picture's last pixel sits in the cell's corner.
        view.pan(CELL, PIC, (-1e6, -1e6));
        let m = Mapping::new(&view, CELL, PIC).unwrap();
        assert_eq!(m.to_picture(1279, 719), Some((1279, 719)));
    }

    #[test]
    fn one_to_one_counts_frame_pixels_not_decoded_ones() {
        let mut view = View::default();
        // A 1920x1080 frame decoded at half size into a 1280x720 cell: 1:1 is 1.5× fit.
        view.one_to_one(CELL, (960, 540), (1920, 1080));
        assert!((view.zoom() - 1.5).abs() < 1e-12);
        // A small frame is shown smaller than fit, centred.
        view.one_to_one(CELL, (320, 240), (320, 240));
        let m = Mapping::new(&view, CELL, (320, 240)).unwrap();
        assert_eq!(m.column(480), Some(0));
        assert_eq!(m.column(479), None);
        assert_eq!(m.row(240), Some(0));
        view.fit();
        assert!(view.is_fit());
    }

    #[test]
    fn cells_are_offset_and_bounded() {
        let view = View::default();
        let cell = (640, 360, 640, 360);
        let m = Mapping::new(&view, cell, PIC).unwrap();
        assert_eq!(m.to_picture(640, 360), Some((0, 0)));
        assert_eq!(m.to_picture(639, 360), None);
        assert_eq!(m.to_picture(1279, 719), Some((1278, 718)));
        assert!(Mapping::new(&view, cell, (0, 5)).is_none());
    }
}
