//! `viewer --record` records what users mean: a port probe first takes nothing, a reconnect of
//! the same streamer continues the same file (the gap in its timestamps), and `--record DIR/`
//! gives each stream its own file. The files are read back with ffprobe.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::{
    assert_ok, heavy, key_values, packet_times, run, Background, Lines, TempDir, Viewer,
};

const LONG: Duration = Duration::from_secs(60);

/// A headless viewer recording with `record`, its stdout collected as it comes.
fn recording_viewer(record: &str, extra: &[&str]) -> (Viewer, Lines) {
    let mut args = vec!["--headless", "--record", record];
    args.extend_from_slice(extra);
    let mut viewer = Viewer::start(&args, &[]);
    let stdout = Lines::collect(viewer.child.stdout.take().unwrap());
    (viewer, stdout)
}

/// Runs a test-pattern streamer sending `frames` frames to `addr` to its end.
fn stream(addr: &str, frames: &str) {
    let args = [
        "--source", "test", "--size", "320x240", "--fps", "30", "--frames", frames,
    ];
    let out = run("streamer", &[&args[..], &["--quiet", addr]].concat(), LONG);
    assert_ok(&out);
}

/// Stops the viewer and returns its `recorded` lines and its summary.
fn finish(
    viewer: Viewer,
    stdout: &Lines,
) -> (Vec<HashMap<String, String>>, HashMap<String, String>) {
    let (status, _) = viewer.terminate(LONG);
    assert!(status.success());
    let summary = stdout.wait_for("summary:", 1, LONG);
    let recorded = stdout
        .all()
        .iter()
        .filter(|l| l.starts_with("recorded "))
        .map(|l| key_values(l))
        .collect::<Vec<_>>();
    // Written whole, every time here.
    assert!(
        recorded.iter().all(|r| r["write_error"] == "0"),
        "{recorded:?}"
    );
    (recorded, key_values(&summary[0]))
}

#[test]
fn record_skips_a_probe_connection_and_records_the_stream_after_it() {
    let _lock = heavy();
    let dir = TempDir::new("record-probe");
    let path = dir.path("run.mkv");
    let (viewer, stdout) = recording_viewer(path.to_str().unwrap(), &[]);
    // A health check: connect and close before the streamer starts.
    drop(TcpStream::connect(&viewer.addr).unwrap());
    let deadline = std::time::Instant::now() + LONG;
    while !viewer
        .stderr
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.ends_with(": closed before its first frame"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe's close was never seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!path.exists(), "the probe started a recording");
    stream(&viewer.addr, "30");
    let (recorded, summary) = finish(viewer, &stdout);
    assert_eq!(recorded.len(), 1, "{:?}", stdout.all());
    assert_eq!(PathBuf::from(&recorded[0]["path"]), path);
    assert_eq!(recorded[0]["frames"], "30");
    assert_eq!(packet_times(&path).len(), 30);
    assert_eq!(
        (
            summary["recordings"].as_str(),
            summary["recorded_frames"].as_str()
        ),
        ("1", "30")
    );
}

/// The same `--record FILE` run again (the command from the shell's history) keeps the first
/// run's recording whole: the second goes to `FILE-2`, and says so.
#[test]
fn record_never_overwrites_an_earlier_recording() {
    let _lock = heavy();
    let dir = TempDir::new("record-again");
    let path = dir.path("run.mkv");
    let mut paths = Vec::new();
    for frames in ["20", "12"] {
        let (viewer, stdout) = recording_viewer(path.to_str().unwrap(), &[]);
        stream(&viewer.addr, frames);
        let (recorded, _) = finish(viewer, &stdout);
        assert_eq!(recorded.len(), 1, "{:?}", stdout.all());
        assert_eq!(recorded[0]["frames"], frames);
        paths.push(PathBuf::from(&recorded[0]["path"]));
    }
    assert_eq!(paths, [path.clone(), dir.path("run-2.mkv")]);
    assert_eq!(packet_times(&path).len(), 20, "the first run's recording");
    assert_eq!(packet_times(&paths[1]).len(), 12);
}

#[test]
fn record_continues_the_same_file_when_the_streamer_reconnects() {
    let _lock = heavy();
    let dir = TempDir::new("record-reconnect");
    let path = dir.path("run.mkv");
    let (viewer, stdout) = recording_viewer(path.to_str().unwrap(), &["--read-timeout", "30"]);
    stream(&viewer.addr, "20");
    // The Wi-Fi blip: at least this long between the runs, visible in the timestamps.
    std::thread::sleep(Duration::from_millis(600));
    stream(&viewer.addr, "25");
    stdout.wait_for("recording_continues ", 1, LONG);
    let (recorded, _) = finish(viewer, &stdout);
    assert_eq!(recorded.len(), 1, "one file: {:?}", stdout.all());
    assert_eq!(recorded[0]["frames"], "45");
    assert_eq!(recorded[0]["connections"], "2");
    let times = packet_times(&path);
    assert_eq!(times.len(), 45);
    let gap = times[20] - times[19];
    assert!(gap >= 0.6, "the reconnect's gap is {gap} s: {times:?}");
}

#[test]
fn record_into_a_directory_gives_each_stream_its_own_file() {
    let _lock = heavy();
    let dir = TempDir::new("record-dir");
    let target = format!("{}/streams/", dir.0.display());
    let (viewer, stdout) = recording_viewer(&target, &[]);
    let args = [
        "--source",
        "test",
        "--size",
        "320x240",
        "--fps",
        "30",
        "--quiet",
        "--name",
        "cam",
        &viewer.addr,
    ];
    let a = Background::start("streamer", &args);
    let b = Background::start("streamer", &args);
    // Both streams are being recorded at once before either stops.
    stdout.wait_for("recording ", 2, LONG);
    a.stop("TERM", LONG);
    b.stop("TERM", LONG);
    let (recorded, summary) = finish(viewer, &stdout);
    assert_eq!(recorded.len(), 2, "{:?}", stdout.all());
    let mut total = 0;
    for r in &recorded {
        let path = PathBuf::from(&r["path"]);
        assert_eq!(path.parent(), Some(dir.path("streams").as_path()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            // Named after the stream (the second `cam` is `cam#2`), then the peer.
            (name.starts_with("record-cam-127.0.0.1_")
                || name.starts_with("record-cam#2-127.0.0.1_"))
                && name.ends_with(".mkv"),
            "{name}"
        );
        let frames: usize = r["frames"].parse().unwrap();
        assert!(frames > 0);
        assert_eq!(packet_times(&path).len(), frames);
        total += frames;
    }
    assert_ne!(recorded[0]["path"], recorded[1]["path"]);
    assert_eq!(summary["recordings"], "2");
    assert_eq!(summary["recorded_frames"], total.to_string());
}
