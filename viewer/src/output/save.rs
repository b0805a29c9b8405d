//! `--save-dir`: every received payload written exactly as it arrived, one file per frame,
//! named with a counter and the peer (`000042-192.168.3.7.jpg`; a directory that holds an earlier
//! run's frames is numbered on from its last, never overwritten). Each file is written under a
//! temporary name and renamed once complete, so a crash never leaves half a file behind. The
//! writing happens on a saver thread of its own, fed through a bounded queue, so that no file
//! system call ever runs on the network thread that answers every streamer.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use shared::media::sniff;
use shared::runtime::log_limit::LogLimit;
use tokio::sync::mpsc;

use crate::stats::Counters;

/// Payloads waiting for the disk. When the queue is full, the connection whose payload does
/// not fit waits for room before reading its next frame: every payload is saved, and a slow
/// disk holds back only the streams it cannot keep up with, never the network thread.
pub const QUEUE: usize = 16;

/// One payload to write: its number over the run, its sender and a copy of its bytes.
struct Job {
    counter: u64,
    peer: IpAddr,
    bytes: Vec<u8>,
}

/// Hands payloads to the saver thread; one clone per connection. The thread ends once every
/// clone is gone and the queue is written.
#[derive(Clone)]
pub struct Saver {
    jobs: mpsc::Sender<Job>,
    /// Buffers the thread has written out, for the next copies: no allocation per frame.
    spares: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Saver {
    /// Starts the saver thread writing into `dir` and counting in `counters.saved`.
    pub fn spawn(
        dir: PathBuf,
        counters: Arc<Counters>,
    ) -> std::io::Result<(Saver, JoinHandle<()>)> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let spares = Arc::new(Mutex::new(Vec::new()));
        let returned = spares.clone();
        let thread = std::thread::Builder::new()
            .name("save".into())
            .spawn(move || write_all(&dir, queue, &returned, &counters))?;
        Ok((Saver { jobs, spares }, thread))
    }

    /// Queues a copy of `payload` as frame number `counter` from `peer`; waits while the
    /// queue is full. The caller keeps its buffer (it goes on to the decoder).
    pub async fn save(&self, counter: u64, peer: IpAddr, payload: &[u8]) {
        let mut bytes = lock(&self.spares).pop().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(payload);
        let job = Job {
            counter,
            peer,
            bytes,
        };
        // An error means the thread is gone (it panicked); the run reports that at its end.
        let _ = self.jobs.send(job).await;
    }
}

/// The highest frame number among `dir`'s saved frames (an earlier run's), 0 when none.
fn last_saved(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let number = |name: &str| {
        let (digits, _) = name.split_once('-')?;
        let ours = digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit());
        ours.then(|| digits.parse::<u64>().ok())?
    };
    (entries.filter_map(Result::ok))
        .filter_map(|e| number(e.file_name().to_str()?))
        .max()
        .unwrap_or(0)
}

/// The saver thread: writes each queued payload (numbered on from an earlier run's last, found
/// here rather than at start: the directory may hold millions), counts it, hands its buffer
/// back.
fn write_all(
    dir: &Path,
    mut queue: mpsc::Receiver<Job>,
    spares: &Mutex<Vec<Vec<u8>>>,
    counters: &Counters,
) {
    let before = last_saved(dir);
    if before > 0 {
        eprintln!(
            "viewer: {}: holds frames up to {before} of an earlier run; this run's are \
             numbered from {}",
            dir.display(),
            before + 1
        );
    }
    // A full disk fails every frame: said once a second at most, with the count held back.
    let failed = LogLimit::default();
    while let Some(job) = queue.blocking_recv() {
        let counter = before.saturating_add(job.counter);
        match save(dir, counter, job.peer, &job.bytes) {
            Ok(_) => {
                counters.saved.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => failed.line("save", || {
                format!("{}: cannot save frame {counter}: {e}", dir.display())
            }),
        }
        let mut spares = lock(spares);
        if spares.len() < QUEUE + 1 {
            spares.push(job.bytes);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `payload` as frame number `counter` from `peer` into `dir`; returns the final path.
pub fn save(dir: &Path, counter: u64, peer: IpAddr, payload: &[u8]) -> std::io::Result<PathBuf> {
    // `:` is legal on Linux but not on the Windows shares people copy these to.
    let peer = peer.to_string().replace(':', "_");
    let name = format!("{counter:06}-{peer}.{}", sniff::extension(payload));
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.part"));
    let written = fs::File::create(&partial)
        .and_then(|mut file| file.write_all(payload))
        .and_then(|()| fs::rename(&partial, &path));
    if let Err(e) = written {
        // Half a file (a full disk) is not left behind; the error is what the caller says.
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_bytes_as_received_under_a_counter_and_peer_name() {
        let dir = std::env::temp_dir().join(format!("save-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let payload = b"\xFF\xD8 not re-encoded \xFF\xD9";
        let path = save(&dir, 42, "192.168.3.7".parse().unwrap(), payload).unwrap();
        assert_eq!(path.file_name().unwrap(), "000042-192.168.3.7.jpg");
        assert_eq!(fs::read(&path).unwrap(), payload);
        let png = save(&dir, 43, "::1".parse().unwrap(), b"\x89PNG\r\n\x1a\n").unwrap();
        assert_eq!(png.file_name().unwrap(), "000043-__1.png");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A write that fails half way (a full disk: /dev/full) is an error and leaves no
    /// temporary file.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_leaves_no_partial_file() {
        let dir = std::env::temp_dir().join(format!("save-full-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let partial = dir.join(".000007-10.0.0.2.jpg.part");
        std::os::unix::fs::symlink("/dev/full", &partial).unwrap();
        let err = save(&dir, 7, "10.0.0.2".parse().unwrap(), b"\xFF\xD8\xFF\xD9").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "a file was left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_saver_thread_writes_every_queued_payload_and_counts_it() {
        let dir = std::env::temp_dir().join(format!("saver-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let counters = Arc::new(Counters::default());
        let (saver, thread) = Saver::spawn(dir.clone(), counters.clone()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // More than the queue holds: the sender waits for room, nothing is dropped.
        let n = QUEUE as u64 * 3;
        runtime.block_on(async {
            for i in 1..=n {
                saver.save(i, peer, &[0xFF, 0xD8, i as u8]).await;
            }
        });
        drop(saver);
        thread.join().unwrap();
        assert_eq!(counters.saved.load(Ordering::Relaxed), n);
        for i in 1..=n {
            let path = dir.join(format!("{i:06}-10.0.0.2.jpg"));
            assert_eq!(fs::read(&path).unwrap(), [0xFF, 0xD8, i as u8], "{path:?}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A second run into the same directory numbers on from the first's last frame.
    #[test]
    fn a_second_run_overwrites_nothing() {
        let dir = std::env::temp_dir().join(format!("saver-again-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("000041-10.0.0.2.jpg"), b"first run").unwrap();
        fs::write(dir.join("notes-1234567.txt"), b"not ours").unwrap();
        assert_eq!(last_saved(&dir), 41);
        let (saver, thread) = Saver::spawn(dir.clone(), Arc::new(Counters::default())).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(saver.save(1, "10.0.0.2".parse().unwrap(), b"\xFF\xD8second"));
        drop(saver);
        thread.join().unwrap();
        assert_eq!(
            fs::read(dir.join("000041-10.0.0.2.jpg")).unwrap(),
            b"first run"
        );
        assert_eq!(
            fs::read(dir.join("000042-10.0.0.2.jpg")).unwrap(),
            b"\xFF\xD8second"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
