//! Counts over the whole run, all streams together, shared by the receiver, the decoders, the
//! window and the hub. Writers touch only atomics and short locks.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use shared::cli::print_line;
use shared::mark;
use shared::stats::{Histogram, StreamStats};

use super::streams::Streams;

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
    rate: Mutex<Option<StreamStats>>,
    glass: Mutex<Histogram>,
    /// Each live stream's own figures.
    pub streams: Streams,
}

impl Counters {
    /// Records and prints one glass-to-glass time: from the capture time in a picture's mark
    /// to now (the picture was just handed to the screen, or decoded when headless).
    pub fn record_glass(&self, peer: SocketAddr, stamp: u64) {
        let ms = mark::elapsed_ms(stamp, mark::now_micros());
        self.glass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record_ms(ms);
        if let Some(stream) = self.streams.by_peer(peer) {
            stream.glass(ms);
        }
        print_line(format_args!("peer={peer} glass_ms={ms:.2}"));
    }

    /// The received-frame rate, started at the first frame.
    pub fn lock_rate(&self) -> MutexGuard<'_, Option<StreamStats>> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the run-wide glass-to-glass histogram (milliseconds), under its lock.
    pub fn with_glass_times<R>(&self, f: impl FnOnce(&Histogram) -> R) -> R {
        f(&self.glass.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
