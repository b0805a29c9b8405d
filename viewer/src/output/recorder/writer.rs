//! The recorder's writing thread: takes the queued messages in order, opens, resumes, writes
//! and finishes each recording, and stops one whose streamer did not come back in time.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shared::cli::print_line;

use super::{Active, Message, Recorder};
use crate::output::recording::{Recording, Written};
use crate::output::snapshot::create_new;

/// How often every open recording writes out what a stalled stream left buffered (an idle
/// writer wakes for it; a busy one does it between messages).
pub(super) const TICK: Duration = Duration::from_millis(500);

/// Creates `path` for a new recording, never over an existing file (an earlier run's
/// recording under the same `--record FILE`): that one is kept and this one is `FILE-2.mkv`,
/// `-3`, ...; returns the path taken.
pub fn create_numbered(path: &Path) -> anyhow::Result<(PathBuf, File)> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path.extension().unwrap_or_default().to_string_lossy();
    let (_, mut files) = create_new(dir, &stem, &[&ext])?;
    files
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no file created"))
}

impl Recorder {
    /// Starts the writing thread; it ends after [`Recorder::close`].
    pub fn spawn(self: &Arc<Self>) -> io::Result<JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || me.write_all())
    }

    /// The next message for the writer; a recording whose streamer did not come back in
    /// time is stopped here. `None` once closed and drained.
    fn next(&self) -> Option<Message> {
        let mut q = self.lock();
        loop {
            if let Some(m) = q.messages.pop_front() {
                if let Message::Frame { bytes, .. } = &m {
                    q.frames -= 1;
                    q.bytes -= bytes.len();
                }
                return Some(m);
            }
            if q.closed {
                return None;
            }
            let within = q.resume_within;
            let now = Instant::now();
            let expired = q.active.iter().position(|a| {
                a.left
                    .is_some_and(|t| now.saturating_duration_since(t) >= within)
            });
            if let Some(i) = expired {
                let Active {
                    rec, left, dropped, ..
                } = q.active.remove(i);
                let at = left.unwrap_or(now);
                return Some(Message::Stop { rec, at, dropped });
            }
            let deadline = q.active.iter().filter_map(|a| a.left).min();
            let wait = deadline.map_or(TICK, |t| (t + within).saturating_duration_since(now));
            let (guard, waited) = self
                .ready
                .wait_timeout(q, wait.min(TICK))
                .unwrap_or_else(|e| e.into_inner());
            q = guard;
            if waited.timed_out() && q.messages.is_empty() && !q.closed {
                return Some(Message::Tick);
            }
        }
    }

    /// Stops recording `rec` after the writer failed on it.
    fn abandon(&self, rec: u64) {
        let q = self.lock();
        if let Some(i) = q.active.iter().position(|a| a.rec == rec) {
            self.end(q, i, Instant::now());
        }
    }

    /// Ticks every open recording (see [`Recording::tick`]).
    fn tick_all(&self, open: &mut [(u64, Recording)]) {
        for (rec, r) in open {
            if let Err(e) = r.tick() {
                eprintln!("viewer: {}: recording stopped: {e}", r.path.display());
                self.abandon(*rec);
            }
        }
    }

    fn write_all(&self) {
        let mut open: Vec<(u64, Recording)> = Vec::new();
        let mut ticked = Instant::now();
        while let Some(message) = self.next() {
            // By time, not only when idle: one live stream keeps the queue busy, and a
            // stalled one beside it must still get its last frames to the disk.
            if matches!(message, Message::Tick) || ticked.elapsed() >= TICK {
                ticked = Instant::now();
                self.tick_all(&mut open);
            }
            match message {
                Message::Start {
                    rec,
                    peer,
                    topic,
                    path,
                    at,
                } => match create_numbered(&path) {
                    Ok((path, file)) => {
                        print_line(format_args!(
                            "recording path={} peer={peer}",
                            path.display()
                        ));
                        open.push((rec, Recording::new(file, path, (peer, topic), at)));
                    }
                    Err(e) => {
                        eprintln!("viewer: {}: cannot record: {e:#}", path.display());
                        self.abandon(rec);
                    }
                },
                Message::Resume { rec, peer, at } => {
                    if let Some((_, r)) = open.iter_mut().find(|(i, _)| *i == rec) {
                        r.resume(peer, at);
                    }
                }
                Message::Frame {
                    rec,
                    bytes,
                    at,
                    in_band,
                } => {
                    if let Some((_, r)) = open.iter_mut().find(|(i, _)| *i == rec) {
                        if let Err(e) = r.frame(&bytes, at, in_band.as_ref()) {
                            eprintln!("viewer: {}: recording stopped: {e}", r.path.display());
                            self.abandon(rec);
                        }
                    }
                }
                Message::Tick => {}
                Message::Stop { rec, at, dropped } => {
                    if let Some(i) = open.iter().position(|(i, _)| *i == rec) {
                        let Written { frames } = open.remove(i).1.finish(at, dropped);
                        let mut q = self.lock();
                        // One that received no frame left no file: not a recording.
                        q.written.0 += u64::from(frames > 0);
                        q.written.1 += frames;
                    }
                }
            }
        }
    }
}
