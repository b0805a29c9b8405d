//! The streams the window holds: one tile per connected stream, in the order they connected,
//! with the picture on screen and its figures. Follows the board as streams come and go.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::cli::print_line;
use shared::media::mark;

use super::hud::Figures;
use crate::board::{Board, Picture, TileInfo};
use crate::optical::Seen;
use crate::stats::glass::Timing;
use crate::stats::optical::Figure;
use crate::stats::streams::Snapshot;
use crate::stats::Counters;

/// How often the figures bands are refreshed: often enough to follow, slow enough to read.
const FIGURES_EVERY: Duration = Duration::from_millis(250);

/// One connected stream as the window holds it.
pub struct Shown {
    /// Its id, peer and decoded rate, from the board.
    pub tile: TileInfo,
    /// The picture on screen (or frozen there while paused).
    pub picture: Option<Picture>,
    /// Its figures as last read, refreshed every [`FIGURES_EVERY`].
    pub figures: Figures,
}

/// A picture just taken from the board whose glass-to-glass time is recorded once it is on
/// screen: its stream, and its in-band times or else the capture time from its mark.
pub struct Fresh {
    pub id: u64,
    peer: SocketAddr,
    glass: Option<Glass>,
    /// `--optical`: what the picture showed of the marker.
    optical: Option<Seen>,
}

/// Where a picture's capture time comes from.
enum Glass {
    /// In-band times (the extension exchange), clock offset included.
    Timed(Timing),
    /// The test pattern's mark, on a clock assumed to be ours.
    Mark(u64),
}

/// Where ended streams were, for a reconnection to take: the window keeps its order and the
/// focus when a robot's Wi-Fi drops, instead of the stream moving to the end of the grid.
#[derive(Default)]
pub struct Places {
    gone: Vec<Gone>,
}

/// An ended stream's place: its index among the shown, and whether it had the focus.
struct Gone {
    place: Arc<str>,
    index: usize,
    focused: bool,
    at: Instant,
}

/// How long an ended stream's place is kept for its reconnection.
const PLACE_KEPT: Duration = Duration::from_secs(60);
/// The most ended streams' places kept.
const PLACES_KEPT: usize = 16;

impl Places {
    /// A stream at `index` (with the focus or not) ended.
    fn left(&mut self, place: Arc<str>, index: usize, focused: bool) {
        let now = Instant::now();
        self.gone.retain(|g| now.duration_since(g.at) < PLACE_KEPT);
        if self.gone.len() == PLACES_KEPT {
            self.gone.remove(0);
        }
        self.gone.push(Gone {
            place,
            index,
            focused,
            at: now,
        });
    }

    /// The index and focus a new stream at `place` takes, if one there ended lately.
    fn take(&mut self, place: &str) -> Option<(usize, bool)> {
        let i = self.gone.iter().rposition(|g| &*g.place == place)?;
        let g = self.gone.remove(i);
        (g.at.elapsed() < PLACE_KEPT).then_some((g.index, g.focused))
    }
}

/// Follows the board's streams: new ones join (at the place of an ended connection from the
/// same host and name, with its focus, or else at the end), ended ones leave (with their
/// pictures handed back), and the focus on an ended stream goes to its reconnection if that
/// is already there, or else back to the grid. Not `live` (a replay shows what the file holds,
/// paused or not), no picture is marked old, on the tile or in the title. Whether anything
/// changed.
pub fn follow_streams(
    board: &Board,
    shown: &mut Vec<Shown>,
    (focus, places): (&mut Option<u64>, &mut Places),
    live: bool,
) -> bool {
    let mut tiles = board.tiles();
    if !live {
        tiles.iter_mut().for_each(|t| t.stale = None);
    }
    let mut changed = leave(board, shown, &tiles, (focus, places));
    for tile in &tiles {
        match shown.iter_mut().find(|s| s.tile.id == tile.id) {
            Some(s) => {
                // A picture that turns old (or fresh again) changes what is drawn over it.
                changed |= s.tile.stale.is_some() != tile.stale.is_some();
                s.tile.fps = tile.fps;
                s.tile.stale = tile.stale;
            }
            None => {
                let new = Shown {
                    tile: tile.clone(),
                    picture: None,
                    figures: Figures::default(),
                };
                match places.take(&tile.place) {
                    Some((index, focused)) => {
                        shown.insert(index.min(shown.len()), new);
                        if focused && focus.is_none() {
                            *focus = Some(tile.id);
                        }
                    }
                    None => shown.push(new),
                }
                changed = true;
            }
        }
    }
    changed
}

/// Takes the streams that ended off `shown`, keeping their places; whether any did.
fn leave(
    board: &Board,
    shown: &mut Vec<Shown>,
    tiles: &[TileInfo],
    (focus, places): (&mut Option<u64>, &mut Places),
) -> bool {
    let mut changed = false;
    let mut index = 0;
    while index < shown.len() {
        let tile = &shown[index].tile;
        if tiles.iter().any(|t| t.id == tile.id) {
            index += 1;
            continue;
        }
        let mut ended = shown.remove(index);
        if let Some(old) = ended.picture.take() {
            board.recycle(old);
        }
        let focused = *focus == Some(ended.tile.id);
        // Its reconnection may be on screen already (the old connection was found dead only
        // after the new one came, at the end): it moves to the place now free.
        // Only a newer connection, and only when this one had stopped bringing pictures: two
        // live streams may share a place (two unnamed streamers of one robot), and the other
        // must not take this one's focus.
        let successor = (shown.iter()).position(|s| {
            s.tile.place == ended.tile.place
                && s.tile.id > ended.tile.id
                && ended.tile.stale.is_some()
        });
        match successor {
            Some(j) => {
                let moved = shown.remove(j);
                if focused {
                    *focus = Some(moved.tile.id);
                }
                // Before the place, taking it out moved the place back one.
                let at = if j < index { index - 1 } else { index };
                shown.insert(at, moved);
                index = at + 1;
            }
            None => {
                if focused {
                    *focus = None;
                }
                places.left(ended.tile.place, index, focused);
            }
        }
        changed = true;
    }
    changed
}

/// Takes each stream's new picture from the board, handing the one it replaces back; paused,
/// takes nothing (the board keeps only each stream's newest, to show on resuming). Returns
/// the streams that had one, and those pictures that carry a capture time.
pub fn take_pictures(board: &Board, shown: &mut [Shown], paused: bool) -> (Vec<u64>, Vec<Fresh>) {
    let mut taken = Vec::new();
    let mut fresh = Vec::new();
    if paused {
        return (taken, fresh);
    }
    for s in shown.iter_mut() {
        if let Some(new) = board.take(s.tile.id) {
            let glass = match (new.timing, new.stamp) {
                (Some(t), _) => Some(Glass::Timed(t)),
                (None, Some(stamp)) => Some(Glass::Mark(stamp)),
                (None, None) => None,
            };
            if glass.is_some() || new.optical.is_some() {
                let (id, peer, optical) = (s.tile.id, s.tile.peer, new.optical);
                fresh.push(Fresh {
                    id,
                    peer,
                    glass,
                    optical,
                });
            }
            if let Some(old) = s.picture.replace(new) {
                board.recycle(old);
            }
            taken.push(s.tile.id);
        }
    }
    (taken, fresh)
}

/// Records the glass-to-glass (and with `--optical` the optical) times of pictures handed to
/// the screen at `presented` (only those drawn: a stream hidden behind a focused one has
/// none): printed with `--measure`, else only kept for the figures band.
pub fn record_glass<'a>(
    counters: &Counters,
    measure: bool,
    fresh: impl Iterator<Item = &'a Fresh>,
    presented: Instant,
) {
    // The moment the picture was on screen, on each clock the frames' times use.
    let shown = shared::wire::clock::wall_micros_at(presented);
    let shown_mark = mark::micros_at(presented);
    for f in fresh {
        let (host, mut line) = match f.glass {
            Some(Glass::Timed(t)) => counters.timed_line(f.id, f.peer, &t, shown),
            Some(Glass::Mark(stamp)) if measure => counters.glass_line(f.peer, stamp, shown_mark),
            Some(Glass::Mark(stamp)) => {
                let info = counters.streams.get(f.id);
                let ms = mark::elapsed_ms(stamp, shown_mark);
                match (ms, &info) {
                    (Some(ms), Some(info)) => info.glass(ms),
                    (None, _) => counters.mark_unknown(info.as_deref()),
                    _ => {}
                }
                (ms, String::new())
            }
            None => (None, format!("peer={}", f.peer)),
        };
        if let Some(seen) = f.optical {
            let figure = Figure::of(seen, presented, host);
            counters.record_optical(f.id, &figure);
            line.push_str(&figure.line());
        }
        if measure {
            print_line(format_args!("{line}"));
        }
    }
}

/// Reads every stream's figures again when the last reading is [`FIGURES_EVERY`] old.
/// Whether they were read.
pub fn refresh_figures(
    counters: &Counters,
    shown: &mut [Shown],
    last: &mut Option<Instant>,
) -> bool {
    if last.is_some_and(|t| t.elapsed() < FIGURES_EVERY) {
        return false;
    }
    *last = Some(Instant::now());
    for s in shown.iter_mut() {
        if let Some(info) = counters.streams.get(s.tile.id) {
            s.figures = figures(&info.snapshot());
        }
    }
    true
}

/// The band's figures from a stream's registry entry.
fn figures(s: &Snapshot) -> Figures {
    Figures {
        fps: s.fps,
        kbit_per_s: s.kbit_s,
        bytes_per_frame: s.bytes_per_frame as f64,
        decode_ms: s.decode_p50_ms,
        dropped: s.dropped,
        errors: s.errors,
        glass_ms: s.glass_p50_ms,
        stages_ms: s.stages_p50_ms,
        name: s.name.clone(),
        optical: s.optical_p50_ms.map(|p50| (p50, s.optical_bins)),
    }
}

/// `Tab`: the stream after the focused one alone, the first after the grid, the grid after
/// the last.
pub fn next_focus(shown: &[Shown], focus: Option<u64>) -> Option<u64> {
    let ids: Vec<u64> = shown.iter().map(|s| s.tile.id).collect();
    match focus.and_then(|f| ids.iter().position(|&i| i == f)) {
        None => ids.first().copied(),
        Some(i) => ids.get(i + 1).copied(),
    }
}

/// The picture on screen at the end, for `--snapshot`.
pub fn last_picture(shown: Vec<Shown>) -> Option<Picture> {
    shown.into_iter().find_map(|s| s.picture)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(shown: &[Shown]) -> Vec<u64> {
        shown.iter().map(|s| s.tile.id).collect()
    }

    #[test]
    fn a_reconnection_takes_the_place_and_focus_of_the_connection_it_replaces() {
        let board = Board::default();
        let peer: SocketAddr = "192.168.3.7:5000".parse().unwrap();
        let (mut shown, mut focus, mut places) = (Vec::new(), None, Places::default());
        for (id, place) in [(1, "a"), (2, "b"), (3, "c")] {
            board.add(id, peer, place.into());
        }
        assert!(follow_streams(
            &board,
            &mut shown,
            (&mut focus, &mut places),
            true
        ));
        assert_eq!(ids(&shown), [1, 2, 3]);
        focus = Some(2);
        // The middle one's link drops; it comes back as a new connection.
        board.remove(2);
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        assert_eq!((ids(&shown), focus), (vec![1, 3], None));
        board.add(4, peer, "b".into());
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        assert_eq!((ids(&shown), focus), (vec![1, 4, 3], Some(4)));
        // Another stream is no reconnection: it goes at the end.
        board.add(5, peer, "d".into());
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        assert_eq!(ids(&shown), [1, 4, 3, 5]);
        // The first one reconnects before its old connection is found dead: the new one
        // moves to the old one's place, with the focus, when the old one ends.
        board.add(6, peer, "a".into());
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        focus = Some(1);
        // Its picture had gone old: the link died without a word.
        shown[0].tile.stale = Some(Duration::from_secs(9));
        board.remove(1);
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        assert_eq!((ids(&shown), focus), (vec![6, 4, 3, 5], Some(6)));
        // Two live streams of one place (two unnamed streamers of one robot): the one shown
        // alone ends while its picture is fresh; the other is no reconnection of it.
        board.add(8, peer, "d".into());
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        focus = Some(5);
        board.remove(5);
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        assert_eq!((ids(&shown), focus), (vec![6, 4, 3, 8], None));
        focus = Some(6);
        // The focus moved elsewhere meanwhile: a reconnection does not take it back.
        board.remove(3);
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        board.add(7, peer, "c".into());
        follow_streams(&board, &mut shown, (&mut focus, &mut places), true);
        assert_eq!((ids(&shown), focus), (vec![6, 4, 7, 8], Some(6)));
    }
}
