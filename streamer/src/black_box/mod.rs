//! The robot's black box (`--black-box SECONDS`): the last seconds of sent JPEGs kept in
//! memory ([`ring`]), written as one Matroska file by a thread of its own ([`dump`]) on
//! SIGUSR1 and, with `--black-box-on-loss`, once a frame that went out has waited 2 s for its
//! delivery (the seconds before a dropout are what the viewer never received). A source that
//! is quiet or stalled sends nothing, so nothing waits: that is no loss. The link hands over each frame it
//! sends with one call ([`Feed::keep`]); capture and sending never wait for a dump.
//!
//! A folder of its own rather than part of `link`: the link only feeds it, and what it does
//! (memory bounds, files, signals) is no business of the sending loop.

pub mod dump;
pub mod ring;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::encode::encoder::EncodedFrame;
use ring::{Kept, Ring};

/// With `--black-box-on-loss`, a dump once a frame sent has waited this long for delivery.
pub const LOSS_AFTER: Duration = Duration::from_secs(2);

/// `--black-box`, `--black-box-mb`, `--black-box-dir`, `--black-box-on-loss`.
#[derive(Debug, Clone)]
pub struct Options {
    pub seconds: Duration,
    pub max_bytes: usize,
    pub dir: PathBuf,
    pub on_loss: bool,
    /// Dumps kept in `dir`; the oldest beyond go (`--black-box-keep`).
    pub keep: usize,
}

/// Why a dump was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Signal,
    Loss,
}

struct Inner {
    ring: Ring,
    /// What the link owes: a loss is a delivery owed for [`LOSS_AFTER`].
    owed: Owed,
    /// A frame was delivered since the last dump for a loss: the next loss may dump again,
    /// so a long outage, reconnects and all, dumps once.
    armed: bool,
    /// A dump was asked for (SIGUSR1).
    requested: bool,
    closed: bool,
    /// The line about a frame too large for the bound was printed (once a run).
    said_too_large: bool,
}

/// The deliveries the link owes. Not the time since the last delivery: a quiet source (a ROS 2
/// topic at 0.2 Hz) or a stalled camera sends nothing, and owes nothing; a dead link is one
/// that takes frames (into its socket buffers) and delivers none.
#[derive(Debug, Default)]
struct Owed {
    /// Frames sent and not yet delivered (acknowledged) nor given up with their connection.
    in_flight: usize,
    /// Since when a delivery is owed: the oldest frame not delivered went out then (or the
    /// previous delivery came then, with frames still in flight), or a connection failed then
    /// (with or without frames in flight, the link is down until a new one delivers).
    since: Option<Instant>,
}

impl Owed {
    fn sent(&mut self, now: Instant) {
        self.in_flight += 1;
        self.since.get_or_insert(now);
    }

    fn delivered(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.since = (self.in_flight > 0).then_some(now);
    }

    /// A connection failed at `now`: its frames are given up, and a delivery is owed from
    /// the oldest of them, or from now, until a new connection delivers.
    fn connection_lost(&mut self, now: Instant) {
        self.in_flight = 0;
        self.since.get_or_insert(now);
    }

    /// How long a delivery has been owed at `now` (zero when none is).
    fn since(&self, now: Instant) -> Duration {
        self.since
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }
}

/// The ring, shared by the link (frames), the signal task (requests) and the writing thread.
pub struct BlackBox {
    inner: Mutex<Inner>,
    wake: Condvar,
    options: Options,
}

impl BlackBox {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the writing thread for a dump of what the ring holds now.
    pub fn request_dump(&self) {
        self.lock().requested = true;
        self.wake.notify_one();
    }

    /// Ends the writing thread (after a dump already asked for).
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// The next dump to write, with the frames it holds; `None` once closed. Checks for a
    /// loss every 100 ms with `--black-box-on-loss`.
    fn next_dump(&self) -> Option<(Reason, Vec<Kept>)> {
        let mut inner = self.lock();
        loop {
            if inner.requested {
                inner.requested = false;
                return Some((Reason::Signal, inner.ring.snapshot()));
            }
            let silent = inner.owed.since(Instant::now()) >= LOSS_AFTER;
            if self.options.on_loss && inner.armed && silent && !inner.closed {
                inner.armed = false;
                return Some((Reason::Loss, inner.ring.snapshot()));
            }
            if inner.closed {
                return None;
            }
            inner = if self.options.on_loss {
                let tick = Duration::from_millis(100);
                self.wake
                    .wait_timeout(inner, tick)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            } else {
                self.wake.wait(inner).unwrap_or_else(|e| e.into_inner())
            };
        }
    }
}

/// What the link holds: the black box, or nothing when it is off. Cloned into each sender.
#[derive(Clone, Default)]
pub struct Feed(Option<Arc<BlackBox>>);

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(b) => write!(f, "Feed({:?})", b.options),
            None => write!(f, "Feed(off)"),
        }
    }
}

impl Feed {
    /// Starts the black box and its writing thread; `Feed::default()` when it is off.
    pub fn start(options: Option<Options>) -> std::io::Result<(Feed, Option<JoinHandle<()>>)> {
        let Some(options) = options else {
            return Ok((Feed::default(), None));
        };
        let black_box = Arc::new(BlackBox {
            inner: Mutex::new(Inner {
                ring: Ring::new(options.seconds, options.max_bytes),
                owed: Owed::default(),
                armed: false,
                requested: false,
                closed: false,
                said_too_large: false,
            }),
            wake: Condvar::new(),
            options,
        });
        let me = black_box.clone();
        let writer = std::thread::Builder::new()
            .name("black-box".into())
            .spawn(move || dump::run(&me, &me.options.dir, me.options.keep))?;
        Ok((Feed(Some(black_box)), Some(writer)))
    }

    /// Keeps a frame that is going out (one copy of its bytes; nothing when off).
    pub fn keep(&self, frame: &EncodedFrame) {
        if let Some(b) = &self.0 {
            let mut inner = b.lock();
            inner.ring.keep(frame.captured_at, frame.jpeg());
            inner.owed.sent(Instant::now());
            if inner.ring.too_large > 0 && !inner.said_too_large {
                inner.said_too_large = true;
                eprintln!(
                    "streamer: black box: a {} byte frame is larger than --black-box-mb; such \
                     frames are left out",
                    frame.jpeg().len()
                );
            }
        }
    }

    /// A frame was delivered (its answer came, or with `len32` the socket took it): the link
    /// is up, and a later wait for a delivery is a loss worth a dump.
    pub fn delivered(&self) {
        if let Some(b) = &self.0 {
            let mut inner = b.lock();
            inner.owed.delivered(Instant::now());
            inner.armed = true;
        }
    }

    /// A connection failed: whatever it had in flight will never be delivered, and a delivery
    /// is owed from the oldest of those frames, or from now.
    pub fn connection_lost(&self) {
        if let Some(b) = &self.0 {
            b.lock().owed.connection_lost(Instant::now());
        }
    }

    /// The black box, if it is on.
    pub fn black_box(&self) -> Option<&Arc<BlackBox>> {
        self.0.as_ref()
    }

    /// Watches SIGUSR1 (unix) inside the running tokio runtime: each asks for a dump. Without
    /// a black box the signal is answered with a line instead of its default (ending the
    /// process), since `systemctl kill -s USR1` may reach a streamer started without it.
    pub fn watch_signal(&self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let feed = self.clone();
            match signal(SignalKind::user_defined1()) {
                Ok(mut usr1) => {
                    tokio::spawn(async move {
                        while usr1.recv().await.is_some() {
                            match &feed.0 {
                                Some(b) => b.request_dump(),
                                None => {
                                    eprintln!("streamer: SIGUSR1: no --black-box, nothing to write")
                                }
                            }
                        }
                    });
                }
                Err(e) => eprintln!("streamer: cannot watch SIGUSR1 ({e}); no dumps by signal"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_loss_is_a_delivery_owed_not_a_quiet_source() {
        let t0 = Instant::now();
        let mut owed = Owed::default();
        // A source at one frame every 5 s, each delivered at once: never owed.
        for k in 0..3 {
            owed.sent(t0 + S(5 * k));
            owed.delivered(t0 + S(5 * k));
            assert_eq!(owed.since(t0 + S(5 * k + 4)), Duration::ZERO);
        }
        // Two frames out, one delivered: the other is owed from that delivery.
        owed.sent(t0 + S(20));
        owed.sent(t0 + S(21));
        owed.delivered(t0 + S(22));
        assert_eq!(owed.since(t0 + S(25)), S(3));
        // The connection fails with it in flight; nothing is sent while it is down: the
        // debt stands, and grows until a new connection delivers.
        owed.connection_lost(t0 + S(23));
        assert_eq!(owed.since(t0 + S(30)), S(8));
        owed.sent(t0 + S(31));
        assert_eq!(owed.since(t0 + S(31)), S(9), "the older debt counts");
        owed.delivered(t0 + S(32));
        assert_eq!(owed.since(t0 + S(40)), Duration::ZERO);
        // A connection that fails with nothing in flight (the viewer closed between frames):
        // owed from then.
        owed.connection_lost(t0 + S(41));
        assert_eq!(owed.since(t0 + S(44)), S(3));
    }
}
