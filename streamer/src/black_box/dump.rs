//! Writing a dump: the black box's frames as one Matroska file
//! `DIR/blackbox-<UTC time>.mkv`, timed by capture, on the black box's own thread. A
//! directory that is missing, full or not writable gives one line on stderr, the partial file
//! is removed, and the stream is never touched.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use shared::cli::print_line;
use shared::files::matroska::write::Mkv;
use shared::files::utc::utc_stamp;
use shared::media::sniff::Kind;

use super::ring::Kept;
use super::{BlackBox, Reason};

/// The writing thread: one dump at a time, until the black box is closed.
pub fn run(black_box: &BlackBox, dir: &Path) {
    while let Some((reason, frames)) = black_box.next_dump() {
        dump(dir, reason, &frames);
    }
}

/// Writes one dump and prints its line (stdout) or what went wrong (stderr).
pub fn dump(dir: &Path, reason: Reason, frames: &[Kept]) {
    let reason = match reason {
        Reason::Signal => "signal",
        Reason::Loss => "loss",
    };
    if frames.is_empty() {
        eprintln!("streamer: black box: nothing to write ({reason}): no frame has been sent yet");
        return;
    }
    let path = dir.join(format!("blackbox-{}.mkv", utc_stamp(SystemTime::now())));
    match write(&path, frames) {
        Ok((written, seconds)) => print_line(format_args!(
            "black_box path={} frames={written} seconds={seconds:.2} reason={reason}",
            path.display()
        )),
        Err(e) => {
            // Whatever was written is of no use and may be filling a full disk.
            let _ = std::fs::remove_file(&path);
            eprintln!(
                "streamer: black box: {}: cannot write: {e}; the stream goes on",
                path.display()
            );
        }
    }
}

/// The JPEG frames (others are left out: a Matroska MJPEG track holds JPEG only) into a new
/// file at `path`, synced to disk; returns the frames written and the seconds they span.
fn write(path: &PathBuf, frames: &[Kept]) -> io::Result<(u64, f64)> {
    let jpegs: Vec<&Kept> = frames
        .iter()
        .filter(|k| Kind::of(&k.jpeg) == Some(Kind::Jpeg))
        .collect();
    let size = jpegs
        .iter()
        .find_map(|k| turbojpeg::read_header(&k.jpeg).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no JPEG frame to write"))?;
    let (Some(first), Some(last)) = (jpegs.first(), jpegs.last()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no JPEG frame"));
    };
    let (first, last) = (first.captured_at, last.captured_at);
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut mkv = Mkv::new(file, size.width, size.height)?;
    for k in &jpegs {
        let ms = k.captured_at.saturating_duration_since(first).as_millis() as u64;
        mkv.frame(ms, &k.jpeg)?;
    }
    let seconds = last.saturating_duration_since(first).as_secs_f64();
    let file: File = mkv.finish(seconds * 1000.0)?;
    file.sync_all()?;
    Ok((jpegs.len() as u64, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::files::matroska::walk::{blocks, elements};
    use shared::media::jpeg_scan::testing::real_jpeg as jpeg;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_dump_holds_the_jpeg_frames_at_their_capture_times() {
        let dir = std::env::temp_dir().join(format!("black-box-dump-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = Instant::now();
        let mut frames: Vec<Kept> = (0..5u8)
            .map(|i| Kept {
                captured_at: t0 + Duration::from_millis(u64::from(i) * 40),
                jpeg: Arc::new(jpeg(i * 40)),
            })
            .collect();
        // A PNG passed through is left out: a Matroska MJPEG track holds JPEG only.
        frames.insert(
            2,
            Kept {
                captured_at: t0,
                jpeg: Arc::new(shared::media::sniff::PNG_SIGNATURE.to_vec()),
            },
        );
        let path = dir.join("a.mkv");
        assert_eq!(write(&path, &frames).unwrap(), (5, 0.16));
        let bytes = std::fs::read(&path).unwrap();
        let got = blocks(&bytes, elements(&bytes)[1].1.clone());
        let want: Vec<(u64, Vec<u8>)> = (0..5u8)
            .map(|i| (u64::from(i) * 40, jpeg(i * 40)))
            .collect();
        assert_eq!(got, want);
        // Never over an existing file.
        assert_eq!(
            write(&path, &frames).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
