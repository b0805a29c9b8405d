//! Glass-to-glass across clocks that differ (issue: honest latency between two machines): the
//! streamer runs under libfaketime (Debian package `faketime`, installed by scripts/setup.sh),
//! which shifts or steps its wall clock and leaves its monotonic clock alone, as a board whose
//! clock is off does. The viewer's figures must not move with the shift; a step must be followed
//! within a few frames, never printed as a wrong figure; hostile timestamps are refused and
//! counted; the hub carries the new figures.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use shared::wire::ext::{self, Answer, FrameMeta, Hello};
use shared::wire::protocol::FlagBytes;

use crate::secret::read_hello;
use crate::support::{bin, heavy, key_values, summary, Background, TempDir, Viewer};

/// libfaketime's preload library; a missing one fails the test (setup installs it).
fn libfaketime() -> PathBuf {
    for dir in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ] {
        let path = PathBuf::from(dir).join("faketime/libfaketime.so.1");
        if path.exists() {
            return path;
        }
    }
    panic!("libfaketime.so.1 not found: install the faketime package (scripts/setup.sh)");
}

/// A streamer of the test pattern whose wall clock is `FAKETIME` from `spec_file` (re-read on
/// every call, so a test can step it mid-run); its monotonic clock is the real one.
fn faked_streamer(viewer: &str, spec_file: &std::path::Path, frames: u32) -> Background {
    let mut command = Command::new(bin("streamer"));
    command
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", spec_file)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .args([viewer, "--source", "test", "--size", "640x480", "--quiet"])
        .args(["--frames", &frames.to_string()]);
    Background::start_command(&mut command, Stdio::null())
}

/// A headless measuring viewer whose stdout lines arrive on a channel as they are printed.
fn measuring_viewer(frames: u32, extra: &[&str]) -> (Viewer, mpsc::Receiver<String>) {
    let mut args = vec!["--headless", "--measure"];
    let count = frames.to_string();
    args.extend(["--frames", count.as_str()]);
    args.extend(extra);
    let mut viewer = Viewer::start(&args, &[]);
    let out = viewer.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (viewer, rx)
}

/// Every line the viewer prints until its summary (bounded by `limit`).
fn lines_until_summary(rx: &mpsc::Receiver<String>, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut lines = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with("summary:");
                lines.push(line);
                if done {
                    return lines;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no viewer summary within {limit:?}; got {lines:?}");
}

fn num(map: &std::collections::HashMap<String, String>, key: &str) -> f64 {
    map.get(key)
        .unwrap_or_else(|| panic!("no {key} in {map:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {map:?}"))
}

/// The per-frame lines' stages add up to their glass (each printed to 0.01 ms).
fn check_stages_add_up(lines: &[String]) -> usize {
    let mut measured = 0;
    for line in lines.iter().filter(|l| l.starts_with("peer=")) {
        let kv = key_values(line);
        if kv["glass_ms"] == "unknown" {
            continue;
        }
        let sum: f64 = [
            "encode_ms",
            "queue_ms",
            "link_ms",
            "decode_ms",
            "display_ms",
        ]
        .iter()
        .map(|k| num(&kv, k))
        .sum();
        assert!((sum - num(&kv, "glass_ms")).abs() < 0.04, "{line}");
        measured += 1;
    }
    measured
}

/// The streamer's clock an hour ahead, then 37 s behind: glass stays a loopback figure (the
/// unshifted run's is a few ms; an unnoticed shift would be an hour), every decoded frame is
/// measured, the offset found is the shift, within its error bound.
#[test]
fn shifted_clocks_both_ways_give_true_glass() {
    let _lock = heavy();
    let dir = TempDir::new("clock-shift");
    for (spec, shift_ms) in [("+3600s", 3_600_000.0), ("-37s", -37_000.0)] {
        let spec_file = dir.path("faketime");
        std::fs::write(&spec_file, spec).unwrap();
        let (viewer, rx) = measuring_viewer(90, &[]);
        let streamer = faked_streamer(&viewer.addr, &spec_file, 90);
        let lines = lines_until_summary(&rx, Duration::from_secs(60));
        let (_, s_out, s_err) = streamer.finish(Duration::from_secs(30));
        let (status, _) = viewer.wait(Duration::from_secs(10));
        assert!(status.success());
        let v = summary(&lines.join("\n"));
        assert_eq!(v["glass_frames"], v["decoded"], "{spec}: {v:?}");
        assert_eq!(v["glass_unknown"], "0", "{spec}");
        assert!(num(&v, "decoded") >= 80.0, "{spec}: {v:?}");
        // Viewer minus streamer: the streamer is `shift` ahead, so the offset is −shift.
        let (offset, error) = (num(&v, "clock_offset_ms"), num(&v, "clock_error_ms"));
        assert!(error <= 5.0, "{spec}: error bound {error} ms");
        assert!(
            (offset + shift_ms).abs() <= error + 1.0,
            "{spec}: offset {offset} ms"
        );
        assert!(num(&v, "glass_p50_ms") < 500.0, "{spec}: {v:?}");
        assert_eq!(
            check_stages_add_up(&lines),
            90 - v["dropped"].parse::<usize>().unwrap()
        );
        let s = summary(&s_out);
        assert!(
            (num(&s, "clock_offset_ms") + shift_ms).abs() <= 5.0,
            "{s_err}"
        );
    }
}

/// The streamer's wall clock steps 20 s ahead mid-run (as `date -s` or NTP would): the
/// streamer says so, the offset follows within a few frames, the frames in between say
/// "unknown" rather than a wrong figure, and every later frame is measured again.
#[test]
fn a_clock_step_mid_run_is_followed_within_a_few_frames() {
    let _lock = heavy();
    let dir = TempDir::new("clock-step");
    let spec_file = dir.path("faketime");
    std::fs::write(&spec_file, "+0s").unwrap();
    let (viewer, rx) = measuring_viewer(150, &[]);
    let streamer = faked_streamer(&viewer.addr, &spec_file, 150);
    let mut lines = Vec::new();
    // Wait for 40 measured frames (an event, not a time), then step.
    while lines.len() < 40 {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("frames");
        lines.push(line);
    }
    std::fs::write(&spec_file, "+20s").unwrap();
    lines.extend(lines_until_summary(&rx, Duration::from_secs(60)));
    let (_, _, s_err) = streamer.finish(Duration::from_secs(30));
    let (status, _) = viewer.wait(Duration::from_secs(10));
    assert!(status.success());
    assert!(s_err.contains("the clocks stepped"), "{s_err}");
    let frames: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("peer="))
        .map(|l| key_values(l))
        .collect();
    let unknown = frames.iter().filter(|f| f["glass_ms"] == "unknown").count();
    assert!(unknown <= 6, "{unknown} frames without a figure");
    for f in &frames {
        if f["glass_ms"] != "unknown" {
            assert!(num(f, "glass_ms") < 1000.0, "a wrong figure: {f:?}");
        }
    }
    let last = frames.last().unwrap();
    assert!(
        (num(last, "clock_offset_ms") + 20_000.0).abs() < 5.0,
        "{last:?}"
    );
    let v = summary(&lines.join("\n"));
    assert_eq!(num(&v, "glass_unknown") as usize, unknown);
}

/// A scripted streamer that speaks the exchange but sends the given absurd times: each kind is
/// refused, counted in `glass_unknown`, said once on stderr, and nothing crashes.
#[test]
fn hostile_timestamps_are_refused_and_counted() {
    let _lock = heavy();
    let jpeg = tiny_jpeg();
    // (capture time, clock record): 1970, ten years ahead, an offset of a century, a huge bound.
    let now = shared::wire::clock::wall_micros();
    let cases: [(u64, (i64, u32)); 4] = [
        (1_000_000, (0, 100)),
        (now + 315_360_000_000_000, (0, 100)),
        (now, (3_155_760_000_000_000, 100)),
        (now, (0, u32::MAX)),
    ];
    let per_case = 5;
    let frames = cases.len() * per_case;
    let viewer = Viewer::start(
        &["--headless", "--measure", "--frames", &frames.to_string()],
        &[],
    );
    let mut s = TcpStream::connect(&viewer.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&FlagBytes::extended(jpeg.len())).unwrap();
    let mut buf = Vec::new();
    let theirs = read_hello(&mut s, &mut buf);
    assert_eq!(theirs.window, Some(ext::MAX_WINDOW));
    let meta = |(capture, clock): (u64, (i64, u32))| FrameMeta {
        capture_us: Some(capture),
        encoded_us: Some(1000),
        sent_us: Some(1200),
        clock: Some(clock),
    };
    let mut out = Vec::new();
    Hello {
        version: 1,
        name: Some("hostile".into()),
        nonce: Some([7; 16]),
        meta: meta(cases[0]),
        ..Hello::default()
    }
    .encode(&mut out);
    s.write_all(&out).unwrap();
    let _second = read_hello(&mut s, &mut buf);
    s.write_all(&jpeg).unwrap();
    let mut answer = [0u8; Answer::LEN];
    s.read_exact(&mut answer).unwrap();
    for (i, case) in cases.iter().enumerate() {
        for k in 0..per_case {
            if i == 0 && k == 0 {
                continue;
            }
            let mut header = Vec::new();
            ext::encode_frame_header(jpeg.len() as u32, &meta(*case), &mut header);
            s.write_all(&header).unwrap();
            s.write_all(&jpeg).unwrap();
            s.read_exact(&mut answer).unwrap();
            assert!(Answer::parse(&answer).unwrap().is_some());
        }
    }
    let stderr = viewer.stderr.clone();
    let (status, out) = viewer.wait(Duration::from_secs(20));
    assert!(status.success());
    let v = summary(&out);
    assert_eq!(v["glass_unknown"], frames.to_string(), "{out}");
    assert_eq!(v["glass_frames"], "0");
    assert_eq!(v["clock_offset_ms"], "unknown");
    // One line per kind of trouble: implausible capture times, inconsistent times, a bound
    // too wide; not one per frame.
    let said: Vec<String> = stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("glass unknown:"))
        .cloned()
        .collect();
    assert_eq!(said.len(), 3, "{said:?}");
    for why in [
        "implausible_capture_time",
        "inconsistent_times",
        "clock_too_uncertain",
    ] {
        assert!(said.iter().any(|l| l.contains(why)), "{why}: {said:?}");
    }
}

/// A small valid JPEG.
fn tiny_jpeg() -> Vec<u8> {
    let pixels = vec![128u8; 64 * 48 * 3];
    let image = turbojpeg::Image {
        pixels: &pixels[..],
        width: 64,
        pitch: 64 * 3,
        height: 48,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, 80, turbojpeg::Subsamp::Sub2x2)
        .unwrap()
        .to_vec()
}

/// Through the emulated link with 5 ms out and 15 ms back, on one host (so the true offset is
/// 0): the estimate is off by half the asymmetry, as NTP's must be, and the true offset stays
/// inside the reported bound, so every glass figure is within that bound of the truth.
#[test]
fn an_asymmetric_link_keeps_the_truth_inside_the_bound() {
    let _lock = heavy();
    let (viewer, rx) = measuring_viewer(90, &[]);
    let relay = crate::link::Relay::start(
        &viewer.addr,
        &["--delay-up-ms", "5", "--delay-down-ms", "15"],
    );
    let streamer = Background::start(
        "streamer",
        &[
            &relay.addr,
            "--source",
            "test",
            "--size",
            "640x480",
            "--quiet",
            "--frames",
            "90",
        ],
    );
    let lines = lines_until_summary(&rx, Duration::from_secs(60));
    let (_, _, err) = streamer.finish(Duration::from_secs(30));
    let (status, _) = viewer.wait(Duration::from_secs(10));
    assert!(status.success());
    let v = summary(&lines.join("\n"));
    let (offset, error) = (num(&v, "clock_offset_ms"), num(&v, "clock_error_ms"));
    assert!(
        offset.abs() <= error,
        "truth 0 outside {offset} ± {error} ms: {err}"
    );
    // Half the difference of the two delays shows in the estimate; the bound covers it.
    assert!(offset < -2.0 && error >= 9.0, "{offset} ± {error} ms");
    // The link stage holds the 5 ms out (less the asymmetry error): it is no longer 0.
    assert!(num(&v, "link_p50_ms") + error >= 5.0, "{v:?}");
    assert_eq!(v["glass_frames"], v["decoded"]);
}

/// Two streamers both named `front` into one hub: the second becomes `front#2` (said once);
/// `/api/streams` gives each its name, stage medians and clock; `/metrics` labels each series
/// with the name and carries one histogram per stage, and promtool finds nothing wrong.
#[test]
fn the_hub_carries_names_stages_and_the_clock() {
    use crate::hub::{get, hub};
    use crate::support::wait_for;
    let _lock = heavy();
    let dir = TempDir::new("clock-metrics");
    let records = format!("{}/", dir.path("records").display());
    let (viewer, http) = hub(&["--measure", "--record", &records]);
    let start = |size: &str| {
        Background::start(
            "streamer",
            &[
                &viewer.addr,
                "--source",
                "test",
                "--size",
                size,
                "--quiet",
                "--name",
                "front",
            ],
        )
    };
    let (a, b) = (start("320x240"), start("352x288"));
    let api = || String::from_utf8_lossy(&get(&http, "/api/streams").body).to_string();
    wait_for("both streams measured", Duration::from_secs(30), || {
        let json = api();
        json.matches("\"link_p50_ms\"").count() == 2
    });
    let json = api();
    assert!(json.contains("\"name\":\"front\""), "{json}");
    assert!(json.contains("\"name\":\"front#2\""), "{json}");
    for key in [
        "encode_p50_ms",
        "queue_p50_ms",
        "decode_p50_ms",
        "display_p50_ms",
        "clock_offset_ms",
        "clock_error_ms",
    ] {
        assert!(json.contains(&format!("\"{key}\"")), "{key}: {json}");
    }
    let metrics = String::from_utf8_lossy(&get(&http, "/metrics").body).to_string();
    for stage in ["encode", "queue", "link", "decode", "display"] {
        let series = format!(",name=\"front#2\",stage=\"{stage}\",le=\"+Inf\"}}");
        assert!(metrics.contains(&series), "{stage}: {metrics}");
    }
    assert!(
        metrics.contains("viewer_stream_clock_error_seconds{"),
        "{metrics}"
    );
    crate::hub::promtool_check(&metrics);
    // /snapshot/NAME and /stream/NAME find a stream by name (`#` written %23 in a URL).
    for path in ["/snapshot/front", "/snapshot/front%232", "/snapshot/1"] {
        let r = get(&http, path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(&r.body[..2], b"\xFF\xD8", "{path}");
    }
    assert_eq!(get(&http, "/snapshot/rear").status, 404);
    let said = viewer
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| {
            l.starts_with("127.0.0.1:")
                && l.contains(": a live stream has the name front or its topic;")
        })
        .count();
    assert_eq!(said, 1);
    for s in [a, b] {
        let _ = s.stop("TERM", Duration::from_secs(10));
    }
    let _ = viewer.terminate(Duration::from_secs(10));
    // Recordings are named after their streams.
    let mut names: Vec<String> = std::fs::read_dir(dir.path("records"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("record-front#2-127.0.0.1_"),
        "{names:?}"
    );
    assert!(names[1].starts_with("record-front-127.0.0.1_"), "{names:?}");
}
