//! A headless viewer and a streamer on the test pattern, over loopback: both exit cleanly,
//! every frame is printed, received and decoded, and the picture survives the trip.

use std::time::Duration;

use shared::cli::Resolution;
use streamer::source::pattern::TestPattern;

use crate::support::*;

#[test]
fn test_pattern_streams_to_a_headless_viewer() {
    let _lock = heavy();
    let dir = TempDir::new("e2e");
    let snapshot = dir.path("last.ppm");
    let snapshot_arg = snapshot.to_str().unwrap();
    let viewer = Viewer::start(
        &["--headless", "--frames", "200", "--snapshot", snapshot_arg],
        &[],
    );
    let out = run(
        "streamer",
        &["--source", "test", "--frames", "200", &viewer.addr],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "streamer failed: {stderr}");

    // One line per frame, numbered 1..=200, each with a plausible size and latency.
    let frames: Vec<_> = stdout
        .lines()
        .filter(|l| l.starts_with("frame="))
        .map(key_values)
        .collect();
    assert_eq!(frames.len(), 200, "{stdout}");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["frame"], (i + 1).to_string());
        let bytes: usize = f["bytes"].parse().unwrap();
        assert!(
            bytes > 20_000,
            "a 720p test frame of only {bytes} bytes is not realistic"
        );
        let latency: f64 = f["latency_ms"].parse().unwrap();
        assert!(latency > 0.0 && latency < 5_000.0, "latency {latency}");
    }
    let s = summary(&stdout);
    assert_eq!(s["frames"], "200");
    for key in [
        "fps",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_max_ms",
        "bytes_per_frame",
        "dropped",
    ] {
        assert!(s.contains_key(key), "summary lacks {key}: {stdout}");
    }
    let p50: f64 = s["latency_p50_ms"].parse().unwrap();
    let max: f64 = s["latency_max_ms"].parse().unwrap();
    assert!(p50 > 0.0 && p50 <= max);

    let (status, vout) = viewer.wait(Duration::from_secs(20));
    assert!(status.success(), "viewer exited with {status}");
    let v = summary(&vout);
    assert_eq!(v["frames"], "200", "{vout}");
    assert_eq!(v["errors"], "0", "{vout}");
    // The decoder takes the newest frame: on an idle machine it decodes all 200, on a busy one
    // it may skip some, each counted. None is lost without a count, and most are decoded.
    let count = |k: &str| v[k].parse::<u64>().unwrap();
    assert_eq!(count("decoded") + count("dropped"), 200, "{vout}");
    assert!(count("decoded") >= 150, "{vout}");

    // The last picture the viewer decoded, against the source frame it came from. The pattern
    // moves 8 pixels a frame, so only the right frame scores well.
    let received = read_ppm(&snapshot);
    assert_eq!((received.width, received.height), (1280, 720));
    let pattern = TestPattern::new(Resolution::new(1280, 720).unwrap());
    // The timestamp mark survived quality 40; stamp the same time into the rebuilt frame.
    let stamp = shared::media::mark::read(1280, 720, |x, y| received.pixel(x, y)[1])
        .expect("no timestamp mark in the received picture");
    // The pattern's frame number counts captured frames: on a busy machine the capture
    // stage skips some the encoder could not take (the streamer's `dropped=`), so the last
    // frame sent is that much further along.
    let skipped: u64 = s["dropped"].parse().unwrap();
    let mut raw = Vec::new();
    let scores: Vec<(u64, f64)> = (190..200 + skipped)
        .map(|i| {
            pattern.render(i, &mut raw);
            pattern.stamp(stamp, &mut raw);
            (i, psnr(&received, &i420_to_rgb(&raw, 1280, 720)))
        })
        .collect();
    let (best, score) = scores
        .iter()
        .copied()
        .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    assert!(
        score >= 30.0,
        "PSNR {score:.1} dB for frame {best}; all: {scores:?}"
    );
    eprintln!("PSNR of the last decoded frame ({best}) at quality 40: {score:.2} dB");
}

#[test]
fn a_bad_peer_gets_one_line_and_the_viewer_keeps_serving() {
    use std::io::{Read, Write};
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless", "--frames", "30"], &[]);
    let mut bad = std::net::TcpStream::connect(&viewer.addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let bad_addr = bad.local_addr().unwrap();
    bad.write_all(b"12a, ").unwrap();
    // Closed without an `ok`.
    let mut answer = Vec::new();
    bad.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"", "the viewer answered a bad flag");

    let out = run(
        "streamer",
        &[
            "--source",
            "test",
            "--fps",
            "0",
            "--frames",
            "30",
            "--size",
            "640x480",
            &viewer.addr,
        ],
        Duration::from_secs(30),
    );
    assert_ok(&out);
    let stderr_lines = viewer.stderr.clone();
    let (status, vout) = viewer.wait(Duration::from_secs(10));
    assert!(status.success());
    let v = summary(&vout);
    assert_eq!(
        (v["frames"].as_str(), v["errors"].as_str()),
        ("30", "1"),
        "{vout}"
    );
    let log = stderr_lines.lock().unwrap().join("\n");
    let want = format!("{bad_addr}: flag has a non-digit byte 0x61, closing");
    assert!(
        log.lines().any(|l| l == want),
        "no line {want:?} in:\n{log}"
    );
}

#[test]
fn sigterm_stops_both_sides_with_their_summaries() {
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let streamer = Background::start(
        "streamer",
        &[
            "--source",
            "test",
            "--fps",
            "30",
            "--size",
            "640x480",
            &viewer.addr,
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (status, stdout, _) = streamer.stop("TERM", Duration::from_secs(10));
    assert!(status.success(), "streamer exited with {status}");
    let sent: u64 = summary(&stdout)["frames"].parse().unwrap();
    assert!(sent >= 10, "{stdout}");

    let (status, vout) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success(), "viewer exited with {status}");
    assert_eq!(summary(&vout)["frames"], sent.to_string());
}

/// A snapshot that cannot be written at the end (here a directory stands where the file
/// goes; a full disk alike): the viewer says so and fails, after its summary, not instead
/// of it.
#[test]
fn a_snapshot_that_cannot_be_written_still_leaves_the_summary() {
    let _lock = heavy();
    let dir = TempDir::new("e2e-snapshot");
    let snapshot = dir.path("last.ppm");
    std::fs::create_dir_all(&snapshot).unwrap();
    let snapshot_arg = snapshot.to_str().unwrap();
    let viewer = Viewer::start(
        &["--headless", "--frames", "5", "--snapshot", snapshot_arg],
        &[],
    );
    let out = run(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            "160x120",
            "--frames",
            "5",
            &viewer.addr,
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success());
    let (status, stdout) = viewer.wait(Duration::from_secs(30));
    assert!(!status.success());
    assert_eq!(summary(&stdout)["frames"], "5", "{stdout}");
}
