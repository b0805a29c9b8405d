//! MCAP recordings and MCAP as a source, judged by other people's readers: PyPI `mcap` +
//! `mcap-ros2-support` and rerun-sdk's importer (`tests/peers/mcap_check.py`, in the
//! virtualenv `scripts/py-env.sh` makes) decode every frame the viewer received, byte for byte;
//! a `kill -9`-cut file keeps its frames; `streamer --source` and `viewer --play` play files
//! of ours and of the Python writer at their recorded timing, `--topic` choosing the channel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use shared::files::replay::Recording;

use crate::support::*;
use crate::window::{pattern_streamer, Xvfb};

const LONG: Duration = Duration::from_secs(90);

/// The virtualenv's python: the tests fail without it, since `scripts/setup.sh` makes it.
pub(crate) fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".cache/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (or scripts/py-env.sh) for the MCAP readers",
        python.display()
    );
    python
}

pub(crate) fn peer_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("peers")
        .join(name)
}

/// `mcap_check.py FILE SAVE_DIR FLAGS`: its key=value line, or the test fails with its stderr.
fn check(file: &Path, saved: &Path, flags: &[&str]) -> HashMap<String, String> {
    let out = Command::new(python())
        .arg(peer_script("mcap_check.py"))
        .args([file, saved])
        .args(flags)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mcap_check: {stderr}");
    key_values(String::from_utf8_lossy(&out.stdout).trim_end())
}

/// Every frame of a recording as our reader finds it (`topic`: the MCAP channel), with times.
fn frames_of(path: &Path, topic: Option<&str>) -> Vec<(Vec<u8>, u64)> {
    let mut rec = Recording::open_topic(path, 1 << 24, topic).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(entry) = rec.next(&mut buf).unwrap() {
        out.push((buf.clone(), entry.time_us));
    }
    out
}

/// A headless viewer with `viewer_args` while `streamer ARGS VIEWER` runs to its end; returns
/// the streamer's output and the viewer's stdout once it is stopped.
fn session(viewer_args: &[&str], streamer_args: &[&str]) -> (Output, String) {
    let mut args = vec!["--headless"];
    args.extend_from_slice(viewer_args);
    let viewer = Viewer::start(&args, &[]);
    let mut sargs = streamer_args.to_vec();
    sargs.extend(["--quiet", viewer.addr.as_str()]);
    let streamer = run("streamer", &sargs, LONG);
    let stderr = String::from_utf8_lossy(&streamer.stderr).into_owned();
    assert!(streamer.status.success(), "{stderr}");
    let (status, out) = viewer.terminate(Duration::from_secs(20));
    assert!(status.success(), "{out}");
    (streamer, out)
}

const PATTERN: [&str; 8] = [
    "--source", "test", "--size", "320x240", "--fps", "30", "--name", "front",
];

#[test]
fn mcap_recording_is_read_by_python_and_rerun_and_replays_byte_for_byte_on_time() {
    let _lock = heavy();
    let dir = TempDir::new("mcap-record");
    let (file, first) = (dir.path("run.mcap"), dir.path("first"));
    let (file_s, first_s) = (file.to_str().unwrap(), first.to_str().unwrap());
    session(
        &["--record", file_s, "--save-dir", first_s],
        &[&PATTERN[..], &["--frames", "90"]].concat(),
    );
    let got = check(&file, &first, &["--rerun"]);
    assert_eq!(got["frames"], "90");
    assert_eq!(got["saved"], "90");
    assert_eq!(got["summary"], "yes");
    assert_eq!(got["topic"], "/front/image/compressed");
    assert_eq!(got["rerun_images"], "90");
    // Three seconds in chunks of about one, and the streamer's in-band times made latency
    // figures once its clock estimate was known.
    assert!(got["chunks"].parse::<u32>().unwrap() >= 3, "{got:?}");
    assert!(
        got["latency_known"].parse::<u32>().unwrap() >= 60,
        "{got:?}"
    );

    // Sent again from the file: the same bytes, at the recorded timing (within 5 %).
    let (again, again_file) = (dir.path("again"), dir.path("again.mcap"));
    let (s, _) = session(
        &[
            "--record",
            again_file.to_str().unwrap(),
            "--save-dir",
            again.to_str().unwrap(),
        ],
        &["--source", file_s],
    );
    let stderr = String::from_utf8_lossy(&s.stderr);
    assert!(stderr.contains("at its recorded times"), "{stderr}");
    assert!(saved(&first) == saved(&again), "the replayed frames differ");
    let duration = |f: &[(Vec<u8>, u64)]| f.last().unwrap().1 as f64 / 1e6;
    let (want, got) = (
        duration(&frames_of(&file, None)),
        duration(&frames_of(&again_file, None)),
    );
    assert!(want > 2.5, "recorded {want} s");
    assert!(
        (got - want).abs() <= want * 0.05,
        "replayed in {got} s, recorded {want} s"
    );

    // Played in the viewer, headless: every frame decoded, one line each.
    let out = Command::new(bin("viewer"))
        .args(["--play", file_s, "--headless", "--measure"])
        .output()
        .unwrap();
    assert_ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("frame=")).count(),
        90
    );
    assert_eq!(summary(&stdout)["decoded"], "90");
}

#[test]
fn record_format_mcap_names_a_directory_s_files_as_r_does() {
    let _lock = heavy();
    let dir = TempDir::new("mcap-dir");
    let (target, first) = (
        format!("{}/", dir.path("recs").display()),
        dir.path("first"),
    );
    std::fs::create_dir_all(&target).unwrap();
    session(
        &[
            "--record",
            &target,
            "--record-format",
            "mcap",
            "--save-dir",
            first.to_str().unwrap(),
        ],
        &[&PATTERN[..], &["--frames", "20"]].concat(),
    );
    let file = only_file(Path::new(&target), "record-front-127.0.0.1_", ".mcap");
    let got = check(&file, &first, &[]);
    assert_eq!(got["frames"], "20");
    assert_eq!(got["topic"], "/front/image/compressed");
}

#[test]
fn an_mcap_recording_cut_by_kill_9_keeps_all_but_its_last_second() {
    let _lock = heavy();
    let dir = TempDir::new("mcap-kill");
    let (file, first) = (dir.path("cut.mcap"), dir.path("first"));
    let mut viewer = Viewer::start(
        &[
            "--headless",
            "--record",
            file.to_str().unwrap(),
            "--save-dir",
            first.to_str().unwrap(),
        ],
        &[],
    );
    let streamer = Background::start(
        "streamer",
        &[&PATTERN[..], &["--frames", "600", "--quiet", &viewer.addr]].concat(),
    );
    // Killed once 3 s of frames have arrived.
    let deadline = Instant::now() + LONG;
    while saved(&first).len() < 90 {
        assert!(Instant::now() < deadline, "frames did not arrive");
        std::thread::sleep(Duration::from_millis(20));
    }
    viewer.child.kill().unwrap();
    viewer.child.wait().unwrap();
    let received = saved(&first).len();
    drop(streamer);
    let got = check(&file, &first, &["--cut"]);
    let kept: usize = got["frames"].parse().unwrap();
    // At 30 fps, a second is 30 frames; the saver and the recorder each have a queue: slack.
    assert!(
        kept + 45 >= received && kept <= received,
        "{kept} of {received} frames survived kill -9"
    );
    // Our own reader plays it too, to its last whole chunk.
    let mut rec = Recording::open(&file, 1 << 24).unwrap();
    assert_eq!(rec.index().unwrap().0.len(), kept);
}

#[test]
fn topic_picks_a_channel_of_another_writer_s_file_and_bad_choices_are_one_line() {
    let _lock = heavy();
    let dir = TempDir::new("mcap-topic");
    let first = dir.path("first");
    session(
        &["--save-dir", first.to_str().unwrap()],
        &[&PATTERN[..], &["--frames", "10"]].concat(),
    );
    let (plain, zstd) = (dir.path("two.mcap"), dir.path("zstd.mcap"));
    for (file, flags) in [(&plain, &[][..]), (&zstd, &["--zstd"][..])] {
        let out = Command::new(python())
            .arg(peer_script("mcap_write.py"))
            .args([&first, file])
            .args(flags)
            .output()
            .unwrap();
        assert_ok(&out);
    }
    let sent = saved(&first);
    // The first image channel by default, /b with --topic: every other frame each.
    let a: Vec<Vec<u8>> = sent.iter().step_by(2).cloned().collect();
    let b: Vec<Vec<u8>> = sent.iter().skip(1).step_by(2).cloned().collect();
    for (topic, want) in [(None, &a), (Some("/b/image/compressed"), &b)] {
        let out_dir = dir.path(&format!("got-{}", topic.is_some()));
        let mut args = vec!["--source", plain.to_str().unwrap()];
        args.extend(topic.map(|t| ["--topic", t]).iter().flatten());
        session(&["--save-dir", out_dir.to_str().unwrap()], &args);
        assert!(saved(&out_dir) == *want, "topic {topic:?}");
    }
    // The viewer plays the topic asked for too: /b's five frames, each decoded.
    let out = Command::new(bin("viewer"))
        .args([
            "--play",
            plain.to_str().unwrap(),
            "--topic",
            "/b/image/compressed",
        ])
        .args(["--headless", "--measure"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        summary(&String::from_utf8_lossy(&out.stdout))["decoded"],
        "5"
    );
    // Recorded 50 ms apart on either topic: 100 ms between one topic's frames.
    let times: Vec<u64> = frames_of(&plain, None).iter().map(|f| f.1).collect();
    assert_eq!(times, [0, 100_000, 200_000, 300_000, 400_000]);
    // A topic that is not there, and compressed chunks: one line naming the file, no frames.
    let cases = [
        (
            &plain,
            Some("/c"),
            "no sensor_msgs/msg/CompressedImage channel /c (image channels: \
             /a/image/compressed /b/image/compressed)",
        ),
        (&zstd, None, "-compressed chunks are not read"),
    ];
    for (file, topic, what) in cases {
        let mut args = vec!["--source", file.to_str().unwrap()];
        args.extend(topic.map(|t| ["--topic", t]).iter().flatten());
        args.push("127.0.0.1:9");
        let out = run("streamer", &args, LONG);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.trim_end();
        assert!(
            line.lines().count() == 1 && line.contains(&*file.to_string_lossy()),
            "{stderr}"
        );
        assert!(line.contains(what), "{stderr}");
    }
}

/// Waits until `dir` holds at least `count` files.
fn wait_files(dir: &Path, count: usize) {
    let deadline = Instant::now() + LONG;
    while std::fs::read_dir(dir).map_or(0, |d| d.count()) < count {
        assert!(Instant::now() < deadline, "{} files did not come", count);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn r_with_record_format_mcap_records_the_shown_stream_into_mcap() {
    let _lock = heavy();
    let (save_dir, out, part) = (
        TempDir::new("mcap-r-saved"),
        TempDir::new("mcap-r-out"),
        TempDir::new("mcap-r-part"),
    );
    let x = Xvfb::start();
    let args = [
        "--record-format",
        "mcap",
        "--save-dir",
        save_dir.0.to_str().unwrap(),
        "--snapshot-dir",
        out.0.to_str().unwrap(),
    ];
    let viewer = Viewer::start(&args, &[("DISPLAY", x.display.as_str())]);
    let id = x.find_viewer_window();
    x.tool("xdotool", &["windowfocus", "--sync", &id]);
    let _streamer = pattern_streamer(&viewer.addr, "640x360");
    wait_files(&save_dir.0, 10);
    let press = |key: &str| {
        x.tool("xdotool", &["keydown", "--window", &id, key]);
        std::thread::sleep(Duration::from_millis(150));
        x.tool("xdotool", &["keyup", "--window", &id, key]);
    };
    press("r");
    // The file is made when the recording starts; then 45 more frames (1.5 s) arrive.
    wait_files(&out.0, 1);
    let received = std::fs::read_dir(&save_dir.0).unwrap().count();
    wait_files(&save_dir.0, received + 45);
    press("r");
    press("Escape");
    let (status, _) = viewer.wait(Duration::from_secs(20));
    assert!(status.success());
    let file = only_file(&out.0, "record-pattern-127.0.0.1_", ".mcap");
    // The recording is a run of the frames received: those saved files, judged by Python.
    let recorded = frames_of(&file, None);
    assert!(recorded.len() >= 40, "{} frames", recorded.len());
    let all = saved(&save_dir.0);
    let start = all.iter().position(|f| *f == recorded[0].0).unwrap();
    for (i, frame) in all[start..start + recorded.len()].iter().enumerate() {
        std::fs::write(part.path(&format!("{i:06}.jpg")), frame).unwrap();
    }
    let got = check(&file, &part.0, &[]);
    assert_eq!(got["frames"], recorded.len().to_string());
    assert_eq!(got["topic"], "/pattern/image/compressed");
}
