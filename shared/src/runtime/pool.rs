//! A few persistent threads that run borrowed jobs to completion: one frame's strips are
//! encoded or decoded on every core without spawning threads per frame.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One item and the function to apply to it, lent to a helper for one [`Pool::for_each`].
struct Job {
    item: *mut (),
    f: *const (),
    call: unsafe fn(*mut (), *const ()),
}

// SAFETY: the item is `Send` and the function `Sync` (bounds of `for_each`), and `for_each`
// does not return (not even by unwinding) before every job it lent has finished, so both
// borrows outlive each use.
unsafe impl Send for Job {}

/// Calls `*f` on `*item` with their types restored.
///
/// # Safety
/// `item` must point to a live `T` nobody else uses, `f` to a live `&(dyn Fn(&mut T) + Sync)`.
unsafe fn call<T>(item: *mut (), f: *const ()) {
    let f = &*(f as *const &(dyn Fn(&mut T) + Sync));
    f(&mut *(item as *mut T));
}

/// Jobs finished in the current run, and whether one of them panicked.
#[derive(Default)]
struct Done {
    state: Mutex<(usize, bool)>,
    cv: Condvar,
    /// The same count, for a short spin before sleeping on `cv`.
    finished: AtomicUsize,
}

/// How long the calling thread polls for the helpers before it sleeps: its strip and theirs
/// take about as long, and waking from a futex costs tens of microseconds in a VM.
const SPIN: Duration = Duration::from_micros(200);

impl Done {
    fn lock(&self) -> MutexGuard<'_, (usize, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waits for the lent jobs, even when a job run on the calling thread unwinds.
struct Wait<'a>(&'a Done, usize);

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let started = Instant::now();
        while self.0.finished.load(Ordering::Acquire) < self.1 && started.elapsed() < SPIN {
            // Yielding, not spinning hard: on a busy machine a helper may need this core.
            thread::yield_now();
        }
        let mut state = self.0.lock();
        while state.0 < self.1 {
            state = self.0.cv.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Helper threads, each waiting for jobs; dropped, they finish and are joined.
pub struct Pool {
    senders: Vec<Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
    done: Arc<Done>,
}

impl Pool {
    /// Starts `helpers` threads named `name-1`, `name-2`, ...
    pub fn new(helpers: usize, name: &str) -> std::io::Result<Pool> {
        let done = Arc::new(Done::default());
        let (mut senders, mut handles) = (Vec::new(), Vec::new());
        for i in 1..=helpers {
            let (tx, rx) = mpsc::channel::<Job>();
            let done = done.clone();
            handles.push(
                thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            // SAFETY: see `Job`; both pointers live until we report done.
                            let ok = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                                (job.call)(job.item, job.f)
                            }))
                            .is_ok();
                            let mut state = done.lock();
                            state.0 += 1;
                            state.1 |= !ok;
                            done.finished.store(state.0, Ordering::Release);
                            drop(state);
                            done.cv.notify_all();
                        }
                    })?,
            );
            senders.push(tx);
        }
        Ok(Pool {
            senders,
            handles,
            done,
        })
    }

    /// The number of helper threads.
    pub fn helpers(&self) -> usize {
        self.senders.len()
    }

    /// Applies `f` to every item at once and returns when all are done: the first item on
    /// the calling thread, the others spread over the helpers. A panic in any call is raised
    /// here, after all of them have finished.
    pub fn for_each<T: Send>(&mut self, items: &mut [T], f: &(dyn Fn(&mut T) + Sync)) {
        let Some((first, rest)) = items.split_first_mut() else {
            return;
        };
        *self.done.lock() = (0, false);
        self.done.finished.store(0, Ordering::Release);
        let mut wait = Wait(&self.done, 0);
        let f_ptr = &f as *const &(dyn Fn(&mut T) + Sync) as *const ();
        for (i, item) in rest.iter_mut().enumerate() {
            let job = Job {
                item: item as *mut T as *mut (),
                f: f_ptr,
                call: call::<T>,
            };
            let sent = match self.senders.len() {
                0 => false,
                n => self.senders[i % n].send(job).is_ok(),
            };
            if sent {
                wait.1 += 1;
            } else {
                // No helpers (or one gone): the item is done here instead.
                f(item);
            }
        }
        f(first);
        drop(wait);
        if self.done.lock().1 {
            panic!("a pooled job panicked");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.senders.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_borrowed_jobs_on_several_threads() {
        for helpers in [0, 1, 3] {
            let mut pool = Pool::new(helpers, "test").unwrap();
            let input: Vec<usize> = (0..5).collect();
            for round in 0..50usize {
                let mut out: Vec<(usize, usize, Option<String>)> =
                    (0..5).map(|i| (i, 0, None)).collect();
                pool.for_each(&mut out, &|slot| {
                    slot.1 = input[slot.0] * round;
                    slot.2 = thread::current().name().map(String::from);
                });
                for (i, v, name) in &out {
                    assert_eq!(*v, i * round);
                    if *i > 0 && helpers > 0 {
                        assert!(name.as_deref().unwrap().starts_with("test-"));
                    }
                }
            }
        }
    }

    #[test]
    fn a_panicking_job_is_raised_after_the_others_finish() {
        let mut pool = Pool::new(2, "test").unwrap();
        let mut items = [0u32, 1, 2];
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.for_each(&mut items, &|x| {
                if *x == 1 {
                    panic!("boom");
                }
                thread::sleep(std::time::Duration::from_millis(20));
                *x += 10;
            })
        }));
        assert!(result.is_err());
        assert_eq!((items[0], items[2]), (10, 12));
        // The pool still works afterwards.
        pool.for_each(&mut items, &|x| *x = 7);
        assert_eq!(items, [7, 7, 7]);
    }
}
