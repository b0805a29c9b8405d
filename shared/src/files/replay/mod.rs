//! A recording read frame by frame, whatever holds it: Matroska/WebM (`matroska::read`),
//! MCAP (`mcap::read`), AVI ([`avi`]) or concatenated JPEGs ([`mjpeg`]), told apart by the file's first bytes,
//! not its name. Frames are located by a front-to-back scan and their bytes read one at a
//! time, so a file of any size is never loaded whole; [`Recording::index`] is the one scan
//! that random access (the viewer's `--play`) needs.

pub mod avi;
pub mod mjpeg;
pub mod times;

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::files::matroska::read::{MkvReader, MAGIC as MKV_MAGIC};
use crate::files::mcap::{read::McapReader, MAGIC as MCAP_MAGIC};
use avi::AviReader;
use mjpeg::MjpegReader;

/// The most frames [`Recording::index`] takes (200 MB of index; 77 hours at 30 fps).
pub const MAX_INDEXED: usize = 1 << 23;

/// Where one frame's bytes are in the file, and when it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    pub len: u64,
    /// Microseconds after the first frame.
    pub time_us: u64,
}

/// A file that cannot be replayed, or stopped being readable: one line naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    pub path: PathBuf,
    pub what: String,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

impl std::error::Error for ReplayError {}

/// The containers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Matroska,
    Mcap,
    Avi,
    Mjpeg,
}

impl Container {
    /// What the file's first bytes say it is.
    pub fn sniff(head: &[u8]) -> Option<Container> {
        if head.starts_with(&MKV_MAGIC) {
            Some(Container::Matroska)
        } else if head.starts_with(&MCAP_MAGIC) {
            Some(Container::Mcap)
        } else if head.starts_with(avi::MAGIC) && head.get(8..12) == Some(avi::FORM) {
            Some(Container::Avi)
        } else if head.starts_with(&mjpeg::MAGIC) {
            Some(Container::Mjpeg)
        } else {
            None
        }
    }

    /// Its name for the user.
    pub fn name(self) -> &'static str {
        match self {
            Container::Matroska => "Matroska",
            Container::Mcap => "MCAP",
            Container::Avi => "AVI",
            Container::Mjpeg => "MJPEG",
        }
    }
}

enum Reader {
    Mkv(MkvReader<File>),
    Mcap(McapReader<File>),
    Avi(AviReader<File>),
    Mjpeg(MjpegReader<File>),
}

/// An open recording: its frames in order, each read on demand.
pub struct Recording {
    path: PathBuf,
    container: Container,
    reader: Reader,
    /// A second handle for the frames' bytes, so the scan keeps its place.
    payload: File,
    max_frame: usize,
    /// Why [`Recording::index`] stopped before the end of the file, if it did.
    damaged: Option<String>,
}

impl Recording {
    /// Opens `path`, telling the container by its first bytes and checking its headers;
    /// frames over `max_frame` bytes are an error when reached.
    pub fn open(path: &Path, max_frame: usize) -> Result<Recording, ReplayError> {
        Self::open_topic(path, max_frame, None)
    }

    /// [`Recording::open`], playing the MCAP channel `topic` (`--topic`; `None`: the first
    /// `CompressedImage` channel). Other containers have one track: a topic is refused.
    pub fn open_topic(
        path: &Path,
        max_frame: usize,
        topic: Option<&str>,
    ) -> Result<Recording, ReplayError> {
        let fail = |what: String| ReplayError {
            path: path.to_path_buf(),
            what,
        };
        let open = || File::open(path).map_err(|e| fail(format!("cannot open: {e}")));
        let mut head = [0; 12];
        let mut file = open()?;
        let n = read_up_to(&mut file, &mut head).map_err(|e| fail(format!("cannot read: {e}")))?;
        let container = Container::sniff(&head[..n]).ok_or_else(|| {
            fail("not a recording: neither Matroska/WebM, MCAP, AVI nor concatenated JPEG".into())
        })?;
        if topic.is_some() && container != Container::Mcap {
            let name = container.name();
            return Err(fail(format!("--topic needs an MCAP file, this is {name}")));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| fail(e.to_string()))?;
        let reader = match container {
            Container::Matroska => MkvReader::open(file, max_frame).map(Reader::Mkv),
            Container::Mcap => McapReader::open(file, max_frame, topic).map(Reader::Mcap),
            Container::Avi => AviReader::open(file, max_frame).map(Reader::Avi),
            Container::Mjpeg => MjpegReader::open(file, max_frame).map(Reader::Mjpeg),
        }
        .map_err(fail)?;
        Ok(Recording {
            path: path.to_path_buf(),
            container,
            reader,
            payload: open()?,
            max_frame,
            damaged: None,
        })
    }

    /// The file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What holds the frames.
    pub fn container(&self) -> Container {
        self.container
    }

    /// False when the file holds no times (concatenated JPEGs): the times given are frame
    /// numbers at [`mjpeg::NOMINAL_FRAME_US`], and the caller should pace by its own rate.
    pub fn timed(&self) -> bool {
        self.container != Container::Mjpeg
    }

    /// True once the scan found the file ending inside a frame (a recording cut by `kill -9`).
    pub fn cut_short(&self) -> bool {
        match &self.reader {
            Reader::Mkv(r) => r.cut_short(),
            Reader::Mcap(r) => r.cut_short(),
            Reader::Avi(r) => r.cut_short(),
            Reader::Mjpeg(r) => r.cut_short(),
        }
    }

    /// The next frame's place, or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ReplayError> {
        match &mut self.reader {
            Reader::Mkv(r) => r.next_block().map(|b| {
                b.map(|b| Entry {
                    offset: b.offset,
                    len: b.len,
                    time_us: b.time_us,
                })
            }),
            Reader::Mcap(r) => r.next_frame(),
            Reader::Avi(r) => r.next_frame(),
            Reader::Mjpeg(r) => r.next_frame(),
        }
        .map_err(|what| self.error(what))
    }

    /// Reads `entry`'s bytes into `buf` (replacing what it held, reusing its memory).
    pub fn read(&mut self, entry: &Entry, buf: &mut Vec<u8>) -> Result<(), ReplayError> {
        let len = usize::try_from(entry.len)
            .ok()
            .filter(|&l| l <= self.max_frame);
        let len = len.ok_or_else(|| {
            self.error(format!(
                "{} bytes at offset {}, over --max-frame-bytes {}",
                entry.len, entry.offset, self.max_frame
            ))
        })?;
        buf.resize(len, 0);
        self.payload
            .seek(SeekFrom::Start(entry.offset))
            .and_then(|_| self.payload.read_exact(buf))
            .map_err(|e| {
                self.error(format!(
                    "cannot read the frame at offset {}: {e}",
                    entry.offset
                ))
            })
    }

    /// The next frame's place and bytes, or `None` at the end.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Entry>, ReplayError> {
        let Some(entry) = self.next_entry()? else {
            return Ok(None);
        };
        self.read(&entry, buf)?;
        Ok(Some(entry))
    }

    /// Starts again at the first frame.
    pub fn rewind(&mut self) -> Result<(), ReplayError> {
        match &mut self.reader {
            Reader::Mkv(r) => r.rewind(),
            Reader::Mcap(r) => r.rewind(),
            Reader::Avi(r) => r.rewind(),
            Reader::Mjpeg(r) => r.rewind(),
        }
        .map_err(|what| self.error(what))
    }

    /// Every frame's place, by one scan from the start (about 24 bytes a frame in memory, at
    /// most [`MAX_INDEXED`] frames), with its time as played ([`times::regular`]: what that
    /// changed comes back too). Damage after the first frame (a crash's zeroed tail, a
    /// garbled element) ends the scan there, not the recording: [`Recording::damaged`] says
    /// why, and the frames before it play.
    pub fn index(&mut self) -> Result<(Vec<Entry>, times::Changed), ReplayError> {
        self.rewind()?;
        let mut entries = Vec::new();
        loop {
            let entry = match self.next_entry() {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) if !entries.is_empty() => {
                    self.damaged = Some(e.what);
                    break;
                }
                Err(e) => return Err(e),
            };
            if entries.len() == MAX_INDEXED {
                let what = format!("more than {MAX_INDEXED} frames, too many to index");
                return Err(self.error(what));
            }
            entries.push(entry);
        }
        let changed = times::regular(&mut entries);
        Ok((entries, changed))
    }

    /// Why the last [`Recording::index`] stopped before the end of the file (`None`: it did
    /// not).
    pub fn damaged(&self) -> Option<&str> {
        self.damaged.as_deref()
    }

    fn error(&self, what: String) -> ReplayError {
        ReplayError {
            path: self.path.clone(),
            what,
        }
    }
}

/// Reads as much of `buf` as the file holds.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::matroska::write::Mkv;
    use crate::media::jpeg_scan::testing::real_jpeg;

    /// A Matroska recording of three frames 40 ms apart, then `tail` (a crash's zeroed blocks).
    fn recording(name: &str, tail: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("replay-{name}-{}.mkv", std::process::id()));
        let mut mkv = Mkv::new(File::create(&path).unwrap(), 64, 48).unwrap();
        for i in 0..3u8 {
            mkv.frame(u64::from(i) * 40, &real_jpeg(i)).unwrap();
        }
        let mut file = mkv.finish(80.0).unwrap();
        std::io::Write::write_all(&mut file, tail).unwrap();
        path
    }

    #[test]
    fn a_damaged_tail_ends_the_index_there_and_the_frames_before_it_play() {
        let whole = recording("whole", &[]);
        let (entries, _) = Recording::open(&whole, 1 << 20).unwrap().index().unwrap();
        assert_eq!(entries.len(), 3);
        // Zeroed blocks after the last cluster (a power cut): it played nothing before.
        let cut = recording("zeroed", &[0; 4096]);
        let mut rec = Recording::open(&cut, 1 << 20).unwrap();
        let (damaged, _) = rec.index().unwrap();
        assert_eq!(damaged, entries);
        assert!(
            rec.damaged().is_some_and(|why| why.contains("zero byte")),
            "{:?}",
            rec.damaged()
        );
        let _ = std::fs::remove_file(whole);
        let _ = std::fs::remove_file(cut);
    }
}
