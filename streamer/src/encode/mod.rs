//! The encode stage: `--workers N` encoder threads take successive frames from the capture
//! slot, so a slow board can encode several frames at once. Frames still leave in capture
//! order: a worker publishes only once every frame taken before its own has been published.

pub mod encoder;
pub mod halve;
pub mod knobs;
pub mod layout;
pub mod slices;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use anyhow::{anyhow, Context, Result};
use shared::Slot;

use crate::encode::encoder::{EncodedFrame, Encoder};
use crate::encode::knobs::Knobs;
use crate::source::RawFrame;

/// Frames taken and not yet published, by source index; the smallest goes first.
#[derive(Default)]
struct Order {
    /// Held while taking a frame and registering it, so registration follows take order.
    taking: Mutex<()>,
    in_flight: Mutex<BTreeSet<u64>>,
    turn: Condvar,
    /// A worker unwound with its frame's turn taken: nobody waits for turns any more.
    abandoned: AtomicBool,
}

impl Order {
    /// Waits until `index` is the oldest frame in flight (or the order was abandoned).
    fn wait_turn(&self, index: u64) -> MutexGuard<'_, BTreeSet<u64>> {
        let mut in_flight = lock(&self.in_flight);
        while in_flight.first() != Some(&index) && !self.abandoned.load(Ordering::Acquire) {
            in_flight = self.turn.wait(in_flight).unwrap_or_else(|e| e.into_inner());
        }
        in_flight
    }

    /// A worker panicked holding a frame's turn: the others go on without the order rather
    /// than wait for that frame for good (a frozen stream and a shutdown that never ends).
    fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        let _in_flight = lock(&self.in_flight);
        self.turn.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running encoder threads.
pub struct EncodeStage {
    handles: Vec<JoinHandle<Result<()>>>,
}

impl EncodeStage {
    /// Starts `workers` encoders (at least one) between `raw` and `jpeg`, each cutting its
    /// frames into `slices` strips and encoding at what `knobs` say before each frame. With
    /// `newest_wins` a frame the sender has not taken is replaced; otherwise each waits its turn.
    pub fn start(
        workers: usize,
        knobs: Arc<Knobs>,
        slices: usize,
        raw: Arc<Slot<RawFrame>>,
        jpeg: Arc<Slot<EncodedFrame>>,
        newest_wins: bool,
    ) -> Result<EncodeStage> {
        let order = Arc::new(Order::default());
        let alive = Arc::new(AtomicUsize::new(workers.max(1)));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            // Created here, so that a codec that cannot start fails the run at once.
            let encoder = Encoder::with_slices(knobs.get().0, slices)?;
            // One encoder takes every frame: its strip threads wake as the frame arrives,
            // not when the encoder, itself just woken, hands them their strips. (With
            // several, which one takes the next frame is not known in advance.)
            if let (1, Some(early)) = (workers.max(1), encoder.early()) {
                raw.on_publish(move || early.wake());
            }
            let (raw, jpeg, order, alive, knobs) = (
                raw.clone(),
                jpeg.clone(),
                order.clone(),
                alive.clone(),
                knobs.clone(),
            );
            let handle = thread::Builder::new()
                .name(format!("encode-{i}"))
                .spawn(move || {
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        work(encoder, &knobs, &raw, &jpeg, &order, newest_wins)
                    }))
                    .unwrap_or_else(|_| {
                        order.abandon();
                        Err(anyhow!("an encoder thread panicked"))
                    });
                    if result.is_err() {
                        // Stop the capture: a codec that fails once fails again.
                        raw.close();
                    }
                    // The last worker out closes the way to the sender, so no frame is cut off.
                    if alive.fetch_sub(1, Ordering::AcqRel) == 1 {
                        jpeg.close();
                    }
                    result
                })?;
            handles.push(handle);
        }
        Ok(EncodeStage { handles })
    }

    /// Waits for every worker; the first error wins.
    pub fn join(self) -> Result<()> {
        let mut first = Ok(());
        for h in self.handles {
            let result = h
                .join()
                .map_err(|_| anyhow!("an encoder thread panicked"))?;
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

fn work(
    mut encoder: Encoder,
    knobs: &Knobs,
    raw: &Slot<RawFrame>,
    jpeg: &Slot<EncodedFrame>,
    order: &Order,
    newest_wins: bool,
) -> Result<()> {
    loop {
        let frame = {
            let _taking = lock(&order.taking);
            let frame = raw.take_blocking();
            if let Some(f) = &frame {
                lock(&order.in_flight).insert(f.index);
            }
            frame
        };
        let Some(mut frame) = frame else {
            return Ok(());
        };
        let index = frame.index;
        let mut out = jpeg.spare().unwrap_or_default();
        let (quality, halve) = knobs.get();
        let encoded = encoder
            .set_target(quality, halve)
            .and_then(|()| encoder.encode(&mut frame, &mut out));
        raw.recycle(frame);

        let mut in_flight = order.wait_turn(index);
        let published = match encoded {
            Ok(()) if newest_wins => jpeg.put(out).is_ok(),
            Ok(()) => jpeg.put_wait(out).is_ok(),
            Err(_) => false,
        };
        in_flight.remove(&index);
        drop(in_flight);
        order.turn.notify_all();
        encoded.with_context(|| format!("frame {index}"))?;
        if !published {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pattern::TestPattern;
    use crate::source::Source;
    use shared::cli::Resolution;

    /// A worker that waits for the turn of a frame whose worker unwound is let go.
    #[test]
    fn an_abandoned_order_lets_the_waiting_workers_go() {
        let order = Arc::new(Order::default());
        lock(&order.in_flight).extend([1, 2]);
        let waiter = {
            let order = order.clone();
            thread::spawn(move || order.wait_turn(2).len())
        };
        // Frame 1's worker panicked: without this the waiter never returns.
        order.abandon();
        assert_eq!(waiter.join().unwrap(), 2);
        // Its own turn is given at once as before.
        assert_eq!(order.wait_turn(1).len(), 2);
    }

    /// With several workers and a sender that takes every frame, frames arrive complete and
    /// strictly in capture order.
    #[test]
    fn several_workers_keep_capture_order() {
        let raw = Arc::new(Slot::new());
        let jpeg = Arc::new(Slot::new());
        let knobs = Arc::new(Knobs::new(40));
        let stage = EncodeStage::start(3, knobs, 2, raw.clone(), jpeg.clone(), false).unwrap();
        let producer = {
            let raw = raw.clone();
            thread::spawn(move || {
                let mut pattern = TestPattern::new(Resolution::new(320, 240).unwrap());
                for _ in 0..60 {
                    let mut f = RawFrame::default();
                    pattern.next_frame(&mut f).unwrap();
                    raw.put_wait(f).unwrap();
                }
                raw.close();
            })
        };
        let mut seen = Vec::new();
        while let Some(frame) = jpeg.take_blocking() {
            assert_eq!(&frame.jpeg()[..2], &[0xFF, 0xD8]);
            seen.push(frame.index);
        }
        producer.join().unwrap();
        stage.join().unwrap();
        assert_eq!(seen, (0..60).collect::<Vec<_>>());
    }
}
