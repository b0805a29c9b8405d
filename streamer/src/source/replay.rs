//! `--source FILE.mkv` (`.webm`, `.avi`, `.mjpeg`): a recording replayed, each JPEG passed
//! through byte for byte at its recorded time (or at `--fps`, `--fps 0`: as fast as the viewer
//! takes them), from the start again with `--loop`. The file is read one frame at a time.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use shared::files::replay::times::{self, Step};
use shared::files::replay::Recording;
use shared::runtime::log_limit::LogLimit;

use crate::source::{PixelFormat, RawFrame, Source};

/// Lines a second about entries skipped (as `viewer --play` says them): each named while there
/// are few, a file full of them (or a `--loop` round after round) not a line each.
const SKIP_LINES: u32 = 10;

/// Sleeps are cut into steps this long so that Ctrl-C is not kept waiting by a long gap.
const SLEEP_STEP: Duration = Duration::from_millis(100);

/// A replay later than its recorded times by more than this (no viewer yet, a link that
/// stalled or carries less than the recording) goes on at its recorded pace from the late
/// frame instead of racing through the frames it is late for: a viewer joining a replay sees
/// it from its start at its own pace, not a fast-forward its decoder drops most of. Less late
/// (a busy machine) it catches up, so the replay keeps its recorded length.
const CATCH_UP: Duration = Duration::from_millis(250);

/// A recording being replayed.
pub struct ReplaySource {
    recording: Recording,
    /// Frames leave at their recorded times (no `--fps` given and the file has times).
    recorded_timing: bool,
    looping: bool,
    /// When the first frame of this run left; the recorded times count from it.
    start: Option<Instant>,
    /// Microseconds added to the played times: the loops played before this one.
    loop_base_us: u64,
    /// The last frame's recorded time, its time as played in this round, and its step as
    /// played: each frame is played its own recorded step after the one before, a step over
    /// a minute as a second and one going back as none ([`Step`], `viewer --play`'s rule too):
    /// a stream that stalled for seconds replays its stall, but a bad time (a bag's first
    /// message stamped 0 before its clock came) must not hold the replay for decades, nor one
    /// damaged time send every frame after it at once.
    last_time_us: u64,
    played_us: u64,
    last_step_us: u64,
    next_index: u64,
    /// `next_index` when the current round of `--loop` began.
    round_start: u64,
    decompressor: turbojpeg::Decompressor,
    /// The lines about entries skipped because they were not JPEG or could not be read.
    said: LogLimit,
    /// The size of the first frame, for the start-up line.
    size: (usize, usize),
}

impl ReplaySource {
    /// Opens the recording at `path` and reads its first frame's header; `paced_by_caller`
    /// when `--fps` was given (the capture stage paces, not the recorded times).
    pub fn open(
        path: &Path,
        max_frame_bytes: usize,
        looping: bool,
        paced_by_caller: bool,
        topic: Option<&str>,
    ) -> Result<Self> {
        let mut recording = Recording::open_topic(path, max_frame_bytes, topic)?;
        let mut decompressor = turbojpeg::Decompressor::new()?;
        let mut first = Vec::new();
        if recording.next(&mut first)?.is_none() {
            bail!("{}: no whole frame in the file", path.display());
        }
        let size = match decompressor.read_header(&first) {
            Ok(h) => (h.width, h.height),
            Err(e) => bail!("{}: the first frame is not a JPEG ({e})", path.display()),
        };
        recording.rewind()?;
        Ok(ReplaySource {
            recorded_timing: recording.timed() && !paced_by_caller,
            recording,
            looping,
            start: None,
            loop_base_us: 0,
            last_time_us: 0,
            played_us: 0,
            last_step_us: 0,
            next_index: 0,
            round_start: 0,
            decompressor,
            said: LogLimit::with_burst(SKIP_LINES),
            size,
        })
    }

    /// Says that the recorded gap of `gap_us` before the frame at `offset` (over a minute) is
    /// played as a second.
    fn say_gap(&self, offset: u64, gap_us: u64) {
        eprintln!(
            "streamer: {}: {:.0} s between recorded times before the frame at offset {offset} \
             (over {} s: a bad time or a long stall); played as {} s",
            self.recording.path().display(),
            gap_us as f64 / 1e6,
            times::MAX_GAP_US / 1_000_000,
            times::GAP_PLAYED_US / 1_000_000
        );
    }

    /// The time the frame recorded at `time_us` is due, from the start of the run.
    fn due(&mut self, time_us: u64, offset: u64) -> u64 {
        let step = Step::between(self.last_time_us, time_us);
        if let (Step::LongGap(gap), true) = (step, self.recorded_timing) {
            self.say_gap(offset, gap);
        }
        self.last_time_us = time_us;
        self.last_step_us = step.played();
        self.played_us = self.played_us.saturating_add(self.last_step_us);
        self.loop_base_us.saturating_add(self.played_us)
    }

    /// Says why an entry is skipped, [`SKIP_LINES`] a second at most.
    fn skipped(&self, what: &str) {
        self.said
            .line("skipped", || format!("streamer: {what}; skipped"));
    }

    /// Waits until `time_us` after the start; false when `stop` said to give up. A frame
    /// more than [`CATCH_UP`] late moves the start on by its lateness and goes at once.
    fn wait_until(&mut self, time_us: u64, stop: &dyn Fn() -> bool) -> bool {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_micros(time_us);
        let (start, due) = caught_up(start, due, Instant::now());
        self.start = Some(start);
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            if stop() {
                return false;
            }
            thread::sleep((due - now).min(SLEEP_STEP));
        }
    }
}

/// The start and the frame's due time, both moved on by the frame's lateness when it is
/// more than [`CATCH_UP`] late at `now`.
fn caught_up(start: Instant, due: Instant, now: Instant) -> (Instant, Instant) {
    match now.checked_duration_since(due) {
        Some(late) if late > CATCH_UP => (start + late, now),
        _ => (start, due),
    }
}

impl Source for ReplaySource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        self.next_frame_or_stop(frame, &|| false)
    }

    fn next_frame_or_stop(
        &mut self,
        frame: &mut RawFrame,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool> {
        loop {
            let entry = match self.recording.next_entry() {
                Ok(entry) => entry,
                // With `--loop`, an error after frames of this round played (a power cut's
                // zeroed tail) ends the round there, as `viewer --play` takes it, and the
                // replay goes on (without it, the error ends the replay as before).
                Err(e) if self.looping && self.next_index > self.round_start => {
                    self.said.line("damaged", || {
                        format!("streamer: {e}; the rest of the file skipped in every round")
                    });
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let Some(entry) = entry else {
                if self.recording.cut_short() {
                    eprintln!(
                        "streamer: {}: the file ends inside a frame; replayed up to its last \
                         whole frame",
                        self.recording.path().display()
                    );
                }
                // A round that delivered nothing (every entry unreadable, perhaps the file
                // changed meanwhile) would spin: the replay ends instead.
                if !self.looping || self.next_index == self.round_start {
                    return Ok(false);
                }
                self.recording.rewind()?;
                self.round_start = self.next_index;
                // The next round starts one frame interval after the last frame: the last
                // step, as played (a gap cut to a second stays cut in every round).
                self.loop_base_us += self.played_us + self.last_step_us.max(1);
                (self.last_time_us, self.played_us) = (0, 0);
                continue;
            };
            // One unreadable entry (the bytes between two JPEGs of a damaged .mjpeg, longer
            // than --max-frame-bytes) is skipped like a frame that is not a JPEG.
            if let Err(e) = self.recording.read(&entry, &mut frame.data) {
                self.skipped(&e.to_string());
                continue;
            }
            let due_us = self.due(entry.time_us, entry.offset);
            if self.recorded_timing && !self.wait_until(due_us, stop) {
                return Ok(false);
            }
            let header = match self.decompressor.read_header(&frame.data) {
                Ok(header) => header,
                Err(e) => {
                    let path = self.recording.path().display();
                    let what = format!(
                        "{path}: the frame at offset {} is not a JPEG ({e})",
                        entry.offset
                    );
                    self.skipped(&what);
                    continue;
                }
            };
            frame.captured_at = Instant::now();
            frame.width = header.width;
            frame.height = header.height;
            frame.format = PixelFormat::Jpeg;
            frame.index = self.next_index;
            self.next_index += 1;
            return Ok(true);
        }
    }

    fn describe(&self) -> String {
        let (w, h) = self.size;
        format!(
            "{}: {} recording, {w}x{h} JPEG sent as it is",
            self.recording.path().display(),
            self.recording.container().name()
        )
    }

    fn encodes(&self) -> bool {
        false
    }

    fn natural_fps(&self) -> f64 {
        // Paced by the recorded times, not by the capture stage.
        if self.recorded_timing {
            0.0
        } else {
            30.0
        }
    }

    fn pace(&self) -> Option<String> {
        self.recorded_timing.then(|| "its recorded times".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_a_little_late_keeps_the_start_and_one_too_late_moves_it_on() {
        let start = Instant::now();
        let due = start + Duration::from_secs(1);
        // Early, on time and a busy machine's 200 ms late: the recorded times stand.
        for now in [start, due, due + Duration::from_millis(200)] {
            assert_eq!(caught_up(start, due, now), (start, due));
        }
        // 3 s late (the viewer came 3 s after the replay began): this frame goes now and the
        // next ones keep their recorded steps after it.
        let now = due + Duration::from_secs(3);
        assert_eq!(
            caught_up(start, due, now),
            (start + Duration::from_secs(3), now)
        );
    }
}
