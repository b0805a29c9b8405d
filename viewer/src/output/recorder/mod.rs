//! Recording (`R`, `--record PATH` or `--record DIR/`): every received JPEG of a stream, byte
//! for byte, into a Matroska file (`V_MJPEG`) that ffmpeg and VLC open, timed by when each
//! frame arrived, or an MCAP file (`PATH.mcap`, `--record-format mcap`) for robotics tools. A thread of its own writes, fed through a bounded queue: a stalled disk drops
//! (and counts) frames, it never delays an acknowledgement or a decode.
//!
//! What users mean by `--record`: a recording starts with a stream's first frame (a port probe
//! that connects and sends nothing takes nothing), and when its connection ends it waits
//! `--read-timeout` for the same host to come back: a reconnect continues the same file, the
//! gap visible in the timestamps. `--record PATH` records the first stream into PATH,
//! `--record DIR/` (a trailing slash or an existing directory) each stream into a file of its
//! own in DIR, named as `R` names them.
//!
//! Survives `kill -9` ([`shared::files::matroska::write`] writes whole clusters of at most half a
//! second); a clean stop fills in the Segment's size and the duration.

mod writer;

pub use writer::create_numbered;

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use shared::wire::connection::InBand;

use super::snapshot;

/// Frames waiting for the disk, over all recordings; more are dropped and counted.
pub const MAX_QUEUED: usize = 64;
/// ... and their bytes, so that a queue of very large frames stays bounded too.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// The container `R` and `--record DIR/` write (`--record-format`); `--record FILE` goes by
/// the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Matroska,
    Mcap,
}

impl Format {
    /// The file name extension.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Matroska => "mkv",
            Format::Mcap => "mcap",
        }
    }
}

/// The stream's name in an MCAP recording's topics (made a topic token by the writer): its own
/// name, else its host's address (the same across reconnects), as its live topics are named
/// ([`crate::stats::streams::Streams::untitled`]).
fn topic_name(peer: SocketAddr, name: Option<&str>) -> String {
    match name {
        Some(name) => name.to_string(),
        None => peer.ip().to_string(),
    }
}

/// Whether `--record PATH` names a directory to record every stream into: it ends with a
/// path separator or is an existing directory.
pub fn is_dir_target(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir()
}

/// Where `--record` records streams that have not been recorded yet.
#[derive(Debug)]
enum Target {
    /// Nowhere (no `--record`, or its one file is taken).
    None,
    /// The first stream into this file.
    File(PathBuf),
    /// Each stream into a file of its own in this directory.
    Dir(PathBuf),
}

/// The file a recording of a stream gets in `dir` (`R`, and `--record DIR/`):
/// `record-NAME-PEER-<utc>.mkv` (or `.mcap`), or `record-PEER-<utc>.mkv` for a stream
/// without a name.
pub fn file_in(dir: &Path, peer: SocketAddr, name: Option<&str>, format: Format) -> PathBuf {
    let stem = snapshot::stem("record", &snapshot::who(peer, name), SystemTime::now());
    dir.join(format!("{stem}.{}", format.ext()))
}

enum Message {
    Start {
        rec: u64,
        peer: SocketAddr,
        /// The stream's name in MCAP topics.
        topic: String,
        path: PathBuf,
        at: Instant,
    },
    Resume {
        rec: u64,
        peer: SocketAddr,
        at: Instant,
    },
    Frame {
        rec: u64,
        bytes: Vec<u8>,
        at: Instant,
        in_band: Option<InBand>,
    },
    Stop {
        rec: u64,
        at: Instant,
        /// Frames dropped for a full queue while it recorded.
        dropped: u64,
    },
    /// Nothing came for [`writer::TICK`]: a stalled stream's last frames go to disk all the same.
    Tick,
}

/// A recording, as the receivers and the window see it.
#[derive(Debug, PartialEq)]
struct Active {
    rec: u64,
    /// The stream feeding it; `None` while it waits for its streamer to reconnect.
    stream: Option<u64>,
    /// Whose it is: a reconnect continues it only from the same host under the same name (two
    /// cameras of one board reconnecting after a drop must not swap files).
    ip: IpAddr,
    name: Option<String>,
    /// When its stream left (it is finished at this time unless the host comes back).
    left: Option<Instant>,
    dropped: u64,
}

struct Queue {
    messages: VecDeque<Message>,
    frames: usize,
    bytes: usize,
    active: Vec<Active>,
    /// Live streams whose first frame was offered a recording (taken or not): `R` stopping
    /// one, or a file that cannot be created, does not start another with its next frame.
    considered: HashSet<u64>,
    target: Target,
    format: Format,
    /// How long a recording waits for its streamer to reconnect (`--read-timeout`).
    resume_within: Duration,
    next_rec: u64,
    /// Recordings finished and frames they held, for the summary line.
    written: (u64, u64),
    closed: bool,
}

/// The recordings of a run, shared by the receiver (frames), the window (keys) and their
/// writing thread.
pub struct Recorder {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Recorder {
    /// A recorder for `--record` (`None`: only `R`); a recording whose stream left waits
    /// `resume_within` for the same host to come back.
    pub fn new(record: Option<PathBuf>, resume_within: Duration) -> Arc<Recorder> {
        Self::with_format(record, resume_within, Format::Matroska)
    }

    /// [`Recorder::new`], with `R` and `--record DIR/` writing `format`.
    pub fn with_format(
        record: Option<PathBuf>,
        resume_within: Duration,
        format: Format,
    ) -> Arc<Recorder> {
        let target = match record {
            Some(path) if is_dir_target(&path) => Target::Dir(path),
            Some(path) => Target::File(path),
            None => Target::None,
        };
        Arc::new(Recorder {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                frames: 0,
                bytes: 0,
                active: Vec::new(),
                considered: HashSet::new(),
                target,
                format,
                resume_within,
                next_rec: 1,
                written: (0, 0),
                closed: false,
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

    /// The container `R` writes.
    pub fn format(&self) -> Format {
        self.lock().format
    }

    /// Starts recording stream `id` (`name`, from `peer`) into `path`, unless it is already
    /// being recorded.
    pub fn start(&self, id: u64, (peer, name): (SocketAddr, Option<&str>), path: PathBuf) {
        let q = self.lock();
        if q.closed || q.active.iter().any(|a| a.stream == Some(id)) {
            return;
        }
        self.begin(q, id, (peer, name), path);
    }

    /// Adds a recording of stream `id` and tells the writer.
    fn begin(
        &self,
        mut q: MutexGuard<'_, Queue>,
        id: u64,
        (peer, name): (SocketAddr, Option<&str>),
        path: PathBuf,
    ) {
        let rec = q.next_rec;
        q.next_rec += 1;
        q.active.push(Active {
            rec,
            stream: Some(id),
            ip: peer.ip(),
            name: name.map(str::to_string),
            left: None,
            dropped: 0,
        });
        let at = Instant::now();
        self.send(
            q,
            Message::Start {
                rec,
                peer,
                topic: topic_name(peer, name),
                path,
                at,
            },
        );
    }

    /// Stops recording stream `id` (if it was); the writer prints what it wrote.
    pub fn stop(&self, id: u64) {
        let q = self.lock();
        if let Some(i) = q.active.iter().position(|a| a.stream == Some(id)) {
            self.end(q, i, Instant::now());
        }
    }

    /// Removes recording `i` and tells the writer to finish it as of `at`.
    fn end(&self, mut q: MutexGuard<'_, Queue>, i: usize, at: Instant) {
        let Active { rec, dropped, .. } = q.active.remove(i);
        self.send(q, Message::Stop { rec, at, dropped });
    }

    /// Whether stream `id` is being recorded.
    pub fn is_recording(&self, id: u64) -> bool {
        self.lock().active.iter().any(|a| a.stream == Some(id))
    }

    /// Whether any recording is open (also one waiting for its streamer to reconnect).
    pub fn any(&self) -> bool {
        !self.lock().active.is_empty()
    }

    /// Stream `id`'s connection ended: its recording waits `--read-timeout` for the same
    /// host to reconnect, then the writer finishes it as of now.
    pub fn left(&self, id: u64) {
        let mut q = self.lock();
        q.considered.remove(&id);
        let Some(a) = q.active.iter_mut().find(|a| a.stream == Some(id)) else {
            return;
        };
        a.stream = None;
        a.left = Some(Instant::now());
        drop(q);
        // The writer's wait now has a deadline.
        self.ready.notify_one();
    }

    /// Makes sure stream `id` at `peer`, which just delivered a frame, is recorded if it
    /// should be: it continues its host's recording of the same name that waits for a
    /// reconnect, or starts
    /// the one `--record` asks for. Returns whether it is recorded.
    fn claim(&self, id: u64, peer: SocketAddr, name: Option<&str>) -> bool {
        let mut q = self.lock();
        if q.active.iter().any(|a| a.stream == Some(id)) {
            return true;
        }
        if q.closed || !q.considered.insert(id) {
            return false;
        }
        let within = q.resume_within;
        let now = Instant::now();
        let waiting = q.active.iter_mut().find(|a| {
            a.stream.is_none()
                && a.ip == peer.ip()
                && a.name.as_deref() == name
                && a.left
                    .is_some_and(|t| now.saturating_duration_since(t) < within)
        });
        if let Some(a) = waiting {
            a.stream = Some(id);
            a.left = None;
            let rec = a.rec;
            self.send(q, Message::Resume { rec, peer, at: now });
            return true;
        }
        let path = match std::mem::replace(&mut q.target, Target::None) {
            Target::None => return false,
            Target::File(path) => path,
            Target::Dir(dir) => {
                let path = file_in(&dir, peer, name, q.format);
                q.target = Target::Dir(dir);
                path
            }
        };
        self.begin(q, id, (peer, name), path);
        true
    }

    /// Offers a received payload of stream `id` at `peer` (called by the receiver after
    /// answering): copied and queued when the stream is being recorded, dropped and counted
    /// when the queue is full.
    pub fn offer(&self, id: u64, who: (SocketAddr, Option<&str>), payload: &[u8], at: Instant) {
        self.offer_timed(id, who, payload, (at, None));
    }

    /// [`Recorder::offer`] with the frame's in-band times, for MCAP stamps and latency.
    pub fn offer_timed(
        &self,
        id: u64,
        (peer, name): (SocketAddr, Option<&str>),
        payload: &[u8],
        (at, in_band): (Instant, Option<InBand>),
    ) {
        if !self.claim(id, peer, name) {
            return;
        }
        {
            let mut q = self.lock();
            let full = q.frames >= MAX_QUEUED || q.bytes + payload.len() > MAX_QUEUED_BYTES;
            let Some(entry) = q.active.iter_mut().find(|a| a.stream == Some(id)) else {
                return;
            };
            if full {
                entry.dropped += 1;
                return;
            }
        }
        // Copied outside the lock; the receiver reuses its buffer for the next frame.
        let bytes = payload.to_vec();
        let mut q = self.lock();
        let Some(rec) = q
            .active
            .iter()
            .find(|a| a.stream == Some(id))
            .map(|a| a.rec)
        else {
            return;
        };
        q.frames += 1;
        q.bytes += bytes.len();
        let frame = Message::Frame {
            rec,
            bytes,
            at,
            in_band,
        };
        self.send(q, frame);
    }

    /// Stops every recording (those waiting for a reconnect as of when their stream left)
    /// and lets the writer finish once the queue is empty.
    pub fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        let now = Instant::now();
        for a in std::mem::take(&mut q.active) {
            let (rec, dropped) = (a.rec, a.dropped);
            let at = a.left.unwrap_or(now);
            q.messages.push_back(Message::Stop { rec, at, dropped });
        }
        drop(q);
        self.ready.notify_one();
    }

    /// Recordings finished so far and the frames they hold.
    pub fn written(&self) -> (u64, u64) {
        self.lock().written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::files::matroska::walk::{blocks, elements};

    fn jpeg() -> Vec<u8> {
        jpeg_of(120)
    }

    fn jpeg_of(level: u8) -> Vec<u8> {
        let rgb = vec![level; 32 * 16 * 3];
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
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn frames_in(path: &Path) -> Vec<(u64, Vec<u8>)> {
        let bytes = std::fs::read(path).unwrap();
        let top = elements(&bytes);
        blocks(&bytes, top[1].1.clone())
    }

    const PEER: &str = "127.0.0.1:9";
    const LONG: Duration = Duration::from_secs(60);

    /// A stream that stalls while another keeps the writer busy still gets its last frame to
    /// the disk within about a second, in both formats, not only when the file is finished
    /// (a viewer killed meanwhile would lose it).
    #[test]
    fn a_stalled_streams_frame_reaches_the_disk_while_another_keeps_the_writer_busy() {
        let (peer, other): (SocketAddr, SocketAddr) =
            (PEER.parse().unwrap(), "127.0.0.2:9".parse().unwrap());
        let (stalled, busy) = (jpeg_of(30), jpeg_of(220));
        for format in [Format::Matroska, Format::Mcap] {
            let dir = temp_dir(&format!("recorder-stall-{format:?}"));
            let recorder = Recorder::with_format(Some(dir.join("")), LONG, format);
            let writer = recorder.spawn().unwrap();
            recorder.offer(1, (peer, None), &stalled, Instant::now());
            let on_disk = || {
                std::fs::read_dir(&dir).unwrap().any(|f| {
                    let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
                    bytes.windows(stalled.len()).any(|w| w == stalled)
                })
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while !on_disk() && Instant::now() < deadline {
                recorder.offer(2, (other, None), &busy, Instant::now());
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                on_disk(),
                "{format:?}: the stalled stream's frame is not on the disk"
            );
            recorder.close();
            writer.join().unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn the_recorder_writes_queued_frames_and_drops_when_full() {
        let dir = temp_dir("recorder-test");
        let path = dir.join("a.mkv");
        let recorder = Recorder::new(Some(path.clone()), LONG);
        let peer: SocketAddr = PEER.parse().unwrap();
        let jpeg = jpeg();
        // The first stream to deliver a frame takes the file; the next one does not.
        recorder.offer(1, (peer, None), &jpeg, Instant::now());
        recorder.offer(2, (peer, None), &jpeg, Instant::now());
        assert!(recorder.is_recording(1) && !recorder.is_recording(2));
        // No writer yet: the queue fills up, and the rest are counted as dropped.
        for _ in 0..MAX_QUEUED + 5 {
            recorder.offer(1, (peer, None), &jpeg, Instant::now());
        }
        // The byte bound holds too: one frame larger than it is dropped whatever the count.
        recorder.offer(
            1,
            (peer, None),
            &vec![0; MAX_QUEUED_BYTES + 1],
            Instant::now(),
        );
        assert_eq!(recorder.lock().active[0].dropped, 7);
        let writer = recorder.spawn().unwrap();
        recorder.close();
        writer.join().unwrap();
        let got = frames_in(&path);
        assert_eq!(got.len(), MAX_QUEUED);
        assert!(got.iter().all(|(_, b)| *b == jpeg));
        assert_eq!(recorder.written(), (1, MAX_QUEUED as u64));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_connection_without_frames_takes_nothing_and_a_reconnect_continues_the_file() {
        let dir = temp_dir("recorder-resume");
        let path = dir.join("a.mkv");
        let recorder = Recorder::new(Some(path.clone()), Duration::from_millis(300));
        let writer = recorder.spawn().unwrap();
        let (peer, other): (SocketAddr, SocketAddr) =
            (PEER.parse().unwrap(), "127.0.0.2:9".parse().unwrap());
        let jpeg = jpeg();
        // A probe: connects, sends nothing, leaves.
        recorder.left(1);
        assert!(!recorder.any());
        let t0 = Instant::now();
        recorder.offer(2, (peer, None), &jpeg, t0);
        recorder.left(2);
        assert!(recorder.any() && !recorder.is_recording(2), "waiting");
        // Another host does not continue it; the same host does, 100 ms later.
        recorder.offer(3, (other, None), &jpeg, t0);
        assert!(!recorder.is_recording(3));
        recorder.offer(4, (peer, None), &jpeg, t0 + Duration::from_millis(100));
        assert!(recorder.is_recording(4));
        recorder.left(4);
        // Not back within the time allowed: the writer finishes it by itself.
        let deadline = Instant::now() + Duration::from_secs(20);
        while recorder.any() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!recorder.any(), "the recording waits for ever");
        recorder.offer(5, (peer, None), &jpeg, Instant::now());
        assert!(
            !recorder.is_recording(5),
            "--record PATH records one stream"
        );
        recorder.close();
        writer.join().unwrap();
        let times: Vec<u64> = frames_in(&path).iter().map(|(t, _)| *t).collect();
        assert_eq!(times.len(), 2);
        assert!(times[1] - times[0] >= 90, "the gap shows: {times:?}");
        assert_eq!(recorder.written(), (1, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A stream that sends no JPEG (PNG only) leaves no file, and the summary counts no
    /// recording (it said recordings=1 recorded_frames=0 for a file that was not there).
    #[test]
    fn a_stream_of_no_jpeg_leaves_no_file_and_is_not_counted() {
        let dir = temp_dir("recorder-png");
        let path = dir.join("a.mkv");
        let recorder = Recorder::new(Some(path.clone()), LONG);
        let writer = recorder.spawn().unwrap();
        let png = b"\x89PNG\r\n\x1a\n not a JPEG";
        recorder.offer(1, (PEER.parse().unwrap(), None), png, Instant::now());
        recorder.close();
        writer.join().unwrap();
        assert_eq!(recorder.written(), (0, 0));
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two cameras of one board (one host, two names) drop and come back in the other order:
    /// each continues its own file.
    #[test]
    fn a_reconnect_continues_the_recording_of_its_own_name() {
        let dir = temp_dir("recorder-names");
        let recorder = Recorder::new(Some(dir.join("")), LONG);
        let writer = recorder.spawn().unwrap();
        let (front, rear): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1001".parse().unwrap(),
            "127.0.0.1:1002".parse().unwrap(),
        );
        let (a, b) = (jpeg_of(30), jpeg_of(220));
        recorder.offer(1, (front, Some("front")), &a, Instant::now());
        recorder.offer(2, (rear, Some("rear")), &b, Instant::now());
        recorder.left(1);
        recorder.left(2);
        // Rear is back first, from a new port.
        recorder.offer(
            3,
            ("127.0.0.1:1003".parse().unwrap(), Some("rear")),
            &b,
            Instant::now(),
        );
        recorder.offer(
            4,
            ("127.0.0.1:1004".parse().unwrap(), Some("front")),
            &a,
            Instant::now(),
        );
        assert!(recorder.is_recording(3) && recorder.is_recording(4));
        recorder.close();
        writer.join().unwrap();
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let want = if name.contains("front") { &a } else { &b };
            let got = frames_in(&path);
            assert_eq!(got.len(), 2, "{name}");
            assert!(
                got.iter().all(|(_, f)| f == want),
                "{name} holds the other's frames"
            );
            files += 1;
        }
        assert_eq!((files, recorder.written()), (2, (2, 4)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_gets_a_file_per_stream_and_r_stops_one_for_good() {
        let dir = temp_dir("recorder-dir");
        let target = PathBuf::from(format!("{}/", dir.join("new").display()));
        assert!(is_dir_target(&target) && is_dir_target(&dir));
        assert!(!is_dir_target(&dir.join("a.mkv")));
        std::fs::create_dir_all(&target).unwrap();
        let recorder = Recorder::new(Some(target.clone()), LONG);
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1001".parse().unwrap(),
            "127.0.0.1:1002".parse().unwrap(),
        );
        let jpeg = jpeg();
        for _ in 0..3 {
            recorder.offer(1, (a, None), &jpeg, Instant::now());
            recorder.offer(2, (b, None), &jpeg, Instant::now());
        }
        // `R` stops stream 2: its next frames start no new file.
        recorder.stop(2);
        recorder.offer(2, (b, None), &jpeg, Instant::now());
        assert!(recorder.is_recording(1) && !recorder.is_recording(2));
        let writer = recorder.spawn().unwrap();
        recorder.close();
        writer.join().unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "{files:?}");
        for (file, port) in files.iter().zip(["1001", "1002"]) {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(&format!("record-127.0.0.1_{port}-")),
                "{name}"
            );
            assert_eq!(frames_in(file).len(), 3);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
