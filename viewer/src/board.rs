//! The board: every connected stream's newest decoded picture, where decoders put them and the
//! window takes them. A picture the window did not take in time is replaced, not queued.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::stats::glass::Timing;

/// A decoded picture in the window's pixel layout (0RGB in a `u32`).
#[derive(Debug, Default, Clone)]
pub struct Picture {
    pub pixels: Pixels,
    pub width: usize,
    pub height: usize,
    /// When the decoder finished it.
    pub decoded_at: Option<Instant>,
    /// The capture time carried by the test pattern's mark, when measuring (`--measure`) and
    /// the frame came without in-band times.
    pub stamp: Option<u64>,
    /// The frame's in-band times, decoding included (the extension exchange).
    pub timing: Option<Timing>,
    /// `--optical`: what the picture showed of the window's marker.
    pub optical: Option<crate::optical::Seen>,
    /// The frame's size as sent; larger than `width`x`height` when decoded scaled down.
    pub source: (usize, usize),
    /// The payload it was decoded from, exactly as received (for snapshots). The buffer
    /// travels with the picture and goes back to the receiver when the picture is reused.
    pub payload: Vec<u8>,
}

/// A picture's pixel memory: its own, or memory the window shares with the X server (lent
/// through the board's spares), which the window shows without copying it.
#[derive(Debug)]
pub enum Pixels {
    Own(Vec<u32>),
    Shared(Box<dyn LentPixels>),
}

/// Pixel memory lent by what shows the pictures (the window's X11 shared memory), in which a
/// decoded picture is shown without a copy. A trait here so that the board, below the
/// window, needs nothing from it.
pub trait LentPixels: DerefMut<Target = [u32]> + Send + std::fmt::Debug {
    /// How many pixels it can hold.
    fn capacity(&self) -> usize;
    /// Uses the first `len` pixels (at most the capacity); their contents are whatever was
    /// there, for the caller to overwrite.
    fn set_len(&mut self, len: usize);
}

impl Pixels {
    /// Makes it `len` pixels long, keeping its memory where that is large enough (but not
    /// far larger: one huge picture must not pin its memory for good); the contents are for
    /// the caller to overwrite.
    pub fn resize(&mut self, len: usize) {
        match self {
            Pixels::Own(v) if v.capacity() > len.saturating_mul(4).max(LET_GO_PIXELS) => {
                *v = vec![0; len];
            }
            Pixels::Own(v) => v.resize(len, 0),
            Pixels::Shared(s) if s.capacity() >= len => s.set_len(len),
            Pixels::Shared(_) => *self = Pixels::Own(vec![0; len]),
        }
    }

    /// Whether it is memory the window shares with the X server.
    pub fn is_shared(&self) -> bool {
        matches!(self, Pixels::Shared(_))
    }
}

/// Keeps `picture` among the spares, at most [`MAX_SPARES`]; when they are full, one in shared
/// memory takes the place of one in ordinary memory, so no shared buffer is ever let go.
fn keep_spare(spares: &mut Vec<Picture>, picture: Picture) {
    if spares.len() < MAX_SPARES {
        spares.push(picture);
    } else if picture.pixels.is_shared() {
        if let Some(i) = spares.iter().position(|p| !p.pixels.is_shared()) {
            spares[i] = picture;
        }
    }
}

impl Default for Pixels {
    fn default() -> Self {
        Pixels::Own(Vec::new())
    }
}

/// A copy is always the picture's own memory.
impl Clone for Pixels {
    fn clone(&self) -> Self {
        Pixels::Own(self.to_vec())
    }
}

impl From<Vec<u32>> for Pixels {
    fn from(v: Vec<u32>) -> Self {
        Pixels::Own(v)
    }
}

impl Deref for Pixels {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match self {
            Pixels::Own(v) => v,
            Pixels::Shared(s) => s,
        }
    }
}

impl DerefMut for Pixels {
    fn deref_mut(&mut self) -> &mut [u32] {
        match self {
            Pixels::Own(v) => v,
            Pixels::Shared(s) => s,
        }
    }
}

/// A buffer this much larger than the picture it is to hold (and more than four times it)
/// is let go rather than reused: 4 MB, a 1080p picture's worth of slack.
const LET_GO_PIXELS: usize = 1 << 20;

/// One stream as the window sees it.
#[derive(Debug, Clone)]
pub struct TileInfo {
    pub id: u64,
    pub peer: SocketAddr,
    /// Which place in the window it takes: its host and the name it asked for, the same
    /// across reconnections.
    pub place: Arc<str>,
    /// Pictures decoded per second, over the last second or so; `None` in the stream's first
    /// second.
    pub fps: Option<f64>,
    /// How long the stream has shown the same picture, once that is longer than it should be
    /// ([`stale_after`]): the camera hung, every frame fails to decode, or the link died
    /// without a word. A frozen picture that looks live is the worst thing to show an operator.
    pub stale: Option<Duration>,
}

/// How long a picture may stay before it is marked old: three of the stream's last gaps
/// between pictures (a 0.2 Hz source is not stalled between frames), at least a second.
pub fn stale_after(gap: Duration) -> Duration {
    (gap * 3).max(Duration::from_secs(1))
}

struct Tile {
    id: u64,
    peer: SocketAddr,
    place: Arc<str>,
    fresh: Option<Picture>,
    /// For the rate shown in the title: decoded pictures since `window_start`.
    window_start: Instant,
    window_count: u32,
    /// The last whole window's rate (`None` before one closed).
    fps: Option<f64>,
    /// When the latest picture was published, and the gap before it.
    last_picture: Option<Instant>,
    gap: Duration,
}

impl Tile {
    fn info(&self) -> TileInfo {
        TileInfo {
            id: self.id,
            peer: self.peer,
            place: self.place.clone(),
            fps: self.fps_at(Instant::now()),
            stale: self.stale_at(Instant::now()),
        }
    }

    /// How long the latest picture has been up at `now`, when longer than [`stale_after`].
    fn stale_at(&self, now: Instant) -> Option<Duration> {
        let up = now.saturating_duration_since(self.last_picture?);
        (up > stale_after(self.gap)).then_some(up)
    }

    /// The rate over the last whole window; once the open one is more than a second old, at
    /// most what it would be if the next picture came now: a stream that stops publishing
    /// (stalled, or every frame failing to decode) reads lower and lower, not its last figure
    /// for good, while one slower than a picture a second keeps its rate.
    fn fps_at(&self, now: Instant) -> Option<f64> {
        let open = now.saturating_duration_since(self.window_start);
        if open < Duration::from_secs(1) {
            return self.fps;
        }
        let secs = open.as_secs_f64();
        Some(match self.fps {
            Some(last) => last.min(f64::from(self.window_count + 1) / secs),
            None => f64::from(self.window_count) / secs,
        })
    }
}

#[derive(Default)]
struct State {
    tiles: Vec<Tile>,
    spares: Vec<Picture>,
    /// The newest picture of the last stream to end, kept for `--snapshot`.
    last_of_ended: Option<Picture>,
    /// Bumped on every change, so the window can tell whether to redraw.
    version: u64,
}

/// Shared between the decoders and the window.
#[derive(Default)]
pub struct Board {
    state: Mutex<State>,
    changed: Condvar,
    /// The size a picture is shown at (width << 32 | height); 0 when unknown.
    display: AtomicU64,
    /// The most pixels a decoded picture may have (`--max-pixels`); 0 for the default.
    max_pixels: AtomicUsize,
}

const MAX_SPARES: usize = 4;

impl Board {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self, mut s: MutexGuard<'_, State>) {
        s.version += 1;
        drop(s);
        self.changed.notify_all();
    }

    /// Tells the decoders the size pictures are shown at, so they can decode smaller.
    pub fn set_display_size(&self, width: usize, height: usize) {
        let packed = ((width as u64) << 32) | (height as u64 & 0xFFFF_FFFF);
        self.display.store(packed, Ordering::Relaxed);
    }

    /// Sets the most pixels a decoded picture may have (`--max-pixels`).
    pub fn set_max_pixels(&self, max: usize) {
        self.max_pixels.store(max, Ordering::Relaxed);
    }

    /// The most pixels a decoded picture may have.
    pub fn max_pixels(&self) -> usize {
        match self.max_pixels.load(Ordering::Relaxed) {
            0 => shared::cli::DEFAULT_MAX_PIXELS,
            max => max,
        }
    }

    /// The size pictures are shown at, if a window said so.
    pub fn display_size(&self) -> Option<(usize, usize)> {
        let packed = self.display.load(Ordering::Relaxed);
        (packed != 0).then_some(((packed >> 32) as usize, (packed & 0xFFFF_FFFF) as usize))
    }

    /// Adds a stream (called with its first frame), to take `place` in the window.
    pub fn add(&self, id: u64, peer: SocketAddr, place: String) {
        let mut s = self.lock();
        s.tiles.push(Tile {
            id,
            peer,
            place: place.into(),
            fresh: None,
            window_start: Instant::now(),
            window_count: 0,
            fps: None,
            last_picture: None,
            gap: Duration::ZERO,
        });
        self.bump(s);
    }

    /// Removes a stream (its connection ended).
    pub fn remove(&self, id: u64) {
        let mut s = self.lock();
        if let Some(i) = s.tiles.iter().position(|t| t.id == id) {
            let tile = s.tiles.remove(i);
            if let Some(p) = tile.fresh {
                s.last_of_ended = Some(p);
            }
        }
        self.bump(s);
    }

    /// A buffer for the next decoded picture, if one was handed back: the window's shared
    /// memory first. A picture in ordinary memory (made while every shared buffer was in use)
    /// costs the window a 3.7 MB copy at 720p; taken last-in-first-out, one such picture
    /// stayed in turn with a shared one for good, and every other frame paid that copy.
    pub fn spare(&self) -> Option<Picture> {
        let mut s = self.lock();
        let i = (s.spares.iter())
            .rposition(|p| p.pixels.is_shared())
            .or_else(|| s.spares.len().checked_sub(1))?;
        Some(s.spares.remove(i))
    }

    /// Hands a shown picture back for reuse.
    pub fn recycle(&self, picture: Picture) {
        keep_spare(&mut self.lock().spares, picture);
    }

    /// Publishes stream `id`'s newest picture, replacing one not yet shown.
    pub fn publish(&self, id: u64, picture: Picture) {
        let mut s = self.lock();
        let State { tiles, spares, .. } = &mut *s;
        let Some(tile) = tiles.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let now = Instant::now();
        if let Some(last) = tile.last_picture.replace(now) {
            tile.gap = now.saturating_duration_since(last);
        }
        tile.window_count += 1;
        let span = now.duration_since(tile.window_start);
        if span >= Duration::from_secs(1) {
            tile.fps = Some(f64::from(tile.window_count) / span.as_secs_f64());
            tile.window_start = now;
            tile.window_count = 0;
        }
        if let Some(stale) = tile.fresh.replace(picture) {
            keep_spare(spares, stale);
        }
        self.bump(s);
    }

    /// The streams now connected, oldest first.
    pub fn tiles(&self) -> Vec<TileInfo> {
        self.lock().tiles.iter().map(Tile::info).collect()
    }

    /// The oldest stream still connected.
    pub fn first_tile(&self) -> Option<TileInfo> {
        self.lock().tiles.first().map(Tile::info)
    }

    /// Waits up to `limit` for a change after `seen_version`; returns the new version.
    pub fn wait_change(&self, seen_version: u64, limit: Duration) -> u64 {
        let s = self.lock();
        let (s, _) = self
            .changed
            .wait_timeout_while(s, limit, |s| s.version == seen_version)
            .unwrap_or_else(|e| e.into_inner());
        s.version
    }

    /// Takes stream `id`'s newest picture, if it has one not yet taken.
    pub fn take(&self, id: u64) -> Option<Picture> {
        self.lock()
            .tiles
            .iter_mut()
            .find(|t| t.id == id)
            .and_then(|t| t.fresh.take())
    }

    /// The newest picture nobody took: of a connected stream, else of the last one to end.
    pub fn take_any(&self) -> Option<Picture> {
        let mut s = self.lock();
        let from_tiles = s.tiles.iter_mut().rev().find_map(|t| t.fresh.take());
        from_tiles.or_else(|| s.last_of_ended.take())
    }
}

/// A picture of one colour, for the tests of every module that handles pictures.
#[cfg(test)]
pub(crate) fn solid(width: usize, height: usize, colour: u32) -> Picture {
    Picture {
        pixels: vec![colour; width * height].into(),
        width,
        height,
        ..Picture::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    fn picture(v: u32) -> Picture {
        solid(2, 2, v)
    }

    /// A tile that connected at `t` and has had no picture yet.
    fn tile_at(t: Instant) -> Tile {
        Tile {
            id: 1,
            peer: peer(),
            place: "".into(),
            fresh: None,
            window_start: t,
            window_count: 0,
            fps: None,
            last_picture: None,
            gap: Duration::ZERO,
        }
    }

    #[test]
    fn the_rate_is_unknown_at_first_and_falls_when_the_stream_stalls() {
        let t = Instant::now();
        let mut tile = tile_at(t);
        assert_eq!(tile.fps_at(t + Duration::from_millis(500)), None);
        // A whole window of 30 pictures, closed by a publish.
        tile.fps = Some(30.0);
        tile.window_start = t + Duration::from_secs(1);
        tile.window_count = 3;
        assert_eq!(tile.fps_at(t + Duration::from_millis(1500)), Some(30.0));
        // Then nothing more: the open window, 4 s old with 3 pictures, says so (as if the next
        // came now: 4 in 4 s).
        assert_eq!(tile.fps_at(t + Duration::from_secs(5)), Some(1.0));
        // A stream at a picture every 2 s keeps its 0.5 between pictures, not 0.
        tile.fps = Some(0.5);
        tile.window_count = 0;
        assert_eq!(tile.fps_at(t + Duration::from_millis(2500)), Some(0.5));
    }

    #[test]
    fn a_picture_kept_too_long_is_marked_old() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut tile = tile_at(t);
        assert_eq!(
            tile.stale_at(t + ms(5000)),
            None,
            "no picture yet: nothing is old"
        );
        // 30 fps: old after a second.
        (tile.last_picture, tile.gap) = (Some(t), ms(33));
        assert_eq!(tile.stale_at(t + ms(900)), None);
        assert_eq!(tile.stale_at(t + ms(1500)), Some(ms(1500)));
        // A picture every 5 s is not old 10 s after the last, 16 s after it is.
        tile.gap = ms(5000);
        assert_eq!(tile.stale_at(t + ms(10_000)), None);
        assert_eq!(tile.stale_at(t + ms(16_000)), Some(ms(16_000)));
    }

    #[test]
    fn own_pixels_resize_and_copies_are_their_own() {
        let mut p = Pixels::from(vec![5; 2]);
        p.resize(4);
        assert_eq!(&p[..], &[5, 5, 0, 0]);
        p.resize(1);
        assert_eq!(&p[..], &[5]);
        let copy = p.clone();
        assert!(matches!(copy, Pixels::Own(_)));
        assert_eq!(&copy[..], &[5]);
    }

    #[test]
    fn newest_picture_wins_and_stale_ones_are_reused() {
        let board = Board::default();
        board.add(1, peer(), String::new());
        board.publish(1, picture(1));
        board.publish(1, picture(2));
        assert_eq!(board.take(1).unwrap().pixels[0], 2);
        assert!(board.take(1).is_none());
        assert_eq!(board.spare().unwrap().pixels[0], 1);
    }

    /// Lent memory as the window's shared buffers are, in ordinary memory.
    #[derive(Debug)]
    struct Lent(Vec<u32>);

    impl Deref for Lent {
        type Target = [u32];
        fn deref(&self) -> &[u32] {
            &self.0
        }
    }

    impl DerefMut for Lent {
        fn deref_mut(&mut self) -> &mut [u32] {
            &mut self.0
        }
    }

    impl LentPixels for Lent {
        fn capacity(&self) -> usize {
            self.0.len()
        }
        fn set_len(&mut self, _len: usize) {}
    }

    fn lent(v: u32) -> Picture {
        Picture {
            pixels: Pixels::Shared(Box::new(Lent(vec![v; 4]))),
            ..Picture::default()
        }
    }

    #[test]
    fn shared_spares_go_first_and_are_never_let_go() {
        let board = Board::default();
        board.recycle(lent(1));
        board.recycle(picture(2));
        // Last in was ordinary memory; the shared buffer still goes first.
        assert!(board.spare().unwrap().pixels.is_shared());
        assert_eq!(board.spare().unwrap().pixels[0], 2);
        assert!(board.spare().is_none());
        for v in 0..MAX_SPARES as u32 {
            board.recycle(picture(v));
        }
        // Full of ordinary pictures: a shared one still finds its place.
        board.recycle(lent(9));
        assert_eq!(board.spare().unwrap().pixels[0], 9);
        board.recycle(lent(9));
        board.recycle(picture(7));
        let kinds: Vec<bool> = std::iter::from_fn(|| board.spare())
            .map(|p| p.pixels.is_shared())
            .collect();
        assert_eq!(kinds.len(), MAX_SPARES);
        assert_eq!(kinds.iter().filter(|&&s| s).count(), 1);
    }

    #[test]
    fn ended_streams_leave_and_keep_their_last_picture() {
        let board = Board::default();
        board.add(1, peer(), String::new());
        board.add(2, peer(), String::new());
        assert_eq!(board.tiles().len(), 2);
        board.publish(2, picture(7));
        board.remove(2);
        assert_eq!(
            board.tiles().iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(board.take_any().unwrap().pixels[0], 7);
        // Pictures for a stream that is gone are ignored.
        board.publish(2, picture(8));
        assert!(board.take_any().is_none());
    }

    #[test]
    fn display_size_round_trips() {
        let board = Board::default();
        assert_eq!(board.display_size(), None);
        board.set_display_size(640, 360);
        assert_eq!(board.display_size(), Some((640, 360)));
    }

    #[test]
    fn waiting_sees_changes() {
        let board = Board::default();
        let v0 = board.wait_change(u64::MAX, Duration::ZERO);
        assert_eq!(board.wait_change(v0, Duration::from_millis(5)), v0);
        board.add(1, peer(), String::new());
        assert!(board.wait_change(v0, Duration::from_millis(5)) > v0);
    }
}
