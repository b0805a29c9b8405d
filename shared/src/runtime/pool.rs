//! A few persistent threads that run borrowed jobs to completion: one frame's strips are
//! encoded or decoded on every core without spawning threads per frame. [`Early`] lets the
//! stage's producer wake the helpers when the frame arrives, so they are up by the time the
//! stage thread hands them their strips.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One frame's items, claimed one at a time by the calling thread and the helpers, so a
/// helper that starts late leaves its share to those already running.
struct Batch<'a, T> {
    items: *mut T,
    len: usize,
    next: AtomicUsize,
    f: &'a (dyn Fn(&mut T) + Sync),
}

impl<T> Batch<'_, T> {
    /// Runs `f` on unclaimed items until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.len {
                return;
            }
            // SAFETY: `items` points to `len` live items (see `Job`) and each index is
            // claimed exactly once, so this is the only reference to item `i`.
            (self.f)(unsafe { &mut *self.items.add(i) });
        }
    }
}

/// A [`Batch`] lent to a helper for one [`Pool::for_each`], its type erased.
struct Job {
    batch: *const (),
    work: unsafe fn(*const ()),
}

// SAFETY: the items are `Send` and the function `Sync` (bounds of `for_each`), and `for_each`
// does not return (not even by unwinding) before every helper it lent the batch to has
// reported done, so the borrow outlives each use.
unsafe impl Send for Job {}

/// Works on `*batch` with its type restored.
///
/// # Safety
/// `batch` must point to a live `Batch<T>`.
unsafe fn work<T>(batch: *const ()) {
    (*(batch as *const Batch<T>)).work();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

/// How long a helper woken early ([`Early::wake`]) polls for its job before it sleeps again:
/// the stage thread wakes, reads the frame's header and hands out strips within a few
/// hundred microseconds; a frame it does not split costs the helper no more than this.
pub const EARLY_SPIN: Duration = Duration::from_millis(1);

/// What one helper is waiting for.
#[derive(Default)]
struct InboxState {
    job: Option<Job>,
    /// Woken early: poll for a job a while before sleeping.
    early: bool,
    closed: bool,
}

/// One helper's mailbox.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    cv: Condvar,
    /// A job is in `state` (read without the lock while polling).
    posted: AtomicBool,
}

impl Inbox {
    fn post(&self, job: Job) {
        let mut s = lock(&self.state);
        s.job = Some(job);
        // Under the lock, so the helper taking the job clears it after, never before.
        self.posted.store(true, Ordering::Release);
        drop(s);
        self.cv.notify_one();
    }

    /// The next job; `None` once the pool is dropped. A helper woken early polls for up to
    /// `spin`, yielding (on a busy machine the stage thread may need this core), then sleeps.
    fn next(&self, spin: Duration, polled: &AtomicU64) -> Option<Job> {
        let mut s = lock(&self.state);
        loop {
            if let Some(job) = s.job.take() {
                self.posted.store(false, Ordering::Release);
                return Some(job);
            }
            if s.closed {
                return None;
            }
            if std::mem::take(&mut s.early) {
                drop(s);
                polled.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                while !self.posted.load(Ordering::Acquire) && started.elapsed() < spin {
                    thread::yield_now();
                }
                s = lock(&self.state);
                continue;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Wakes a pool's idle helpers ahead of their jobs; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Early {
    inboxes: Arc<[Inbox]>,
}

impl Early {
    /// Wakes every idle helper to poll for its next job for [`EARLY_SPIN`]: call it when the
    /// input the jobs will come from arrives, so that waking a sleeping core (tens to hundreds
    /// of microseconds in a VM) overlaps the stage thread's own wake-up.
    pub fn wake(&self) {
        for inbox in self.inboxes.iter() {
            let mut s = lock(&inbox.state);
            if s.job.is_none() && !s.closed {
                s.early = true;
                drop(s);
                inbox.cv.notify_one();
            }
        }
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
        let mut state = lock(&self.0.state);
        while state.0 < self.1 {
            state = self.0.cv.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Helper threads, each waiting for jobs; dropped, they finish and are joined.
pub struct Pool {
    inboxes: Arc<[Inbox]>,
    handles: Vec<JoinHandle<()>>,
    done: Arc<Done>,
    /// Times a helper woken early started polling.
    polled: Arc<AtomicU64>,
}

impl Pool {
    /// Starts `helpers` threads named `name-1`, `name-2`, ...
    pub fn new(helpers: usize, name: &str) -> std::io::Result<Pool> {
        Self::with_early_spin(helpers, name, EARLY_SPIN)
    }

    /// Like [`Pool::new`], with helpers woken early polling for `spin` (tests use long ones).
    pub fn with_early_spin(helpers: usize, name: &str, spin: Duration) -> std::io::Result<Pool> {
        let done = Arc::new(Done::default());
        let polled = Arc::new(AtomicU64::new(0));
        let inboxes: Arc<[Inbox]> = (0..helpers).map(|_| Inbox::default()).collect();
        let mut pool = Pool {
            inboxes: inboxes.clone(),
            handles: Vec::new(),
            done: done.clone(),
            polled: polled.clone(),
        };
        for i in 0..helpers {
            let (inboxes, done, polled) = (inboxes.clone(), done.clone(), polled.clone());
            // On an error the pool is dropped, which stops the helpers started so far.
            pool.handles.push(
                thread::Builder::new()
                    .name(format!("{name}-{i_}", i_ = i + 1))
                    .spawn(move || {
                        while let Some(job) = inboxes[i].next(spin, &polled) {
                            // SAFETY: see `Job`; both pointers live until we report done.
                            let ok = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                                (job.work)(job.batch)
                            }))
                            .is_ok();
                            let mut state = lock(&done.state);
                            state.0 += 1;
                            state.1 |= !ok;
                            done.finished.store(state.0, Ordering::Release);
                            drop(state);
                            done.cv.notify_all();
                        }
                    })?,
            );
        }
        Ok(pool)
    }

    /// The number of helper threads.
    pub fn helpers(&self) -> usize {
        self.handles.len()
    }

    /// A handle that wakes the helpers ahead of their next jobs (see [`Early::wake`]).
    pub fn early(&self) -> Early {
        Early {
            inboxes: self.inboxes.clone(),
        }
    }

    /// Times a helper woken early started polling for a job.
    pub fn early_polls(&self) -> u64 {
        self.polled.load(Ordering::Relaxed)
    }

    /// Applies `f` to every item at once and returns when all are done: the calling thread
    /// and the helpers take items in order until none is left (the first on the calling
    /// thread). A panic in any call is raised here, after all of them have finished.
    pub fn for_each<T: Send>(&mut self, items: &mut [T], f: &(dyn Fn(&mut T) + Sync)) {
        if items.is_empty() {
            return;
        }
        let batch = Batch {
            items: items.as_mut_ptr(),
            len: items.len(),
            next: AtomicUsize::new(1),
            f,
        };
        *lock(&self.done.state) = (0, false);
        self.done.finished.store(0, Ordering::Release);
        let lent = self.inboxes.len().min(items.len() - 1);
        let wait = Wait(&self.done, lent);
        for inbox in &self.inboxes[..lent] {
            inbox.post(Job {
                batch: &batch as *const Batch<T> as *const (),
                work: work::<T>,
            });
        }
        // SAFETY: index 0 is never claimed by `work` (`next` starts at 1).
        f(unsafe { &mut *batch.items });
        batch.work();
        drop(wait);
        if lock(&self.done.state).1 {
            panic!("a pooled job panicked");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for inbox in self.inboxes.iter() {
            lock(&inbox.state).closed = true;
            // Ends a helper's polling at once, as a job would.
            inbox.posted.store(true, Ordering::Release);
            inbox.cv.notify_one();
        }
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
            let here = thread::current().id();
            let mut threads = std::collections::HashSet::new();
            for round in 0..50usize {
                let mut out: Vec<(usize, usize, Option<thread::ThreadId>, bool)> =
                    (0..5).map(|i| (i, 0, None, false)).collect();
                let helped = AtomicBool::new(false);
                pool.for_each(&mut out, &|slot| {
                    slot.1 = input[slot.0] * round;
                    slot.2 = Some(thread::current().id());
                    slot.3 = thread::current()
                        .name()
                        .is_some_and(|n| n.starts_with("test-"));
                    helped.fetch_or(slot.3, Ordering::AcqRel);
                    // Items are claimed by whoever comes first, and on a busy machine the
                    // calling thread may claim them all before a helper is scheduled: in the
                    // first round it holds item 0 until a helper has taken one (an event,
                    // bounded so that a pool whose helpers never run fails below).
                    if slot.0 == 0 && round == 0 && helpers > 0 {
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while !helped.load(Ordering::Acquire) && Instant::now() < deadline {
                            thread::sleep(Duration::from_micros(200));
                        }
                    }
                });
                for (i, v, id, helper) in &out {
                    assert_eq!(*v, i * round);
                    // Item 0 on the calling thread; the others wherever they were claimed.
                    assert!(*id == Some(here) || *helper, "item {i} on a stranger");
                    assert!(*i != 0 || *id == Some(here), "item 0 on a helper");
                    threads.insert(*id);
                }
            }
            // The helpers took some (at least the first round's).
            assert_eq!(threads.len() > 1, helpers > 0, "{helpers} helpers");
        }
    }

    /// Items are claimed, not dealt out: while the only helper is held up in the one item it
    /// took, the calling thread does all the others (dealt out, the helper's share would wait
    /// for it and the test time out).
    #[test]
    fn a_held_up_helper_leaves_the_rest_to_the_caller() {
        let mut pool = Pool::new(1, "test").unwrap();
        let here = thread::current().id();
        let by_caller = AtomicUsize::new(0);
        let mut items: Vec<Option<thread::ThreadId>> = vec![None; 6];
        for _ in 0..20 {
            by_caller.store(0, Ordering::Relaxed);
            pool.for_each(&mut items, &|item| {
                *item = Some(thread::current().id());
                if *item == Some(here) {
                    by_caller.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let deadline = Instant::now() + Duration::from_secs(20);
                while by_caller.load(Ordering::Relaxed) < 5 {
                    assert!(Instant::now() < deadline, "the caller left items undone");
                    thread::sleep(Duration::from_millis(1));
                }
            });
            let by_helper = items.iter().filter(|i| **i != Some(here)).count();
            assert!(
                by_helper <= 1 && items.iter().all(Option::is_some),
                "{items:?}"
            );
        }
    }

    /// Woken early, a helper polls for its job: it is already running when the job comes.
    #[test]
    fn a_helper_woken_early_polls_for_its_job() {
        let mut pool = Pool::with_early_spin(2, "test", Duration::from_secs(30)).unwrap();
        let early = pool.early();
        for round in 1..=3 {
            early.wake();
            let deadline = Instant::now() + Duration::from_secs(20);
            while pool.early_polls() < 2 * round {
                assert!(Instant::now() < deadline, "no helper woke");
                thread::sleep(Duration::from_millis(1));
            }
            let mut items = [0u64; 3];
            pool.for_each(&mut items, &|x| *x += round);
            assert_eq!(items, [round; 3]);
        }
        // Woken with no job following, they go back to sleep, and the pool still stops.
        let mut short = Pool::with_early_spin(1, "test", Duration::from_millis(1)).unwrap();
        short.early().wake();
        let mut items = [1u8, 2];
        short.for_each(&mut items, &|x| *x *= 3);
        assert_eq!(items, [3, 6]);
        drop(short);
        // A handle outliving its pool wakes nobody and does no harm.
        let orphan = Pool::new(1, "test").unwrap().early();
        orphan.wake();
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
