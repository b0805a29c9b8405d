//! What the window asks of a playback and what the playback tells the window: pause, step,
//! speed, seek, loop one way; the frame on screen, its recorded time and the length the
//! other. One lock and a condition variable, so the player wakes at once for a key.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The speeds `[` and `]` step through.
pub const SPEEDS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];
/// Where [`SPEEDS`] holds ×1.
const NORMAL: usize = 2;

/// A playback request from a key or the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Request {
    TogglePause,
    /// One frame back (-1) or forward (+1); pauses.
    Step(i64),
    Slower,
    Faster,
    /// To the first or the last frame.
    Start,
    End,
    ToggleLoop,
    /// To the frame at this fraction of the recording's duration (timeline click or drag).
    Seek(f64),
}

/// Where the playback is, for the window's timeline and band.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Status {
    /// The frame last handed to the decoder, from 0.
    pub frame: usize,
    pub frames: usize,
    /// Its recorded time and the last frame's, in microseconds.
    pub time_us: u64,
    pub duration_us: u64,
    pub paused: bool,
    pub speed: f64,
    pub looping: bool,
}

/// A jump the player makes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goto {
    Frame(usize),
    /// The frame shown at this recorded time (microseconds).
    Time(u64),
}

/// The state both sides share.
#[derive(Debug)]
pub(crate) struct State {
    pub status: Status,
    pub speed_at: usize,
    /// Where to go and show now, set by a request.
    pub goto: Option<Goto>,
    /// Bumped by every request, so the player restarts its clock.
    pub changes: u64,
    pub done: bool,
}

/// The playback's controls, shared by the window and the player thread.
#[derive(Debug)]
pub struct Control {
    state: Mutex<State>,
    wake: Condvar,
}

impl Control {
    /// A playback at ×1, looping when `looping`.
    pub fn new(looping: bool) -> Control {
        Control {
            state: Mutex::new(State {
                status: Status {
                    speed: 1.0,
                    looping,
                    ..Status::default()
                },
                speed_at: NORMAL,
                goto: None,
                changes: 0,
                done: false,
            }),
            wake: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits at most `limit` for a request; returns the guard again.
    pub(crate) fn wait<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        limit: Duration,
    ) -> MutexGuard<'a, State> {
        match self.wake.wait_timeout(guard, limit) {
            Ok((guard, _)) => guard,
            Err(e) => e.into_inner().0,
        }
    }

    /// Where the playback is now.
    pub fn status(&self) -> Status {
        self.lock().status
    }

    /// True once the player has stopped (the end without a window, or an error).
    pub fn is_done(&self) -> bool {
        self.lock().done
    }

    pub(crate) fn finish(&self) {
        self.lock().done = true;
        self.wake.notify_all();
    }

    /// Carries out a request; the player picks it up at once.
    pub fn request(&self, request: Request) {
        let mut s = self.lock();
        let last = s.status.frames.saturating_sub(1);
        let at = s.status.frame;
        match request {
            Request::TogglePause => {
                s.status.paused = !s.status.paused;
                // Resumed on the last frame (where a playback stops): from the start again.
                if !s.status.paused && at == last {
                    s.goto = Some(Goto::Frame(0));
                }
            }
            Request::Step(by) => {
                s.status.paused = true;
                let to = (at as i64 + by).clamp(0, last as i64) as usize;
                s.goto = Some(Goto::Frame(to));
            }
            Request::Slower => s.speed_at = s.speed_at.saturating_sub(1),
            Request::Faster => s.speed_at = (s.speed_at + 1).min(SPEEDS.len() - 1),
            Request::Start => s.goto = Some(Goto::Frame(0)),
            Request::End => s.goto = Some(Goto::Frame(last)),
            Request::ToggleLoop => s.status.looping = !s.status.looping,
            // A file whose frames all have one time (or a single frame): by frame number, or
            // every press would land on the last.
            Request::Seek(fraction) if s.status.duration_us == 0 => {
                let frame = (last as f64 * fraction.clamp(0.0, 1.0)).round();
                s.goto = Some(Goto::Frame(frame as usize));
            }
            Request::Seek(fraction) => {
                let time = s.status.duration_us as f64 * fraction.clamp(0.0, 1.0);
                s.goto = Some(Goto::Time(time as u64));
            }
        }
        s.status.speed = SPEEDS[s.speed_at];
        s.changes += 1;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_change_the_status_within_bounds() {
        let c = Control::new(false);
        c.lock().status.frames = 10;
        c.request(Request::Step(-1));
        assert_eq!(c.lock().goto, Some(Goto::Frame(0)));
        assert!(c.status().paused);
        c.lock().status.frame = 9;
        c.request(Request::Step(1));
        assert_eq!(c.lock().goto, Some(Goto::Frame(9)));
        for _ in 0..9 {
            c.request(Request::Faster);
        }
        assert_eq!(c.status().speed, 4.0);
        for _ in 0..9 {
            c.request(Request::Slower);
        }
        assert_eq!(c.status().speed, 0.25);
        // No duration (every frame at one time): by frame number, not always the last.
        c.request(Request::Seek(0.3));
        assert_eq!(c.lock().goto, Some(Goto::Frame(3)));
        c.lock().status.duration_us = 1000;
        c.request(Request::Seek(0.5));
        assert_eq!(c.lock().goto, Some(Goto::Time(500)));
        c.request(Request::ToggleLoop);
        assert!(c.status().looping);
        // Paused (by the step) on the last frame, Space plays from the start; elsewhere it
        // resumes where it is.
        c.lock().goto = None;
        c.request(Request::TogglePause);
        assert_eq!(c.lock().goto, Some(Goto::Frame(0)));
        c.lock().goto = None;
        c.lock().status.frame = 3;
        c.request(Request::TogglePause);
        c.request(Request::TogglePause);
        assert_eq!(c.lock().goto, None);
        assert!(!c.status().paused);
    }
}
