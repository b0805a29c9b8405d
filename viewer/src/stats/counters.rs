//! Counts over the whole run, all streams together, shared by the receiver, the decoders, the
//! window and the hub. Writers touch only atomics and short locks.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use shared::cli::print_line;
use shared::media::mark;
use shared::runtime::stats::{Histogram, StreamStats};

use super::glass::{self, StageFigures, Timing, Unknown, STAGE_NAMES};
use super::optical::{Figure, OpticalFigures};
use super::streams::{StreamInfo, Streams};

/// Counts over the whole run, all streams together.
#[derive(Default)]
pub struct Counters {
    /// Frames received in full and acknowledged.
    pub received: AtomicU64,
    /// Frames decoded into pictures.
    pub decoded: AtomicU64,
    /// Frames that could not be decoded, and connections closed for a protocol error.
    pub errors: AtomicU64,
    /// Connections that ended in the middle of a frame.
    pub truncated: AtomicU64,
    /// Received frames replaced by a newer one before the decoder got to them.
    pub dropped: AtomicU64,
    /// Payloads written to `--save-dir`.
    pub saved: AtomicU64,
    /// Streamer-port connections closed before their first frame to make room for a newcomer.
    pub evicted: AtomicU64,
    rate: Mutex<Option<StreamStats>>,
    glass: Mutex<Histogram>,
    /// Stage times of the frames measured in-band, all streams together.
    stages: Mutex<StageFigures>,
    /// The optical loop's figures (`--optical`), all streams together.
    optical: Mutex<OpticalFigures>,
    /// Each live stream's own figures.
    pub streams: Streams,
}

impl Counters {
    /// Records and prints one glass-to-glass time: from the capture time in a picture's mark
    /// to now (the picture was just handed to the screen, or decoded when headless).
    pub fn record_glass(&self, peer: SocketAddr, stamp: u64) {
        let (_, line) = self.glass_line(peer, stamp, mark::now_micros());
        print_line(format_args!("{line}"));
    }

    /// [`Counters::record_glass`] without printing, to `shown` (a mark time): the glass time
    /// and the frame's line.
    /// A mark ahead of now or over a minute old (clocks that differ) is no figure: counted and
    /// said as the in-band times' contradictions are.
    pub fn glass_line(&self, peer: SocketAddr, stamp: u64, shown: u64) -> (Option<f64>, String) {
        let stream = self.streams.by_peer(peer);
        let Some(ms) = mark::elapsed_ms(stamp, shown) else {
            self.mark_unknown(stream.as_deref());
            let why = Unknown::Inconsistent.describe();
            return (None, format!("peer={peer} glass_ms=unknown why={why}"));
        };
        lock(&self.glass).record_ms(ms);
        if let Some(stream) = stream {
            stream.glass(ms);
        }
        (Some(ms), format!("peer={peer} glass_ms={ms:.2}"))
    }

    /// Counts a frame whose mark gave no glass time, run-wide and for its stream.
    pub fn mark_unknown(&self, stream: Option<&StreamInfo>) {
        lock(&self.stages).unknown += 1;
        if let Some(stream) = stream {
            stream.unknown(Unknown::Inconsistent);
        }
    }

    /// Records one frame measured in-band, shown (or decoded, headless) at `shown_us` on this
    /// clock: glass and its stages, run-wide and for the stream, printed with `print`
    /// (`--measure`). A frame without a figure says why on its line, and once on stderr.
    pub fn record_timed(&self, id: u64, peer: SocketAddr, t: &Timing, shown_us: u64, print: bool) {
        let (_, line) = self.timed_line(id, peer, t, shown_us);
        if print {
            print_line(format_args!("{line}"));
        }
    }

    /// [`Counters::record_timed`] without printing: glass, if known, and the frame's line.
    pub fn timed_line(
        &self,
        id: u64,
        peer: SocketAddr,
        t: &Timing,
        shown_us: u64,
    ) -> (Option<f64>, String) {
        let stream = self.streams.get(id);
        match glass::stages(t, shown_us) {
            Ok(s) => {
                lock(&self.glass).record_ms(s.glass);
                lock(&self.stages).record(&s);
                if let Some(stream) = &stream {
                    stream.timed(&s);
                }
                let mut line = format!("peer={peer} glass_ms={:.2}", s.glass);
                for (name, ms) in STAGE_NAMES.iter().zip(s.each()) {
                    line.push_str(&format!(" {name}_ms={ms:.2}"));
                }
                line.push_str(&format!(
                    " clock_offset_ms={:.3} clock_error_ms={:.3}",
                    s.offset_ms, s.error_ms
                ));
                (Some(s.glass), line)
            }
            Err(why) => {
                lock(&self.stages).unknown += 1;
                if let Some(stream) = &stream {
                    stream.unknown(why);
                }
                let line = format!("peer={peer} glass_ms=unknown why={}", why.describe());
                (None, line)
            }
        }
    }

    /// Records one frame's optical figure, run-wide and for stream `id`.
    pub fn record_optical(&self, id: u64, figure: &Figure) {
        lock(&self.optical).record(figure);
        if let Some(stream) = self.streams.get(id) {
            stream.with_optical(|o| o.record(figure));
        }
    }

    /// Records what one search for the marker in stream `id`'s picture cost.
    pub fn optical_searched(&self, id: u64, took: std::time::Duration) {
        lock(&self.optical).searched(took);
        if let Some(stream) = self.streams.get(id) {
            stream.with_optical(|o| o.searched(took));
        }
    }

    /// Runs `f` on the run-wide optical figures, under their lock.
    pub fn with_optical<R>(&self, f: impl FnOnce(&OpticalFigures) -> R) -> R {
        f(&lock(&self.optical))
    }

    /// Runs `f` on the run-wide stage figures, under their lock.
    pub fn with_stages<R>(&self, f: impl FnOnce(&StageFigures) -> R) -> R {
        f(&lock(&self.stages))
    }

    /// The received-frame rate, started at the first frame.
    pub fn lock_rate(&self) -> MutexGuard<'_, Option<StreamStats>> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the run-wide glass-to-glass histogram (milliseconds), under its lock.
    pub fn with_glass_times<R>(&self, f: impl FnOnce(&Histogram) -> R) -> R {
        f(&lock(&self.glass))
    }
}

/// A poisoned lock still holds good figures: a panicking reader cannot corrupt counts.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
