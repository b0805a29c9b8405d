//! Recording (`R`, `--record PATH`): every received JPEG of a stream, byte for byte, into a
//! Matroska file (`V_MJPEG`) that ffmpeg and VLC open, timed by when each frame arrived. A
//! thread of its own writes, fed through a bounded queue: a stalled disk drops (and counts)
//! frames, it never delays an acknowledgement or a decode.
//!
//! Survives `kill -9` ([`shared::matroska::write`] writes whole clusters of at most half a second); a
//! clean stop fills in the Segment's size and the duration.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use shared::cli::print_line;
use shared::sniff::Kind;

use shared::matroska::write::Mkv;

/// Frames waiting for the disk, over all recordings; more are dropped and counted.
pub const MAX_QUEUED: usize = 64;
/// ... and their bytes, so that a queue of very large frames stays bounded too.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// One frame's picture size from its JPEG header, without decoding it.
fn jpeg_size(jpeg: &[u8]) -> Option<(usize, usize)> {
    if Kind::of(jpeg) != Some(Kind::Jpeg) {
        return None;
    }
    turbojpeg::read_header(jpeg)
        .ok()
        .map(|h| (h.width, h.height))
}

enum Message {
    Start {
        id: u64,
        peer: SocketAddr,
        path: PathBuf,
        at: Instant,
    },
    Frame {
        id: u64,
        bytes: Vec<u8>,
        at: Instant,
    },
    Stop {
        id: u64,
        at: Instant,
        /// Frames dropped for a full queue while it recorded.
        dropped: u64,
    },
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    frames: usize,
    bytes: usize,
    /// Streams being recorded, with the frames dropped for each.
    active: Vec<(u64, u64)>,
    /// `--record PATH`, for the first stream to connect.
    first: Option<PathBuf>,
    closed: bool,
}

/// The recordings of a run, shared by the receiver (frames), the window (keys) and their
/// writing thread.
#[derive(Default)]
pub struct Recorder {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Recorder {
    /// A recorder; with `first`, the first stream to connect is recorded into that file.
    pub fn new(first: Option<PathBuf>) -> Arc<Recorder> {
        Arc::new(Recorder {
            queue: Mutex::new(Queue {
                first,
                ..Queue::default()
            }),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, mut q: MutexGuard<'_, Queue>, message: Message) {
        q.messages.push_back(message);
        drop(q);
        self.ready.notify_one();
    }

    /// Starts recording stream `id` into `path`, unless it is already being recorded.
    pub fn start(&self, id: u64, peer: SocketAddr, path: PathBuf) {
        let mut q = self.lock();
        if q.closed || q.active.iter().any(|&(a, _)| a == id) {
            return;
        }
        q.active.push((id, 0));
        let at = Instant::now();
        self.send(q, Message::Start { id, peer, path, at });
    }

    /// Stops recording stream `id` (if it was); the writer prints what it wrote.
    pub fn stop(&self, id: u64) {
        let mut q = self.lock();
        let Some(i) = q.active.iter().position(|&(a, _)| a == id) else {
            return;
        };
        let (_, dropped) = q.active.remove(i);
        let at = Instant::now();
        self.send(q, Message::Stop { id, at, dropped });
    }

    /// Whether stream `id` is being recorded.
    pub fn is_recording(&self, id: u64) -> bool {
        self.lock().active.iter().any(|&(a, _)| a == id)
    }

    /// Whether any stream is being recorded.
    pub fn any(&self) -> bool {
        !self.lock().active.is_empty()
    }

    /// A stream connected: the first one is recorded with `--record PATH`.
    pub fn connected(&self, id: u64, peer: SocketAddr) {
        let first = self.lock().first.take();
        if let Some(path) = first {
            self.start(id, peer, path);
        }
    }

    /// Offers a received payload of stream `id` (called by the receiver after answering):
    /// copied and queued when the stream is being recorded, dropped and counted when the
    /// queue is full.
    pub fn offer(&self, id: u64, payload: &[u8], at: Instant) {
        {
            let mut q = self.lock();
            let full = q.frames >= MAX_QUEUED || q.bytes + payload.len() > MAX_QUEUED_BYTES;
            let Some(entry) = q.active.iter_mut().find(|(a, _)| *a == id) else {
                return;
            };
            if full {
                entry.1 += 1;
                return;
            }
        }
        // Copied outside the lock; the receiver reuses its buffer for the next frame.
        let bytes = payload.to_vec();
        let mut q = self.lock();
        if !q.active.iter().any(|&(a, _)| a == id) {
            return;
        }
        q.frames += 1;
        q.bytes += bytes.len();
        self.send(q, Message::Frame { id, bytes, at });
    }

    /// Stops every recording and lets the writer finish once the queue is empty.
    pub fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        let at = Instant::now();
        for (id, dropped) in std::mem::take(&mut q.active) {
            q.messages.push_back(Message::Stop { id, at, dropped });
        }
        drop(q);
        self.ready.notify_one();
    }

    /// Starts the writing thread; it ends after [`Recorder::close`].
    pub fn spawn(self: &Arc<Self>) -> io::Result<JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || me.write_all())
    }

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
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn write_all(&self) {
        let mut open: Vec<(u64, Recording)> = Vec::new();
        while let Some(message) = self.next() {
            match message {
                Message::Start { id, peer, path, at } => match File::create(&path) {
                    Ok(file) => {
                        print_line(format_args!(
                            "recording path={} peer={peer}",
                            path.display()
                        ));
                        open.push((id, Recording::new(file, path, peer, at)));
                    }
                    Err(e) => {
                        eprintln!("viewer: {}: cannot record: {e}", path.display());
                        self.stop(id);
                    }
                },
                Message::Frame { id, bytes, at } => {
                    if let Some((_, r)) = open.iter_mut().find(|(i, _)| *i == id) {
                        if let Err(e) = r.frame(&bytes, at) {
                            eprintln!("viewer: {}: recording stopped: {e}", r.path.display());
                            self.stop(id);
                        }
                    }
                }
                Message::Stop { id, at, dropped } => {
                    if let Some(i) = open.iter().position(|(i, _)| *i == id) {
                        open.remove(i).1.finish(at, dropped);
                    }
                }
            }
        }
    }
}

/// One recording in progress.
struct Recording {
    path: PathBuf,
    peer: SocketAddr,
    started: Instant,
    /// The file, until the first frame tells the picture size.
    file: Option<File>,
    mkv: Option<Mkv<File>>,
    frames: u64,
    /// Payloads that are not JPEG (PNG from some senders), left out.
    skipped: u64,
    failed: bool,
}

impl Recording {
    fn new(file: File, path: PathBuf, peer: SocketAddr, started: Instant) -> Self {
        Recording {
            path,
            peer,
            started,
            file: Some(file),
            mkv: None,
            frames: 0,
            skipped: 0,
            failed: false,
        }
    }

    fn frame(&mut self, jpeg: &[u8], at: Instant) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        let Some(size) = jpeg_size(jpeg) else {
            self.skipped += 1;
            return Ok(());
        };
        let result = (|| {
            if self.mkv.is_none() {
                if let Some(file) = self.file.take() {
                    self.mkv = Some(Mkv::new(file, size.0, size.1)?);
                }
            }
            let ms = at.saturating_duration_since(self.started).as_millis() as u64;
            match &mut self.mkv {
                Some(mkv) => mkv.frame(ms, jpeg),
                None => Ok(()),
            }
        })();
        match result {
            Ok(()) => {
                self.frames += 1;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn finish(self, at: Instant, dropped: u64) {
        let seconds = at.saturating_duration_since(self.started).as_secs_f64();
        let finished = match self.mkv {
            Some(mkv) => mkv.finish(seconds * 1000.0).map(drop),
            // Nothing arrived: no file is better than an empty one.
            None => std::fs::remove_file(&self.path),
        };
        if let Err(e) = finished {
            eprintln!(
                "viewer: {}: cannot finish the recording: {e}",
                self.path.display()
            );
        }
        print_line(format_args!(
            "recorded path={} peer={} frames={} duration_s={seconds:.2} dropped={dropped} skipped={}",
            self.path.display(),
            self.peer,
            self.frames,
            self.skipped
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::matroska::walk::{blocks, elements};

    #[test]
    fn the_recorder_writes_queued_frames_and_drops_when_full() {
        let dir = std::env::temp_dir().join(format!("recorder-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.mkv");
        let recorder = Recorder::new(Some(path.clone()));
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let jpeg = {
            let rgb = vec![120u8; 32 * 16 * 3];
            let image = turbojpeg::Image {
                pixels: &rgb[..],
                width: 32,
                pitch: 96,
                height: 16,
                format: turbojpeg::PixelFormat::RGB,
            };
            turbojpeg::compress(image, 80, turbojpeg::Subsamp::Sub2x2)
                .unwrap()
                .to_vec()
        };
        recorder.offer(1, &jpeg, Instant::now());
        recorder.connected(1, peer);
        recorder.connected(2, peer);
        assert!(recorder.is_recording(1) && !recorder.is_recording(2));
        // No writer yet: the queue fills up, and the rest are counted as dropped.
        for _ in 0..MAX_QUEUED + 5 {
            recorder.offer(1, &jpeg, Instant::now());
        }
        recorder.offer(2, &jpeg, Instant::now());
        // The byte bound holds too: one frame larger than it is dropped whatever the count.
        recorder.offer(1, &vec![0; MAX_QUEUED_BYTES + 1], Instant::now());
        assert_eq!(recorder.lock().active, [(1, 6)], "stream 1 with 6 dropped");
        let writer = recorder.spawn().unwrap();
        recorder.close();
        writer.join().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let top = elements(&bytes);
        let got = blocks(&bytes, top[1].1.clone());
        assert_eq!(got.len(), MAX_QUEUED);
        assert!(got.iter().all(|(_, b)| *b == jpeg));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
