//! `viewer --play FILE`: a recording played into the board the way a streamer's connection
//! feeds it, so the window shows it with everything it has for a live stream (band, zoom,
//! inspector, snapshots). A player thread hands each frame's JPEG to the stream's decoder at
//! its recorded time, scaled by the speed; the window's keys and timeline drive it through
//! [`control::Control`]. The file is indexed by one scan at the start and read a frame at a
//! time.

pub mod control;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use shared::cli::print_line;
use shared::files::replay::{times, Entry, Recording};
use shared::runtime::log_limit::LogLimit;
use shared::runtime::stats::StreamStats;
use shared::Slot;
use tokio::sync::watch;

use crate::board::Board;
use crate::decode::decoder::{self, Measure};
use crate::decode::Received;
use crate::stats::Counters;
use control::{Control, Goto};

/// The stream's id on the board (a playback is the only stream).
const ID: u64 = 1;
/// The player looks at the stop flag at least this often.
const TICK: Duration = Duration::from_millis(50);

/// What a playback needs from the rest of the viewer.
pub struct Setup {
    pub board: Arc<Board>,
    pub counters: Arc<Counters>,
    pub stop: watch::Sender<bool>,
    /// Print a line per frame (`--measure`).
    pub print: bool,
    /// End at the last frame (no window); with a window, the last frame stays up, paused.
    pub end_at_last: bool,
    /// The MCAP channel to play (`--topic`).
    pub topic: Option<String>,
}

/// The running playback: its controls and threads.
pub struct Player {
    pub control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
}

/// What the scan found wrong, one line each: a file cut short or damaged (played up to there),
/// gaps over a minute played as a second, times going back played as none.
fn say_index(path: &Path, recording: &Recording, frames: usize, changed: times::Changed) {
    let path = path.display();
    if let Some(why) = recording.damaged() {
        eprintln!("viewer: {path}: {why}; playing the {frames} frames before it");
    } else if recording.cut_short() {
        eprintln!(
            "viewer: {path}: the file ends inside a frame; playing up to its last whole frame"
        );
    }
    if let Some((offset, gap_us)) = changed.first_gap {
        eprintln!(
            "viewer: {path}: {} recorded gap(s) over {} s, the first of {:.1} s before the \
             frame at offset {offset} (a bad time or a long stall); each played as {} s",
            changed.long_gaps,
            times::MAX_GAP_US / 1_000_000,
            gap_us as f64 / 1e6,
            times::GAP_PLAYED_US / 1_000_000
        );
    }
    if changed.backwards > 0 {
        let n = changed.backwards;
        eprintln!("viewer: {path}: {n} frame(s) recorded at a time before the one before; played right after it");
    }
}

impl Player {
    /// Opens and indexes `path` (frames up to `max_frame` bytes), then starts playing it.
    pub fn start(path: &Path, max_frame: usize, setup: Setup) -> Result<Player> {
        let mut recording = Recording::open_topic(path, max_frame, setup.topic.as_deref())?;
        let (entries, changed) = recording.index()?;
        if entries.is_empty() {
            bail!("{}: no whole frame in the file", path.display());
        }
        say_index(path, &recording, entries.len(), changed);
        let control = Arc::new(Control::new(false));
        {
            let mut s = control.lock();
            s.status.frames = entries.len();
            s.status.duration_us = entries.last().map_or(0, |e| e.time_us);
        }
        // No network peer (the unspecified address stands in): the stream is named after the
        // file, and the band shows that name alone.
        let peer = SocketAddr::from(([0, 0, 0, 0], 0));
        setup.board.add(ID, peer, String::new());
        setup.counters.streams.add(ID, peer);
        let file = path.file_name().unwrap_or(path.as_os_str());
        setup.counters.streams.name(ID, &file.to_string_lossy());
        let payloads = Arc::new(Slot::new());
        let decoding = {
            let (payloads, board, counters) = (
                payloads.clone(),
                setup.board.clone(),
                setup.counters.clone(),
            );
            let measure = Measure::default();
            thread::Builder::new()
                .name("decode".into())
                .spawn(move || decoder::run(ID, peer, payloads, board, counters, measure))?
        };
        let playing = {
            let control = control.clone();
            let mut player = Play {
                recording,
                entries,
                control,
                payloads,
                setup,
                next: 0,
                // As the streamer's replay says them: a few a second, each named.
                unreadable: LogLimit::with_burst(10),
            };
            thread::Builder::new()
                .name("play".into())
                .spawn(move || player.run())?
        };
        Ok(Player {
            control,
            threads: vec![playing, decoding],
        })
    }

    /// Waits for the player and its decoder to end (they end with the stop flag).
    pub fn join(self) -> Result<()> {
        for t in self.threads {
            t.join().map_err(|_| anyhow!("playback thread panicked"))?;
        }
        Ok(())
    }
}

/// The player thread's state.
struct Play {
    recording: Recording,
    entries: Vec<Entry>,
    control: Arc<Control>,
    payloads: Arc<Slot<Received>>,
    setup: Setup,
    /// The frame to hand over next.
    next: usize,
    /// Entries that could not be read, said once a second at most.
    unreadable: LogLimit,
}

impl Play {
    fn run(&mut self) {
        if let Err(e) = self.play() {
            eprintln!("viewer: {e:#}");
        }
        self.control.finish();
        self.payloads.close();
        // Into the run's dropped=, as a live stream's are when it leaves.
        (self.setup.counters.dropped).fetch_add(self.payloads.dropped(), Ordering::Relaxed);
        if self.setup.end_at_last {
            self.setup.stop.send_replace(true);
        }
    }

    /// Hands frames over at their times until the stop flag (or, without a window, the end).
    fn play(&mut self) -> Result<()> {
        // When the frame recorded at `.1` was due. Every request starts it again from the frame
        // on screen, so the next frame is due a step after it: had it started from the next
        // frame, that one came at once and the frame jumped to was shown for no time at all.
        let mut clock: Option<(Instant, u64)> = None;
        let mut seen = 0;
        while !*self.setup.stop.borrow() {
            let mut s = self.control.lock();
            if s.changes != seen {
                seen = s.changes;
                clock = Some(self.anchor(s.status.time_us));
            }
            if let Some(goto) = s.goto.take() {
                drop(s);
                self.next = self.frame_of(goto);
                let shown_us = self.entries[self.next].time_us;
                self.show()?;
                clock = Some((Instant::now(), shown_us));
                continue;
            }
            if s.status.paused {
                drop(self.control.wait(s, TICK));
                continue;
            }
            if self.next >= self.entries.len() {
                if s.status.looping {
                    // The last frame gets its step on screen too, a file with no duration
                    // (one frame, or all at one time) a nominal one: it does not spin.
                    self.next = 0;
                    let step = Duration::from_secs_f64(self.last_step_us() as f64 / 1e6);
                    let at = Instant::now() + step.div_f64(s.status.speed);
                    clock = Some((at, self.entries[0].time_us));
                } else if self.setup.end_at_last {
                    return Ok(());
                } else {
                    s.status.paused = true;
                }
                continue;
            }
            let time = self.entries[self.next].time_us;
            let (at, base) = *clock.get_or_insert((Instant::now(), time));
            let wait = time.saturating_sub(base) as f64 / 1e6 / s.status.speed;
            let due = at + Duration::from_secs_f64(wait);
            let now = Instant::now();
            if due > now {
                drop(self.control.wait(s, (due - now).min(TICK)));
                continue;
            }
            drop(s);
            self.show()?;
        }
        Ok(())
    }

    /// The clock started now from the frame on screen, recorded at `shown_us` (no later than
    /// the next frame's time, so that the next is never held for longer than its step).
    fn anchor(&self, shown_us: u64) -> (Instant, u64) {
        let next_us = self.entries.get(self.next).map_or(shown_us, |e| e.time_us);
        (Instant::now(), shown_us.min(next_us))
    }

    /// The time between the last two frames, or a nominal frame interval when that is 0.
    fn last_step_us(&self) -> u64 {
        let n = self.entries.len();
        let step = match n {
            0 | 1 => 0,
            _ => self.entries[n - 1]
                .time_us
                .saturating_sub(self.entries[n - 2].time_us),
        };
        if step == 0 {
            shared::files::replay::mjpeg::NOMINAL_FRAME_US
        } else {
            step
        }
    }

    /// The frame a jump lands on: the last one recorded at or before a time.
    fn frame_of(&self, goto: Goto) -> usize {
        let last = self.entries.len() - 1;
        match goto {
            Goto::Frame(i) => i.min(last),
            Goto::Time(t) => self
                .entries
                .partition_point(|e| e.time_us <= t)
                .saturating_sub(1),
        }
    }

    /// Reads frame `next` and hands it to the decoder (replacing one not yet decoded).
    fn show(&mut self) -> Result<()> {
        let entry = self.entries[self.next];
        let mut payload = self.payloads.spare().unwrap_or_default().bytes;
        if let Err(e) = self.recording.read(&entry, &mut payload) {
            // One unreadable entry (the bytes between two JPEGs of a damaged .mjpeg, longer
            // than --max-frame-bytes; a block cut by a disk error) is skipped: the frames
            // after it play.
            self.unreadable
                .line("read", || format!("viewer: {e}; skipped"));
            // Where the playback is, for the keys: a step goes on from here, not back to it.
            let mut s = self.control.lock();
            s.status.frame = self.next;
            s.status.time_us = entry.time_us;
            drop(s);
            self.next += 1;
            return Ok(());
        }
        let now = Instant::now();
        let counters = &self.setup.counters;
        counters.received.fetch_add(1, Ordering::Relaxed);
        counters
            .lock_rate()
            .get_or_insert_with(StreamStats::default)
            .frame(now, None);
        if let Some(info) = counters.streams.get(ID) {
            info.received(now, &payload, None, None);
        }
        if self.setup.print {
            print_line(format_args!(
                "frame={} time_ms={:.3} bytes={}",
                self.next,
                entry.time_us as f64 / 1000.0,
                entry.len
            ));
        }
        {
            let mut s = self.control.lock();
            s.status.frame = self.next;
            s.status.time_us = entry.time_us;
        }
        self.next += 1;
        // A recording carries no in-band times: no glass figure (the mark may still be read).
        let received = Received {
            bytes: payload,
            in_band: None,
        };
        self.payloads
            .put(received)
            .map_err(|_| anyhow!("the decoder stopped"))?;
        // Frames replaced before the decoder took them, as a live stream's are counted.
        if let Some(info) = self.setup.counters.streams.get(ID) {
            info.set_dropped(self.payloads.dropped());
        }
        Ok(())
    }
}
