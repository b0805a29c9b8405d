//! Options end to end: IPv6 and host names on both sides, `--workers`, a `.webm` recording as
//! a source, the viewer's `--size` under Xvfb, and every out-of-range flag refused at start
//! with a line naming it (never a panic, never a program that runs on with it).

use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::window::Xvfb;

const LIMIT: Duration = Duration::from_secs(60);

/// `count` test-pattern frames from a streamer with `extra` flags to `addr`; returns the
/// streamer's summary and the viewer's.
fn stream(viewer: Viewer, addr: &str, count: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--source", "test", "--size", "320x240", "--frames", count];
    args.extend_from_slice(extra);
    args.push(addr);
    let out = run("streamer", &args, LIMIT);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "streamer to {addr}: {err}");
    let (status, vout) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
    (String::from_utf8_lossy(&out.stdout).to_string(), vout)
}

#[test]
fn ipv6_loopback_on_both_sides() {
    let _lock = heavy();
    let viewer = Viewer::start_on("[::1]:0", &["--headless"], &[]);
    let addr = viewer.addr.clone();
    assert!(addr.starts_with("[::1]:"), "{addr}");
    let log = viewer.stderr.clone();
    let (out, vout) = stream(viewer, &addr, "20", &[]);
    assert_eq!(summary(&out)["frames"], "20", "{out}");
    assert_eq!(summary(&vout)["frames"], "20", "{vout}");
    // The viewer names its peer by its IPv6 address.
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("[::1]:"), "{log}");
}

#[test]
fn a_host_name_reaches_the_viewer() {
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let port = viewer.addr.rsplit(':').next().unwrap().to_string();
    let (out, vout) = stream(viewer, &format!("localhost:{port}"), "20", &[]);
    assert_eq!(summary(&out)["frames"], "20", "{out}");
    assert_eq!(summary(&vout)["frames"], "20", "{vout}");
}

/// Three encoders on successive frames: every frame arrives, decodes and is counted once.
#[test]
fn workers_encode_every_frame_once() {
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let addr = viewer.addr.clone();
    let (out, vout) = stream(viewer, &addr, "90", &["--workers", "3", "--fps", "0"]);
    let s = summary(&out);
    assert_eq!(s["frames"], "90", "{out}");
    // Per-frame lines count 1..=90 in order: acknowledged in the order they were sent.
    let numbers: Vec<u64> = out
        .lines()
        .filter(|l| l.starts_with("frame="))
        .map(|l| key_values(l)["frame"].parse().unwrap())
        .collect();
    assert_eq!(numbers, (1..=90).collect::<Vec<_>>());
    let v = summary(&vout);
    assert_eq!(v["frames"], "90", "{vout}");
    assert_eq!(v["errors"], "0", "{vout}");
    let decoded: u64 = v["decoded"].parse().unwrap();
    let dropped: u64 = v["dropped"].parse().unwrap();
    assert_eq!(decoded + dropped, 90, "{vout}");
}

/// A recording named `.webm` (Matroska's web profile) is replayed byte for byte like `.mkv`.
#[test]
fn a_webm_recording_is_a_source() {
    let _lock = heavy();
    let dir = TempDir::new("options-webm");
    let mkv = dir.path("ff.mkv");
    crate::replay::ffmpeg_file(&mkv, "mjpeg");
    let webm = dir.path("ff.webm");
    std::fs::copy(&mkv, &webm).unwrap();
    let saved = dir.path("saved");
    let viewer = Viewer::start(&["--headless", "--save-dir", saved.to_str().unwrap()], &[]);
    let args = [
        "--source",
        webm.to_str().unwrap(),
        "--fps",
        "0",
        &viewer.addr,
    ];
    let out = run("streamer", &args, LIMIT);
    assert_ok(&out);
    let (status, vout) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(summary(&vout)["frames"], "30", "{vout}");
    let mut files: Vec<_> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let got: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let want = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&webm)
        .args(["-c", "copy", "-f", "mjpeg", "-"])
        .output_within(TOOL_LIMIT)
        .unwrap();
    assert!(want.status.success());
    assert!(got == want.stdout, "the frames sent are not the file's");
}

#[test]
fn the_viewer_window_opens_at_its_size() {
    let _lock = heavy();
    let x = Xvfb::start();
    let viewer = Viewer::start(&["--size", "640x360"], &[("DISPLAY", &x.display)]);
    let id = x.find_viewer_window();
    let (_, _, w, h) = x.geometry(&id);
    assert_eq!((w, h), (640, 360));
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// Each bad value stops the program at once with a line naming the flag, before it connects
/// or listens anywhere.
#[test]
fn out_of_range_flags_are_refused_at_start_naming_the_flag() {
    let dir = TempDir::new("options-secret");
    let key = dir.path("key");
    std::fs::write(&key, "sixteen or more bytes of secret\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();
    let streamer: &[(&[&str], &str)] = &[
        // `size` and `len32` have no exchange to prove the viewer or seal the frames.
        (
            &["--secret", key, "--protocol", "len32"],
            "--secret needs --protocol flag",
        ),
        (
            &["--secret", key, "--protocol", "size"],
            "--secret needs --protocol flag",
        ),
        (&["--quality", "0"], "--quality"),
        (&["--quality", "101"], "--quality"),
        (&["--workers", "0"], "--workers"),
        (&["--workers", "17"], "--workers"),
        (&["--slices", "17"], "--slices"),
        (&["--window", "0"], "--window"),
        (&["--window", "17"], "--window"),
        (&["--fresh", "--window", "3"], "--fresh"),
        (&["--size", "0x240"], "--size"),
        (&["--size", "320"], "--size"),
        (&["--raw", "16384x16384"], "--raw"),
        (&["--fps=-1"], "--fps"),
        (&["--ack-timeout", "soon"], "--ack-timeout"),
        (
            &["--black-box", "5", "--black-box-mb", "0"],
            "--black-box-mb",
        ),
        (&["--name", "two words"], "--name"),
        (&["--protocol", "http"], "--protocol"),
        (&["--max-frame-bytes", "0"], "--max-frame-bytes"),
        (
            &["--max-frame-bytes", "18446744073709551615"],
            "--max-frame-bytes",
        ),
        (&["127.0.0.1:99999"], "VIEWER_ADDR"),
    ];
    let viewer: &[(&[&str], &str)] = &[
        (&["--size", "10"], "--size"),
        (&["--max-frame-bytes", "0"], "--max-frame-bytes"),
        (&["--http-max-per-client", "0"], "--http-max-per-client"),
        (&["--hud", "maybe"], "--hud"),
        (&["--listen", "nowhere"], "--listen"),
        (&["--allow", "10.0.0.0/33"], "--allow"),
        (&["--read-timeout=-5"], "--read-timeout"),
        (
            &["--http", "127.0.0.1:0", "--http-origin", "app.foxglove.dev"],
            "--http-origin",
        ),
        (
            &["--http", "127.0.0.1:0", "--http-origin", "https://a.dev/x"],
            "--http-origin",
        ),
        (
            &["--http-origin", "https://app.foxglove.dev"],
            "--http-origin",
        ),
    ];
    for (program, cases) in [("streamer", streamer), ("viewer", viewer)] {
        for (args, flag) in cases {
            let mut all = vec!["--source", "test"];
            if program == "viewer" {
                all = vec!["--headless"];
            }
            all.extend_from_slice(args);
            let out = run(program, &all, Duration::from_secs(20));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{program} {args:?} was accepted");
            assert!(err.contains(flag), "{program} {args:?}: {err}");
            assert!(!err.contains("panicked"), "{program} {args:?}: {err}");
        }
    }
}
