//! A newest-value slot joining two pipeline stages: the producer overwrites, the consumer takes
//! the latest, and a value nobody took is dropped and counted, never queued. Consumed buffers
//! go back to the producer as spares, so a steady stream allocates nothing.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

/// Spare buffers kept for the producer; more would only hold memory.
const MAX_SPARES: usize = 2;

/// A one-value mailbox between a producer and a consumer (threads or tasks).
pub struct Slot<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    ready: Notify,
    /// Called after each value is published (see [`Slot::on_publish`]).
    published: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

struct State<T> {
    value: Option<T>,
    spares: Vec<T>,
    closed: bool,
    dropped: u64,
}

/// Closes its slot when dropped: [`Slot::close_on_drop`].
pub struct CloseOnDrop<'a, T>(&'a Slot<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What [`Slot::take_timeout`] found.
pub enum Taken<T> {
    /// The newest value.
    Value(T),
    /// Nothing new within the time given.
    Empty,
    /// The slot is closed and empty.
    Closed,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(State {
                value: None,
                spares: Vec::new(),
                closed: false,
                dropped: 0,
            }),
            changed: Condvar::new(),
            ready: Notify::new(),
            published: OnceLock::new(),
        }
    }
}

impl<T> Slot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic elsewhere must not take the pipeline down with it; the state stays valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        self.changed.notify_all();
        self.ready.notify_one();
    }

    /// Wakes the consumer of a value just published, then whoever asked [`Slot::on_publish`].
    fn publish_wake(&self) {
        self.wake();
        if let Some(hook) = self.published.get() {
            hook();
        }
    }

    /// Calls `hook` (after waking the consumer) each time a value is published, outside the
    /// lock: the consumer's helper threads start waking at the same moment as the consumer.
    /// One hook per slot; `false` if one was set already.
    pub fn on_publish(&self, hook: impl Fn() + Send + Sync + 'static) -> bool {
        self.published.set(Box::new(hook)).is_ok()
    }

    /// Publishes `value`; a value not yet taken is replaced, counted as dropped and kept as a
    /// spare. Gives the value back if the slot is closed.
    pub fn put(&self, value: T) -> Result<(), T> {
        let mut s = self.lock();
        if s.closed {
            return Err(value);
        }
        if let Some(stale) = s.value.replace(value) {
            s.dropped += 1;
            if s.spares.len() < MAX_SPARES {
                s.spares.push(stale);
            }
        }
        drop(s);
        self.publish_wake();
        Ok(())
    }

    /// Publishes `value` once the previous one has been taken: back-pressure for sources that
    /// must not skip (a file replayed as fast as possible). Gives the value back if closed.
    pub fn put_wait(&self, value: T) -> Result<(), T> {
        let mut s = self.lock();
        while s.value.is_some() && !s.closed {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.closed {
            return Err(value);
        }
        s.value = Some(value);
        drop(s);
        self.publish_wake();
        Ok(())
    }

    /// Takes the newest value, waiting for one; `None` once closed and empty.
    pub fn take_blocking(&self) -> Option<T> {
        let mut s = self.lock();
        loop {
            if let Some(v) = s.value.take() {
                drop(s);
                self.wake();
                return Some(v);
            }
            if s.closed {
                return None;
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Takes the newest value, waiting at most `limit`.
    pub fn take_timeout(&self, limit: Duration) -> Taken<T> {
        let s = self.lock();
        let (mut s, _) = self
            .changed
            .wait_timeout_while(s, limit, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        match s.value.take() {
            Some(v) => {
                drop(s);
                self.wake();
                Taken::Value(v)
            }
            None if s.closed => Taken::Closed,
            None => Taken::Empty,
        }
    }

    /// Takes the newest value from async code; `None` once closed and empty.
    pub async fn take(&self) -> Option<T> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if let Some(v) = s.value.take() {
                    drop(s);
                    self.changed.notify_all();
                    return Some(v);
                }
                if s.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Waits, from async code, until the slot is closed; takes nothing. For a consumer that
    /// is not taking (a sender waiting for its peer) but must end when the producer does.
    pub async fn closed(&self) {
        loop {
            let notified = self.ready.notified();
            if self.lock().closed {
                return;
            }
            notified.await;
        }
    }

    /// Hands a consumed value back for the producer to reuse.
    pub fn recycle(&self, value: T) {
        let mut s = self.lock();
        if s.spares.len() < MAX_SPARES {
            s.spares.push(value);
        }
    }

    /// A buffer to fill, if one was handed back.
    pub fn spare(&self) -> Option<T> {
        self.lock().spares.pop()
    }

    /// Closes the slot: producers are refused, the consumer gets what is left, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake();
    }

    /// Closes the slot when the guard is dropped, also when its thread unwinds: a stage that
    /// panics must not leave the next one waiting for good (a frozen stream, a shutdown that
    /// never ends).
    pub fn close_on_drop(&self) -> CloseOnDrop<'_, T> {
        CloseOnDrop(self)
    }

    /// Whether no value waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.lock().value.is_none()
    }

    /// Whether [`Slot::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Values replaced before anyone took them.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn newest_value_wins_and_stale_ones_are_counted() {
        let slot = Slot::new();
        for i in 0..5 {
            slot.put(i).unwrap();
        }
        assert_eq!(slot.dropped(), 4);
        assert_eq!(slot.take_blocking(), Some(4));
        // Stale values became spares, at most MAX_SPARES of them.
        assert!(slot.spare().is_some());
        assert!(slot.spare().is_some());
        assert!(slot.spare().is_none());
    }

    #[test]
    fn close_drains_then_ends() {
        let slot = Slot::new();
        slot.put(1).unwrap();
        slot.close();
        assert_eq!(slot.put(2), Err(2));
        assert_eq!(slot.take_blocking(), Some(1));
        assert_eq!(slot.take_blocking(), None);
        assert!(matches!(
            slot.take_timeout(Duration::from_millis(1)),
            Taken::Closed
        ));
    }

    #[test]
    fn put_wait_never_drops() {
        let slot = Arc::new(Slot::new());
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    slot.put_wait(i).unwrap();
                }
                slot.close();
            })
        };
        let mut got = Vec::new();
        while let Some(v) = slot.take_blocking() {
            got.push(v);
        }
        producer.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(slot.dropped(), 0);
    }

    /// The hook runs once for each value published (by `put` or `put_wait`), never on a take,
    /// and only the first hook set is kept.
    #[test]
    fn the_publish_hook_runs_for_each_value_published() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slot = Slot::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        assert!(slot.on_publish(move || {
            counted.fetch_add(1, Ordering::Relaxed);
        }));
        assert!(!slot.on_publish(|| panic!("a second hook replaced the first")));
        slot.put(1).unwrap();
        slot.put(2).unwrap();
        assert_eq!(slot.take_blocking(), Some(2));
        slot.put_wait(3).unwrap();
        assert!(matches!(
            slot.take_timeout(Duration::from_millis(1)),
            Taken::Value(3)
        ));
        slot.recycle(9);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        // Refused values are not published.
        slot.close();
        assert_eq!(slot.put(4), Err(4));
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn take_timeout_reports_empty() {
        let slot: Slot<u8> = Slot::new();
        assert!(matches!(
            slot.take_timeout(Duration::from_millis(5)),
            Taken::Empty
        ));
    }

    #[test]
    fn recycled_buffers_come_back() {
        let slot = Slot::new();
        slot.recycle(vec![1u8; 16]);
        assert_eq!(slot.spare().map(|v| v.len()), Some(16));
    }

    #[tokio::test]
    async fn async_consumer_sees_thread_producer() {
        let slot = Arc::new(Slot::new());
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    slot.put_wait(i).unwrap();
                }
                slot.close();
            })
        };
        let mut last = None;
        let mut n = 0;
        while let Some(v) = slot.take().await {
            assert!(last.is_none_or(|l| v > l));
            last = Some(v);
            n += 1;
        }
        producer.join().unwrap();
        assert_eq!(n, 100);
    }

    /// `closed` wakes on the close, not on values put meanwhile, and leaves the value there.
    #[tokio::test]
    async fn closed_resolves_on_close_only_and_takes_nothing() {
        let slot = Arc::new(Slot::new());
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || {
                for i in 0..50 {
                    slot.put(i).unwrap();
                }
                slot.close();
            })
        };
        let limit = std::time::Duration::from_secs(10);
        tokio::time::timeout(limit, slot.closed()).await.unwrap();
        assert!(slot.is_closed());
        producer.join().unwrap();
        assert!(!slot.is_empty());
        assert_eq!(slot.take().await, Some(49));
        assert!(slot.is_empty());
        assert_eq!(slot.take().await, None);
    }

    /// A stage that unwinds closes its slot on the way: its consumer ends instead of waiting.
    #[test]
    fn a_panicking_producer_closes_its_slot() {
        let slot = Arc::new(Slot::<u32>::new());
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || {
                let _closing = slot.close_on_drop();
                slot.put(1).unwrap();
                panic!("a stage's bug");
            })
        };
        assert!(producer.join().is_err());
        assert_eq!(slot.take_blocking(), Some(1));
        assert_eq!(slot.take_blocking(), None);
    }
}
