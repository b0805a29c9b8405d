//! What the encoders produce now, quality and halving: set by `--adapt`
//! ([`crate::link::adapt`]) from what the link shows, read by every encoder before each frame.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// What the encoders produce now: set by the adapter, read before every frame.
#[derive(Debug)]
pub struct Knobs {
    quality: AtomicU8,
    halve: AtomicBool,
}

impl Knobs {
    /// Full size at `quality`.
    pub fn new(quality: u8) -> Knobs {
        Knobs {
            quality: AtomicU8::new(quality),
            halve: AtomicBool::new(false),
        }
    }

    /// The quality and whether to halve the picture.
    pub fn get(&self) -> (u8, bool) {
        (
            self.quality.load(Ordering::Relaxed),
            self.halve.load(Ordering::Relaxed),
        )
    }

    /// Sets both; only the adapter does.
    pub(crate) fn set(&self, quality: u8, halve: bool) {
        self.quality.store(quality, Ordering::Relaxed);
        self.halve.store(halve, Ordering::Relaxed);
    }
}
