//! One recording being written: received JPEGs into a Matroska file, timed by their arrival
//! since the recording started, so a reconnect that continues it shows its gap as a gap in
//! the timestamps; or into an MCAP file (a `.mcap` path), stamped with each frame's capture
//! time on this clock, with its latency beside it. Used only by the recorder's writing thread.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shared::cli::print_line;
use shared::files::matroska::write::Mkv;
use shared::files::mcap::write::{Frame, McapWriter};
use shared::media::ros_image::Latency;
use shared::media::sniff::Kind;
use shared::wire::connection::InBand;

use crate::stats::glass::arrival_figures;

/// How often what was written is forced to the disk (`fsync`): the kernel may otherwise hold
/// 30 s of a recording in memory, all lost when the robot's battery is pulled.
const SYNC_EVERY: Duration = Duration::from_secs(2);

/// Whether `path` names an MCAP file (by its extension); anything else is Matroska.
pub fn is_mcap(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mcap"))
}

/// What a recording writes into.
enum Sink {
    /// The file, until the first frame tells the picture size (Matroska needs it first).
    Pending(File),
    Mkv(Mkv<File>),
    /// Boxed: the writer's state is a kilobyte.
    Mcap(Box<McapWriter<File>>),
    /// Failed or finished.
    None,
}

/// One frame's picture size from its JPEG header, without decoding it.
fn jpeg_size(jpeg: &[u8]) -> Option<(usize, usize)> {
    if Kind::of(jpeg) != Some(Kind::Jpeg) {
        return None;
    }
    turbojpeg::read_header(jpeg)
        .ok()
        .map(|h| (h.width, h.height))
}

/// What a finished recording held, for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub frames: u64,
}

/// One recording in progress.
pub struct Recording {
    pub path: PathBuf,
    peer: SocketAddr,
    started: Instant,
    /// `started` on the wall clock, ns since the epoch (MCAP times are wall times).
    started_ns: u64,
    /// The stream's name in MCAP topics.
    topic: String,
    sink: Sink,
    frames: u64,
    /// Payloads that are not JPEG (PNG from some senders), left out.
    skipped: u64,
    /// Connections it was fed by: 1, plus one for each reconnect it continued across.
    connections: u64,
    /// When the last frame arrived (the gap a reconnect leaves starts there).
    last_frame: Instant,
    failed: bool,
    /// Frames given after a write failed, not written (counted in `dropped=`).
    unwritten: u64,
    /// The file again, to force what was written to the disk; when that last happened, and
    /// the frames written by then (nothing new, nothing to force).
    sync: Option<File>,
    synced: (Instant, u64),
}

impl Recording {
    /// A recording of the stream `topic` names (MCAP topics) into `file`, started at `started`.
    pub fn new(
        file: File,
        path: PathBuf,
        (peer, topic): (SocketAddr, String),
        started: Instant,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ago = started.elapsed();
        let sync = file.try_clone().ok();
        Recording {
            path,
            peer,
            started,
            started_ns: now.saturating_sub(ago).as_nanos() as u64,
            topic,
            sink: Sink::Pending(file),
            frames: 0,
            skipped: 0,
            connections: 1,
            last_frame: started,
            failed: false,
            unwritten: 0,
            sync,
            synced: (Instant::now(), 0),
        }
    }

    /// The same streamer reconnected at `peer`: the recording goes on in the same file.
    pub fn resume(&mut self, peer: SocketAddr, at: Instant) {
        let gap = at.saturating_duration_since(self.last_frame).as_secs_f64();
        self.peer = peer;
        self.connections += 1;
        print_line(format_args!(
            "recording_continues path={} peer={peer} gap_s={gap:.2}",
            self.path.display()
        ));
    }

    pub fn frame(&mut self, jpeg: &[u8], at: Instant, in_band: Option<&InBand>) -> io::Result<()> {
        if self.failed {
            self.unwritten += 1;
            return Ok(());
        }
        let Some(size) = jpeg_size(jpeg) else {
            self.skipped += 1;
            return Ok(());
        };
        let result = self.write(jpeg, size, at, in_band);
        match result {
            Ok(()) => {
                self.frames += 1;
                self.last_frame = at;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Writes one frame, opening the container with the first.
    fn write(
        &mut self,
        jpeg: &[u8],
        (width, height): (usize, usize),
        at: Instant,
        in_band: Option<&InBand>,
    ) -> io::Result<()> {
        if let Sink::Pending(_) = self.sink {
            let Sink::Pending(file) = std::mem::replace(&mut self.sink, Sink::None) else {
                return Ok(());
            };
            self.sink = if is_mcap(&self.path) {
                Sink::Mcap(Box::new(McapWriter::new(file, &self.topic)?))
            } else {
                Sink::Mkv(Mkv::new(file, width, height)?)
            };
        }
        let since = at.saturating_duration_since(self.started);
        match &mut self.sink {
            Sink::Mkv(mkv) => mkv.frame(since.as_millis() as u64, jpeg),
            Sink::Mcap(mcap) => {
                let arrival_ns = self.started_ns + since.as_nanos() as u64;
                // The capture time on the arrival's clock (this recording's, which a step of
                // the wall clock does not move): the arrival less the glass up to it.
                let (latency, capture_ns) = match arrival_figures(in_band) {
                    Some((l, _)) => {
                        let glass_ns = (l.arrival_ms * 1e6).round() as u64;
                        (l, arrival_ns.saturating_sub(glass_ns))
                    }
                    None => (Latency::UNKNOWN, arrival_ns),
                };
                mcap.frame(&Frame {
                    jpeg,
                    capture_ns,
                    arrival_ns,
                    latency: &latency,
                })
            }
            Sink::Pending(_) | Sink::None => Ok(()),
        }
    }

    /// Writes out what a stalled or slow stream left buffered: an MCAP chunk open for a
    /// second or more, a Matroska cluster for half a second or more.
    pub fn tick(&mut self) -> io::Result<()> {
        let since = self.started.elapsed();
        let result = match &mut self.sink {
            Sink::Mcap(mcap) if !self.failed => {
                mcap.flush_if_due(self.started_ns + since.as_nanos() as u64)
            }
            Sink::Mkv(mkv) if !self.failed => mkv.flush_if_due(since.as_millis() as u64),
            _ => Ok(()),
        };
        // As for a frame: nothing more is written (the frames still queued are not, and a
        // half-written cluster is not written again).
        self.failed |= result.is_err();
        result?;
        if self.synced.0.elapsed() >= SYNC_EVERY && self.synced.1 != self.frames && !self.failed {
            self.synced = (Instant::now(), self.frames);
            if let Some(file) = &self.sync {
                let synced = file.sync_data();
                self.failed |= synced.is_err();
                synced?;
            }
        }
        Ok(())
    }

    /// Finishes the file (or removes it when nothing arrived) and prints what it holds.
    pub fn finish(self, at: Instant, dropped: u64) -> Written {
        let seconds = at.saturating_duration_since(self.started).as_secs_f64();
        let finished = match self.sink {
            // After a failed write too: the cluster that was cut is written again over its
            // partial bytes (a disk with room again gets every frame), else the file is
            // closed over the whole ones.
            Sink::Mkv(mkv) => mkv.finish(seconds * 1000.0).map(drop),
            // The MCAP writer's state after a failed write is its own: nothing more goes in,
            // and a reader takes the chunks that are whole.
            Sink::Mcap(_) if self.failed => Ok(()),
            Sink::Mcap(mcap) => mcap.finish().map(drop),
            // Nothing arrived: no file is better than an empty one.
            Sink::Pending(_) => std::fs::remove_file(&self.path),
            Sink::None => Ok(()),
        };
        // On the disk before the line says it is recorded.
        let finished = finished.and_then(|()| match &self.sync {
            Some(file) if self.frames > 0 => file.sync_all(),
            _ => Ok(()),
        });
        if let Err(e) = &finished {
            eprintln!(
                "viewer: {}: cannot finish the recording: {e}",
                self.path.display()
            );
        }
        // A write failed on the way and the file may lack the last frames it was given.
        let write_error = u8::from(self.failed || finished.is_err());
        let dropped = dropped + self.unwritten;
        print_line(format_args!(
            "recorded path={} peer={} frames={} duration_s={seconds:.2} dropped={dropped} \
             skipped={} connections={} write_error={write_error}",
            self.path.display(),
            self.peer,
            self.frames,
            self.skipped,
            self.connections
        ));
        Written {
            frames: self.frames,
        }
    }
}
