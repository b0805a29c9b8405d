//! The black box's memory: the last frames sent, bounded both by the time they span and by the
//! bytes they take; the oldest go first. Each frame's bytes are copied in once, into a buffer
//! reused from an evicted frame where one is free (new ones get an eighth to spare), so a steady
//! stream seldom allocates. A
//! snapshot for a dump shares the buffers (reference counts), it copies no bytes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One kept frame: its JPEG and when its capture started.
#[derive(Debug, Clone)]
pub struct Kept {
    pub captured_at: Instant,
    pub jpeg: Arc<Vec<u8>>,
}

/// The last `span` of frames, at most `max_bytes` of buffers.
#[derive(Debug)]
pub struct Ring {
    frames: VecDeque<Kept>,
    /// The buffers' capacity in all: what the ring really holds in memory.
    bytes: usize,
    span: Duration,
    max_bytes: usize,
    /// Frames larger than the whole bound, never kept.
    pub too_large: u64,
}

impl Ring {
    pub fn new(span: Duration, max_bytes: usize) -> Ring {
        Ring {
            frames: VecDeque::new(),
            bytes: 0,
            span,
            max_bytes,
            too_large: 0,
        }
    }

    /// Keeps a copy of `jpeg`, captured at `captured_at`, dropping the frames more than the
    /// span older than it and the oldest ones while the bytes would exceed the bound.
    pub fn keep(&mut self, captured_at: Instant, jpeg: &[u8]) {
        if jpeg.len() > self.max_bytes {
            self.too_large += 1;
            return;
        }
        let mut reuse = None;
        while let Some(oldest) = self.frames.front() {
            let too_old = captured_at.saturating_duration_since(oldest.captured_at) > self.span;
            if !too_old && self.bytes + jpeg.len() <= self.max_bytes {
                break;
            }
            if let Some(gone) = self.frames.pop_front() {
                self.bytes -= gone.jpeg.capacity();
                // Free unless a dump still holds it.
                reuse = Arc::try_unwrap(gone.jpeg).ok().or(reuse);
            }
        }
        // A reused buffer too small would grow (doubling, past the bound with frames over half
        // of it, and then be reused at that size for good), one too large would not fit: a
        // buffer of the frame's size then.
        let room = self.max_bytes.saturating_sub(self.bytes);
        let fits = |b: &Vec<u8>| (jpeg.len()..=room).contains(&b.capacity());
        // A new one with an eighth to spare, so that the next frames, a little larger or
        // smaller, reuse it.
        let spare = (jpeg.len() + jpeg.len() / 8).min(room);
        let mut buf = reuse
            .filter(fits)
            .unwrap_or_else(|| Vec::with_capacity(spare));
        buf.clear();
        buf.extend_from_slice(jpeg);
        self.bytes += buf.capacity();
        self.frames.push_back(Kept {
            captured_at,
            jpeg: Arc::new(buf),
        });
        // A reused buffer may be larger than the frame: the bound counts what is held.
        while self.bytes > self.max_bytes && self.frames.len() > 1 {
            if let Some(gone) = self.frames.pop_front() {
                self.bytes -= gone.jpeg.capacity();
            }
        }
    }

    /// The frames kept now, oldest first, sharing their bytes.
    pub fn snapshot(&self) -> Vec<Kept> {
        self.frames.iter().cloned().collect()
    }

    /// Frames kept, and the bytes their buffers take.
    pub fn size(&self) -> (usize, usize) {
        (self.frames.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn keeps_the_last_span_of_frames() {
        let t0 = Instant::now();
        let mut ring = Ring::new(Duration::from_secs(2), 1 << 20);
        // 10 s at 30 fps: the last 2 s are 61 frames, both ends included.
        for i in 0..300u32 {
            ring.keep(t0 + i * 100 * MS / 3, &[i as u8; 100]);
        }
        let kept = ring.snapshot();
        assert_eq!(kept.len(), 61);
        let span = kept[60].captured_at - kept[0].captured_at;
        assert!(span <= Duration::from_secs(2), "{span:?}");
        assert_eq!(
            *kept[60].jpeg,
            vec![299u32 as u8; 100],
            "the newest frame, as given"
        );
    }

    #[test]
    fn stays_within_its_bytes_whatever_the_frames() {
        let t0 = Instant::now();
        let mut ring = Ring::new(Duration::from_secs(3600), 10_000);
        for i in 0..1000u32 {
            // Sizes that vary, so reused buffers are sometimes larger than their frame.
            let len = 100 + (i as usize * 7919) % 2000;
            ring.keep(t0 + i * MS, &vec![1; len]);
            let (frames, bytes) = ring.size();
            assert!(bytes <= 10_000, "{bytes} bytes after frame {i}");
            assert!(frames >= 1);
        }
        // Frames over half the bound, each larger than the one before: a reused buffer grown
        // to twice its size went past the bound, and stayed.
        let mut ring = Ring::new(Duration::from_secs(3600), 1000);
        for len in [600, 700, 800, 900, 1000] {
            ring.keep(t0, &vec![1; len]);
            let (frames, bytes) = ring.size();
            assert!(
                frames == 1 && (len..=1000).contains(&bytes),
                "{bytes} after {len}"
            );
        }
        // A frame larger than the whole bound is not kept, and the others stay.
        let before = ring.size();
        ring.keep(t0 + 2000 * MS, &vec![0; 1001]);
        assert_eq!(ring.size(), before);
        assert_eq!(ring.too_large, 1);
    }

    #[test]
    fn a_snapshot_keeps_its_frames_while_the_ring_moves_on() {
        let t0 = Instant::now();
        let mut ring = Ring::new(Duration::from_millis(50), 1 << 20);
        for i in 0..10u32 {
            ring.keep(t0 + i * 10 * MS, &[i as u8; 10]);
        }
        let held = ring.snapshot();
        for i in 10..100u32 {
            ring.keep(t0 + i * 10 * MS, &[i as u8; 10]);
        }
        let first: Vec<u8> = held.iter().map(|k| k.jpeg[0]).collect();
        assert_eq!(first, [4, 5, 6, 7, 8, 9], "the snapshot is unchanged");
        assert_eq!(ring.size().0, 6);
    }
}
