//! `streamer --black-box`: SIGUSR1 writes the last N seconds of sent frames as one Matroska
//! file that ffprobe reads, `--black-box-on-loss` writes it when the viewer vanishes, and a
//! missing directory gives its one line while the stream goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{bin, heavy, key_values, packet_times, signal, Lines, TempDir, Viewer};

const LONG: Duration = Duration::from_secs(60);
const FPS: f64 = 10.0;
const SECONDS: f64 = 3.0;

/// A test-pattern streamer at 10 fps keeping a 3 s black box, its stdout and stderr collected.
struct Streamer {
    child: Child,
    stdout: Lines,
    stderr: Lines,
}

impl Streamer {
    fn start(addr: &str, dir: &Path, extra: &[&str]) -> Streamer {
        let mut child = Command::new(bin("streamer"))
            .args(["--source", "test", "--size", "160x120", "--fps", "10"])
            .args(["--black-box", "3", "--black-box-dir"])
            .arg(dir)
            .args(extra)
            .arg(addr)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Lines::collect(child.stdout.take().unwrap());
        let stderr = Lines::collect(child.stderr.take().unwrap());
        Streamer {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits until `n` frames in all were acknowledged.
    fn wait_frames(&self, n: usize) {
        self.stdout.wait_for("frame=", n, LONG);
    }

    /// The first `black_box` line.
    fn dump_line(&self) -> HashMap<String, String> {
        key_values(&self.stdout.wait_for("black_box ", 1, LONG)[0])
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks a dump with ffprobe: its frame count matches the line's, and its frames span what
/// the line says.
fn check_dump(line: &HashMap<String, String>, dir: &Path) -> (usize, f64) {
    let path = PathBuf::from(&line["path"]);
    assert_eq!(path.parent(), Some(dir));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("blackbox-") && name.ends_with(".mkv"),
        "{name}"
    );
    let frames: usize = line["frames"].parse().unwrap();
    let times = packet_times(&path);
    assert_eq!(times.len(), frames, "ffprobe's count and the line's differ");
    let span = times[frames - 1] - times[0];
    let said: f64 = line["seconds"].parse().unwrap();
    assert!(
        (span - said).abs() <= 0.011,
        "{span} s in the file, {said} said"
    );
    (frames, span)
}

#[test]
fn black_box_sigusr1_writes_the_last_seconds_and_ffprobe_reads_them() {
    let _lock = heavy();
    let dir = TempDir::new("black-box-signal");
    let viewer = Viewer::start(&["--headless"], &[]);
    let streamer = Streamer::start(&viewer.addr, &dir.0, &[]);
    // Well past the black box's 3 s, so that it is full.
    streamer.wait_frames(60);
    signal(&streamer.child, "USR1");
    let line = streamer.dump_line();
    assert_eq!(line["reason"], "signal");
    let (frames, span) = check_dump(&line, &dir.0);
    let want = FPS * SECONDS;
    assert!(
        (frames as f64 - want).abs() <= 1.0,
        "{frames} frames for the last {SECONDS} s at {FPS} fps"
    );
    assert!(
        (SECONDS - 2.0 / FPS..=SECONDS).contains(&span),
        "spans {span} s"
    );
    // The stream went on meanwhile and goes on.
    let before = streamer.stdout.wait_for("frame=", 1, LONG).len();
    streamer.wait_frames(before + 10);
}

#[test]
fn black_box_on_loss_writes_when_the_viewer_vanishes() {
    let _lock = heavy();
    let dir = TempDir::new("black-box-loss");
    let viewer = Viewer::start(&["--headless"], &[]);
    // Overlapping frames here (the signal test sends strictly): both senders feed the box.
    let extra = ["--black-box-on-loss", "--window", "3"];
    let streamer = Streamer::start(&viewer.addr, &dir.0, &extra);
    streamer.wait_frames(40);
    assert!(
        !streamer
            .stdout
            .all()
            .iter()
            .any(|l| l.starts_with("black_box ")),
        "a dump while the viewer was there"
    );
    signal(&viewer.child, "KILL");
    let line = streamer.dump_line();
    assert_eq!(line["reason"], "loss");
    let (frames, _) = check_dump(&line, &dir.0);
    // The seconds before the dropout: a full black box.
    assert!(
        (frames as f64 - FPS * SECONDS).abs() <= 1.0,
        "{frames} frames"
    );
    // One dump per outage, however long it lasts.
    std::thread::sleep(Duration::from_secs(3));
    let dumps = streamer
        .stdout
        .all()
        .iter()
        .filter(|l| l.starts_with("black_box "))
        .count();
    assert_eq!(dumps, 1);
}

#[test]
fn black_box_missing_dir_gives_its_line_and_the_stream_goes_on() {
    let _lock = heavy();
    let dir = TempDir::new("black-box-missing");
    let missing = dir.path("not-there");
    let viewer = Viewer::start(&["--headless"], &[]);
    let streamer = Streamer::start(&viewer.addr, &missing, &[]);
    let said = format!(
        "streamer: black box: {}: not a directory; dumps fail until it is one",
        missing.display()
    );
    streamer.stderr.wait_for(&said, 1, LONG);
    streamer.wait_frames(20);
    signal(&streamer.child, "USR1");
    let prefix = format!("streamer: black box: {}/blackbox-", missing.display());
    let line = &streamer.stderr.wait_for(&prefix, 1, LONG)[0];
    let suffix = ".mkv: cannot write: No such file or directory (os error 2); the stream goes on";
    assert!(
        line.starts_with(&prefix) && line.ends_with(suffix),
        "{line}"
    );
    let before = streamer.stdout.wait_for("frame=", 1, LONG).len();
    streamer.wait_frames(before + 10);
    assert!(!missing.exists());
}

/// Silent link loss: the viewer stops answering without closing (frozen with SIGSTOP, its
/// sockets open, as a viewer behind a dead Wi-Fi link looks). `--ack-timeout 2` gives up on
/// the connection with its line and reconnects; `--black-box-on-loss` writes the seconds
/// before the outage once no frame has gone out for 2 s; the stream resumes when the viewer
/// does.
#[test]
fn silent_link_loss_times_out_dumps_the_black_box_and_resumes() {
    let _lock = heavy();
    let dir = TempDir::new("black-box-silent");
    let viewer = Viewer::start(&["--headless"], &[]);
    let extra = ["--black-box-on-loss", "--ack-timeout", "2"];
    let streamer = Streamer::start(&viewer.addr, &dir.0, &extra);
    streamer.wait_frames(40);
    signal(&viewer.child, "STOP");
    let frozen = std::time::Instant::now();
    let line = streamer.dump_line();
    assert_eq!(line["reason"], "loss");
    let (frames, _) = check_dump(&line, &dir.0);
    assert!(
        (frames as f64 - FPS * SECONDS).abs() <= 1.0,
        "{frames} frames"
    );
    // The ack timeout, said with the time it waited, then a reconnection attempt.
    let said = format!(
        "streamer: {}: no ok within 2.0 s; reconnecting",
        viewer.addr
    );
    streamer.stderr.wait_for(&said, 1, LONG);
    assert!(
        frozen.elapsed() >= Duration::from_millis(1900),
        "gave up after {:?}, before its ack timeout",
        frozen.elapsed()
    );
    signal(&viewer.child, "CONT");
    let before = streamer.stdout.wait_for("frame=", 1, LONG).len();
    streamer.wait_frames(before + 10);
    let dumps = streamer
        .stdout
        .all()
        .iter()
        .filter(|l| l.starts_with("black_box "))
        .count();
    assert_eq!(dumps, 1, "one dump per outage");
}
