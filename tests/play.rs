//! `viewer --play`: a recording in the window under Xvfb, driven by xdotool: `Space` pauses
//! (no frame is handed over and the screen stands still), `Right`/`Left` step exactly one
//! frame (the timeline's text on screen says which, pixel for pixel), a click on the timeline
//! seeks there, `[`/`]` change the speed; headless, a line a frame, a recording cut in a
//! frame plays to its last whole frame, and files it cannot play get their one line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use shared::files::replay::Recording;
use viewer::window::timeline;

use crate::field::assert_text;
use crate::replay::ffmpeg_file;
use crate::support::*;
use crate::window::Xvfb;

/// Records `frames` frames of the 640x360 test pattern at 20 fps with `viewer --record`.
fn record(path: &Path, frames: &str) {
    record_at(path, frames, "640x360");
}

/// [`record`] at another picture size.
fn record_at(path: &Path, frames: &str, size: &str) {
    let viewer = Viewer::start(&["--headless", "--record", path.to_str().unwrap()], &[]);
    let streamer = run(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            size,
            "--fps",
            "20",
            "--frames",
            frames,
            "--quiet",
            &viewer.addr,
        ],
        Duration::from_secs(60),
    );
    assert!(streamer.status.success());
    let (status, _) = viewer.terminate(Duration::from_secs(20));
    assert!(status.success());
}

/// The recorded times of a file's frames, in microseconds.
fn times(path: &Path) -> Vec<u64> {
    let mut rec = Recording::open(path, 1 << 24).unwrap();
    rec.index().unwrap().0.iter().map(|e| e.time_us).collect()
}

/// A `viewer --play FILE --measure` whose stdout lines (`frame=N time_ms=T ...`) are
/// collected as they come.
struct Playing {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Playing {
    fn start(file: &Path, args: &[&str], env: &[(&str, &str)]) -> Playing {
        let mut child = Command::new(bin("viewer"))
            .arg("--play")
            .arg(file)
            .args(["--measure"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        // Its stderr goes to the test's, to be seen when a test fails.
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("viewer: {line}");
            }
        });
        Playing { child, lines }
    }

    /// The frame numbers handed over so far, in order.
    fn frames(&self) -> Vec<usize> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.starts_with("frame="))
            .map(|l| key_values(l)["frame"].parse().unwrap())
            .collect()
    }

    /// Waits until `count` frames have been handed over; returns them.
    fn wait_frames(&self, count: usize) -> Vec<usize> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let frames = self.frames();
            if frames.len() >= count {
                return frames;
            }
            assert!(
                Instant::now() < deadline,
                "only {} frames: {frames:?}",
                frames.len()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Playing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The timeline's text for frame `i` of `times`, paused, at `speed`, not looping.
fn bar_text(times: &[u64], i: usize, speed: f64) -> String {
    bar_text_looping(times, i, speed, false)
}

/// The timeline's text for frame `i` of `times`, paused, at `speed`, looping or not.
fn bar_text_looping(times: &[u64], i: usize, speed: f64, looping: bool) -> String {
    timeline::text(&viewer::play::control::Status {
        frame: i,
        frames: times.len(),
        time_us: times[i],
        duration_us: *times.last().unwrap(),
        paused: true,
        speed,
        looping,
    })
}

#[test]
fn play_pauses_steps_seeks_and_changes_speed_in_the_window() {
    let _lock = heavy();
    let dir = TempDir::new("play-window");
    let file = dir.path("rec.mkv");
    record(&file, "100");
    let times = times(&file);
    assert_eq!(times.len(), 100);
    // Our reader's count is ffprobe's.
    assert_eq!(packet_times(&file).len(), 100);

    let x = Xvfb::start();
    let play = Playing::start(&file, &["--hud", "off"], &[("DISPLAY", x.display.as_str())]);
    let id = x.find_viewer_window();
    x.tool("xdotool", &["windowfocus", "--sync", &id]);
    let press = |key: &str| {
        x.tool("xdotool", &["keydown", "--window", &id, key]);
        thread::sleep(Duration::from_millis(150));
        x.tool("xdotool", &["keyup", "--window", &id, key]);
        thread::sleep(Duration::from_millis(400));
    };
    let (_, _, w, h) = x.geometry(&id);
    let origin = timeline::text_origin((w, h));
    let scale = timeline::scale_for(w);
    play.wait_frames(5);

    // Pause: nothing more is handed over, the screen stands still, the bar says where.
    press("space");
    let paused = play.frames();
    let at = *paused.last().unwrap();
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(play.frames(), paused, "frames handed over while paused");
    let a = x.capture(&id, &dir, "a.ppm");
    assert_text(&a, &bar_text(&times, at, 1.0), origin, scale);
    thread::sleep(Duration::from_millis(500));
    assert!(
        x.capture(&id, &dir, "a2.ppm").data == a.data,
        "the screen moved while paused"
    );

    // Step forward, then back: exactly one frame each, and the bar on screen says so.
    press("Right");
    let stepped = play.wait_frames(paused.len() + 1);
    assert_eq!(stepped[paused.len()..], [at + 1]);
    thread::sleep(Duration::from_millis(300));
    let b = x.capture(&id, &dir, "b.ppm");
    assert_text(&b, &bar_text(&times, at + 1, 1.0), origin, scale);
    assert!(a.data != b.data, "the picture did not change");
    press("Left");
    let back = play.wait_frames(paused.len() + 2);
    assert_eq!(back[paused.len()..], [at + 1, at]);

    // A click three quarters along the timeline shows the frame recorded there.
    let (cx, cy) = ((w * 3 / 4).to_string(), (h - 3).to_string());
    x.tool("xdotool", &["mousemove", "--window", &id, &cx, &cy]);
    // Held like a person holds it: minifb polls the button's state.
    x.tool("xdotool", &["mousedown", "1"]);
    thread::sleep(Duration::from_millis(200));
    x.tool("xdotool", &["mouseup", "1"]);
    thread::sleep(Duration::from_millis(500));
    let sought = *play.frames().last().unwrap();
    let want = (w * 3 / 4) as f64 / (w - 1) as f64 * *times.last().unwrap() as f64;
    let interval = 60_000.0;
    let got = times[sought] as f64;
    assert!(
        got <= want && want - got < interval,
        "clicked at {want} us, shows {got} us (frame {sought})"
    );
    let c = x.capture(&id, &dir, "c.ppm");
    assert_text(&c, &bar_text(&times, sought, 1.0), origin, scale);

    // Speed: from the start at x1/4, a quarter of the frames the wall time would show at x1
    // (fewer on a busy machine, never more); at x4 a second shows well over a second.
    press("Home");
    wait_for("frame 0 after Home", Duration::from_secs(10), || {
        play.frames().last() == Some(&0)
    });
    let home = x.capture(&id, &dir, "home.ppm");
    assert_text(&home, &bar_text(&times, 0, 1.0), origin, scale);
    press("bracketleft");
    press("bracketleft");
    let before = play.frames().len();
    let started = Instant::now();
    press("space");
    thread::sleep(Duration::from_millis(2000));
    let slow = play.frames().len() - before;
    // 20 fps at x1/4 is 5 a second; the first comes at once.
    let most = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize + 2;
    assert!(
        (1..=most).contains(&slow),
        "{slow} frames at x1/4, at most {most} expected"
    );
    press("space");
    for _ in 0..4 {
        press("bracketright");
    }
    let from = *play.frames().last().unwrap();
    // Four steps up from x1/4 is x4 (the top), not x2: the bar says so.
    let fast = x.capture(&id, &dir, "fast.ppm");
    assert_text(&fast, &bar_text(&times, from, 4.0), origin, scale);
    let started = Instant::now();
    press("space");
    thread::sleep(Duration::from_millis(1000));
    let to = *play.frames().last().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let advanced = (times[to] - times[from]) as f64 / 1e6;
    assert!(
        advanced > 1.5 * wall.min(1.2),
        "{advanced} s of the recording in {wall} s at x4"
    );

    // `End` shows the last frame, where the playback stops (paused), and `L` turns looping
    // on: the bar says both.
    press("End");
    let last = times.len() - 1;
    wait_for("the last frame after End", Duration::from_secs(10), || {
        play.frames().last() == Some(&last)
    });
    press("l");
    let end = x.capture(&id, &dir, "end.ppm");
    assert_text(
        &end,
        &bar_text_looping(&times, last, 4.0, true),
        origin,
        scale,
    );

    // A drag along the timeline seeks as it goes: pressed at a quarter, let go at half way,
    // the frame shown is the one recorded at half way.
    let bar_y = (h - 3).to_string();
    let move_to = |px: usize| {
        let px = px.to_string();
        x.tool("xdotool", &["mousemove", "--window", &id, &px, &bar_y]);
        thread::sleep(Duration::from_millis(150));
    };
    move_to(w / 4);
    x.tool("xdotool", &["mousedown", "1"]);
    thread::sleep(Duration::from_millis(200));
    for step in 1..=4 {
        move_to(w / 4 + step * w / 16);
    }
    x.tool("xdotool", &["mouseup", "1"]);
    thread::sleep(Duration::from_millis(500));
    let dragged = *play.frames().last().unwrap();
    let want = (w / 2) as f64 / (w - 1) as f64 * *times.last().unwrap() as f64;
    let got = times[dragged] as f64;
    assert!(
        got <= want && want - got < interval,
        "dragged to {want} us, shows {got} us (frame {dragged})"
    );
    x.tool("xdotool", &["key", "--window", &id, "Escape"]);
}

#[test]
fn play_headless_hands_over_every_frame_and_a_cut_recording_to_its_last_whole_frame() {
    let _lock = heavy();
    let dir = TempDir::new("play-headless");
    let file = dir.path("rec.mkv");
    record(&file, "30");
    let whole = std::fs::read(&file).unwrap();
    let cut = dir.path("cut.mkv");
    // Three quarters of the file: a frame cut in the middle, as kill -9 leaves it.
    std::fs::write(&cut, &whole[..whole.len() * 3 / 4]).unwrap();
    for (path, cut_short) in [(&file, false), (&cut, true)] {
        let frames = times(path).len();
        if !cut_short {
            // The frames played are the file's packets as ffprobe counts them.
            assert_eq!(packet_times(path).len(), frames);
        }
        let out = Command::new(bin("viewer"))
            .args(["--play", path.to_str().unwrap(), "--headless", "--measure"])
            .output_within(TOOL_LIMIT)
            .unwrap();
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        let numbers: Vec<usize> = stdout
            .lines()
            .filter(|l| l.starts_with("frame="))
            .map(|l| key_values(l)["frame"].parse().unwrap())
            .collect();
        assert_eq!(numbers, (0..frames).collect::<Vec<_>>());
        assert_eq!(summary(&stdout)["decoded"], frames.to_string());
        let line = format!(
            "viewer: {}: the file ends inside a frame; playing up to its last whole frame",
            path.display()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().any(|l| l == line), cut_short, "{stderr}");
        if cut_short {
            assert!(frames > 10 && frames < 30, "{frames}");
        }
    }
    // H.264 and a file that is no recording: one line each, naming the file, and no window.
    let h264 = dir.path("h264.mkv");
    ffmpeg_file(&h264, "libx264");
    let text = dir.path("notes.mkv");
    std::fs::write(&text, "not a video").unwrap();
    for (path, what) in [
        (
            &h264,
            "the video track is V_MPEG4/ISO/AVC, not MJPEG (V_MJPEG); only MJPEG can be replayed",
        ),
        (
            &text,
            "not a recording: neither Matroska/WebM, MCAP, AVI nor concatenated JPEG",
        ),
    ] {
        let out = Command::new(bin("viewer"))
            .args(["--play", path.to_str().unwrap()])
            .env_remove("DISPLAY")
            .output_within(TOOL_LIMIT)
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.trim_end(),
            format!("viewer: {}: {what}", path.display())
        );
    }
}

/// Frames recorded at one instant are handed over back to back, faster than the decoder takes
/// them: each one is decoded or counted dropped (`--play` counted none before, so a third of
/// a fast recording could vanish from every count). 1080p frames, each handed over ten times,
/// so that the decoder (milliseconds a frame) cannot keep up with the hand-over (a copy).
#[test]
fn play_counts_the_frames_the_decoder_could_not_take() {
    let _lock = heavy();
    let dir = TempDir::new("play-dropped");
    let (file, burst) = (dir.path("rec.mkv"), dir.path("burst.mkv"));
    record_at(&file, "12", "1920x1080");
    let mut rec = Recording::open(&file, 1 << 24).unwrap();
    let out = std::fs::File::create(&burst).unwrap();
    let mut mkv = shared::files::matroska::write::Mkv::new(out, 1920, 1080).unwrap();
    let mut jpeg = Vec::new();
    while rec.next(&mut jpeg).unwrap().is_some() {
        for _ in 0..10 {
            mkv.frame(0, &jpeg).unwrap();
        }
    }
    mkv.finish(1.0).unwrap();
    let out = Command::new(bin("viewer"))
        .args(["--play", burst.to_str().unwrap(), "--headless"])
        .output_within(TOOL_LIMIT)
        .unwrap();
    assert!(out.status.success());
    let s = summary(&String::from_utf8_lossy(&out.stdout));
    let n = |k: &str| s[k].parse::<u64>().unwrap();
    assert_eq!(n("frames"), 120, "{s:?}");
    assert_eq!(n("decoded") + n("dropped") + n("errors"), 120, "{s:?}");
    assert!(n("dropped") > 0, "{s:?}");
}
