//! Writing a dump: the black box's frames as one Matroska file
//! `DIR/blackbox-<UTC time>.mkv`, timed by capture, on the black box's own thread. A
//! directory that is missing, full or not writable gives one line on stderr, the partial file
//! is removed, and the stream is never touched. The newest `--black-box-keep` dumps are kept,
//! and a crash's leftover `.part` files removed, so that dumps cannot fill the disk over days.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use shared::cli::print_line;
use shared::files::matroska::write::Mkv;
use shared::files::utc::utc_stamp;
use shared::media::sniff::Kind;

use super::ring::Kept;
use super::{BlackBox, Reason};

/// A `.part` file older than this is a crash's (a dump takes seconds), not another
/// streamer's dump being written into the same directory.
const STALE_PART: Duration = Duration::from_secs(600);

/// The writing thread: one dump at a time, keeping the newest `keep`, until the black box is
/// closed.
pub fn run(black_box: &BlackBox, dir: &Path, keep: usize) {
    tidy(dir, keep);
    while let Some((reason, frames)) = black_box.next_dump() {
        dump(dir, reason, &frames);
        tidy(dir, keep);
    }
}

/// Removes all but the newest `keep` dumps in `dir` (by name: the UTC stamp sorts them) and
/// stale `.part` files; one line when it removed any.
fn tidy(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let (mut dumps, mut parts) = (Vec::new(), Vec::new());
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("blackbox-") && name.ends_with(".mkv") {
            dumps.push(name);
        } else if name.starts_with(".blackbox-") && name.ends_with(".part") {
            let age = entry.metadata().and_then(|m| m.modified()).ok();
            let age = age.and_then(|t| t.elapsed().ok()).unwrap_or_default();
            if age > STALE_PART {
                parts.push(name);
            }
        }
    }
    dumps.sort();
    let old = dumps.len().saturating_sub(keep);
    let removed = (dumps.iter().take(old).chain(&parts))
        .filter(|name| std::fs::remove_file(dir.join(name)).is_ok())
        .count();
    if removed > 0 {
        eprintln!(
            "streamer: black box: removed {removed} old file(s) from {} (keeping the newest \
             {keep} dumps, --black-box-keep)",
            dir.display()
        );
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
    let stamp = utc_stamp(SystemTime::now());
    match write(dir, &stamp, frames) {
        Ok((path, written, seconds)) => print_line(format_args!(
            "black_box path={} frames={written} seconds={seconds:.2} reason={reason}",
            path.display()
        )),
        Err(e) => eprintln!(
            "streamer: black box: {}: cannot write: {e}; the stream goes on",
            dir.join(format!("blackbox-{stamp}.mkv")).display()
        ),
    }
}

/// Names tried after `blackbox-STAMP.mkv` is taken (`-2` up to this), before giving up.
const MAX_SUFFIX: u32 = 9;

/// Writes the dump into a hidden `.part` file of its own in `dir`, synced, then gives it the
/// first free name of `blackbox-STAMP.mkv`, `blackbox-STAMP-2.mkv`, ...: a dump is never seen
/// half written (a crash leaves only the `.part`), never replaces a file (two streamers
/// sharing the directory, or a clock stepped back), and a failure removes only its own
/// `.part`. Returns the name, the frames written and the seconds they span.
fn write(dir: &Path, stamp: &str, frames: &[Kept]) -> io::Result<(PathBuf, u64, f64)> {
    let part = dir.join(format!(".blackbox-{stamp}-{}.part", std::process::id()));
    // Whatever was written is of no use and may be filling a full disk: removed on any
    // failure, except when opening it found the name taken (then it is not ours).
    let (frames, seconds) = write_part(&part, frames).inspect_err(|e| {
        if e.kind() != io::ErrorKind::AlreadyExists {
            let _ = std::fs::remove_file(&part);
        }
    })?;
    let path = publish(dir, stamp, &part).inspect_err(|_| {
        let _ = std::fs::remove_file(&part);
    })?;
    Ok((path, frames, seconds))
}

/// Links the finished `part` to the first free name (a hard link fails where the name exists,
/// so nothing is replaced), then removes `part`. Where the filesystem has no hard links
/// (FAT on a USB stick), a rename to a name that did not exist a moment before.
fn publish(dir: &Path, stamp: &str, part: &Path) -> io::Result<PathBuf> {
    for n in 1..=MAX_SUFFIX {
        let name = match n {
            1 => format!("blackbox-{stamp}.mkv"),
            n => format!("blackbox-{stamp}-{n}.mkv"),
        };
        let path = dir.join(name);
        match std::fs::hard_link(part, &path) {
            Ok(()) => {
                std::fs::remove_file(part)?;
                sync_dir(dir);
                return Ok(path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) if !path.exists() => {
                std::fs::rename(part, &path)?;
                sync_dir(dir);
                return Ok(path);
            }
            Err(_) => continue,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("blackbox-{stamp}.mkv and -2 to -{MAX_SUFFIX} are all taken"),
    ))
}

/// Syncs the directory so that the new name is on disk too; best effort (some filesystems
/// cannot sync a directory, and the file's own bytes are synced already).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The JPEG frames (others are left out: a Matroska MJPEG track holds JPEG only) into a new
/// file at `path`, synced to disk; returns the frames written and the seconds they span.
fn write_part(path: &Path, frames: &[Kept]) -> io::Result<(u64, f64)> {
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

    /// Past `keep` dumps the oldest go, whatever else the directory holds; a crash's old
    /// `.part` goes, a fresh one (another streamer writing) stays.
    #[test]
    fn only_the_newest_dumps_are_kept() {
        let dir = std::env::temp_dir().join(format!("black-box-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dumps: Vec<String> = (1..=5)
            .map(|d| format!("blackbox-2026120{d}-120000.000.mkv"))
            .collect();
        let others = ["notes.txt", ".blackbox-20261207-120000.000-42.part"];
        for name in dumps.iter().map(String::as_str).chain(others) {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let stale = dir.join(".blackbox-20261201-120000.000-41.part");
        let file = File::create(&stale).unwrap();
        let old = SystemTime::now() - STALE_PART - Duration::from_secs(1);
        file.set_modified(old).unwrap();
        tidy(&dir, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want: Vec<String> = dumps[3..].to_vec();
        want.extend(others.iter().map(|s| s.to_string()));
        want.sort();
        assert_eq!(left, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
        let path = dir.join("blackbox-T.mkv");
        assert_eq!(write(&dir, "T", &frames).unwrap(), (path.clone(), 5, 0.16));
        let bytes = std::fs::read(&path).unwrap();
        let got = blocks(&bytes, elements(&bytes)[1].1.clone());
        let want: Vec<(u64, Vec<u8>)> = (0..5u8)
            .map(|i| (u64::from(i) * 40, jpeg(i * 40)))
            .collect();
        assert_eq!(got, want);
        // Never over an existing file: the same stamp again (two streamers, one directory)
        // gets the next name, the first file untouched, no `.part` left behind.
        let (second, _, _) = write(&dir, "T", &frames[..2]).unwrap();
        assert_eq!(second, dir.join("blackbox-T-2.mkv"));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["blackbox-T-2.mkv", "blackbox-T.mkv"]);
        // A failed dump (no JPEG) leaves nothing, and removes nobody else's file.
        let png = &frames[2..3];
        assert!(write(&dir, "T", png).is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        // Every name taken: refused, its `.part` gone too.
        for n in 3..=MAX_SUFFIX {
            std::fs::write(dir.join(format!("blackbox-T-{n}.mkv")), b"x").unwrap();
        }
        let e = write(&dir, "T", &frames).unwrap_err();
        assert!(e.to_string().ends_with("-2 to -9 are all taken"), "{e}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
