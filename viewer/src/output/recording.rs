//! One recording being written: received JPEGs into a Matroska file, timed by their arrival
//! since the recording started, so a reconnect that continues it shows its gap as a gap in
//! the timestamps. Used only by the recorder's writing thread.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use shared::cli::print_line;
use shared::files::matroska::write::Mkv;
use shared::media::sniff::Kind;

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
    /// The file, until the first frame tells the picture size.
    file: Option<File>,
    mkv: Option<Mkv<File>>,
    frames: u64,
    /// Payloads that are not JPEG (PNG from some senders), left out.
    skipped: u64,
    /// Connections it was fed by: 1, plus one for each reconnect it continued across.
    connections: u64,
    /// When the last frame arrived (the gap a reconnect leaves starts there).
    last_frame: Instant,
    failed: bool,
}

impl Recording {
    pub fn new(file: File, path: PathBuf, peer: SocketAddr, started: Instant) -> Self {
        Recording {
            path,
            peer,
            started,
            file: Some(file),
            mkv: None,
            frames: 0,
            skipped: 0,
            connections: 1,
            last_frame: started,
            failed: false,
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

    pub fn frame(&mut self, jpeg: &[u8], at: Instant) -> io::Result<()> {
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
                self.last_frame = at;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Finishes the file (or removes it when nothing arrived) and prints what it holds.
    pub fn finish(self, at: Instant, dropped: u64) -> Written {
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
            "recorded path={} peer={} frames={} duration_s={seconds:.2} dropped={dropped} \
             skipped={} connections={}",
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
