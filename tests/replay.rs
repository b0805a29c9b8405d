//! Replaying recordings: `streamer --source FILE` with the viewer's own recordings and
//! ffmpeg's MJPEG files (Matroska, AVI, concatenated JPEG): every frame byte for byte, the
//! recorded timing, `--fps 0`, `--loop`, and every bad input with its one line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shared::files::replay::Recording;

use crate::support::*;

/// Every frame of a recording, as the reader finds them, with their times.
pub(crate) fn frames_of(path: &Path) -> Vec<(Vec<u8>, u64)> {
    let mut rec = Recording::open(path, 1 << 24).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(entry) = rec.next(&mut buf).unwrap() {
        out.push((buf.clone(), entry.time_us));
    }
    out
}

/// A file's video packets as ffmpeg reads them, one after the other (`-c copy -f mjpeg`):
/// what our reader's frames must add up to, judged by a reader that is not ours.
fn ffmpeg_packets(path: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "mjpeg", "-"])
        .output_within(TOOL_LIMIT)
        .expect("ffmpeg (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Our reader's frame times against ffprobe's packet times (Matroska keeps milliseconds).
fn assert_times_match_ffprobe(path: &Path, frames: &[(Vec<u8>, u64)]) {
    let probed = packet_times(path);
    assert_eq!(probed.len(), frames.len(), "{}", path.display());
    for (i, (p, (_, t))) in probed.iter().zip(frames).enumerate() {
        let ours = (*t - frames[0].1) as f64 / 1e6;
        assert!(
            (p - probed[0] - ours).abs() < 0.0015,
            "{} frame {i}: ffprobe {p} s, ours {ours} s",
            path.display()
        );
    }
}

/// Runs a headless viewer with `args` while `streamer ARGS VIEWER` runs to its end; returns
/// the streamer's output and the viewer's stdout once it is stopped.
fn replay(viewer_args: &[&str], streamer_args: &[&str]) -> (std::process::Output, String) {
    let mut args = vec!["--headless"];
    args.extend_from_slice(viewer_args);
    let viewer = Viewer::start(&args, &[]);
    let mut sargs = streamer_args.to_vec();
    sargs.extend(["--quiet", viewer.addr.as_str()]);
    let streamer = run("streamer", &sargs, Duration::from_secs(60));
    // The viewer answered every frame before the streamer counted it; the saver and the
    // recorder finish their files on the way out.
    let (status, out) = viewer.terminate(Duration::from_secs(20));
    assert!(status.success(), "{out}");
    (streamer, out)
}

/// Where the middle of `frame`'s bytes lies in the file `whole`.
fn middle_of(whole: &[u8], frame: &[u8]) -> usize {
    let at = whole.windows(frame.len()).position(|w| w == frame).unwrap();
    at + frame.len() / 2
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn replay_of_a_viewer_recording_is_byte_identical_and_keeps_its_timing() {
    let _lock = heavy();
    let dir = TempDir::new("replay-own");
    let (first, again) = (dir.path("first"), dir.path("again"));
    let (rec, rec2) = (dir.path("rec.mkv"), dir.path("again.mkv"));
    let (s, _) = replay(
        &[
            "--record",
            rec.to_str().unwrap(),
            "--save-dir",
            first.to_str().unwrap(),
        ],
        &[
            "--source", "test", "--size", "320x240", "--fps", "20", "--frames", "60",
        ],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let recorded = frames_of(&rec);
    assert_eq!(recorded.len(), 60);
    assert_times_match_ffprobe(&rec, &recorded);
    assert_eq!(
        ffmpeg_packets(&rec),
        recorded
            .iter()
            .flat_map(|(f, _)| f.clone())
            .collect::<Vec<u8>>()
    );

    let (s, _) = replay(
        &[
            "--record",
            rec2.to_str().unwrap(),
            "--save-dir",
            again.to_str().unwrap(),
        ],
        &["--source", rec.to_str().unwrap()],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    assert!(
        stderr(&s).contains("at its recorded times"),
        "{}",
        stderr(&s)
    );
    let (sent, replayed) = (saved(&first), saved(&again));
    assert_eq!(replayed.len(), 60);
    assert!(
        sent == replayed,
        "the replayed frames differ from those first received"
    );
    // Both recordings timed alike: by the viewer, as the frames arrived.
    let duration = |frames: &[(Vec<u8>, u64)]| frames.last().unwrap().1 as f64 / 1e6;
    let replayed_rec = frames_of(&rec2);
    assert_times_match_ffprobe(&rec2, &replayed_rec);
    let (want, got) = (duration(&recorded), duration(&replayed_rec));
    assert!(want > 2.5, "recorded {want} s");
    assert!(
        (got - want).abs() <= want * 0.05,
        "replayed in {got} s, recorded {want} s"
    );
}

/// Makes a 30-frame 160x120 file with ffmpeg in `format` with `codec`.
pub(crate) fn ffmpeg_file(path: &Path, codec: &str) {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi"])
        .args([
            "-i",
            "testsrc=size=160x120:rate=25",
            "-frames:v",
            "30",
            "-c:v",
            codec,
        ])
        .arg(path)
        .output_within(TOOL_LIMIT)
        .expect("ffmpeg (scripts/setup.sh installs it)");
    assert_ok(&out);
}

#[test]
fn replay_sends_ffmpeg_mkv_avi_and_mjpeg_files_frame_for_frame() {
    let _lock = heavy();
    let dir = TempDir::new("replay-ffmpeg");
    for name in ["ff.mkv", "ff.avi", "ff.mjpeg"] {
        let file = dir.path(name);
        ffmpeg_file(&file, "mjpeg");
        let want: Vec<Vec<u8>> = frames_of(&file).into_iter().map(|(f, _)| f).collect();
        assert_eq!(want.len(), 30, "{name}");
        // Our reader's frames are ffmpeg's packets, byte for byte.
        assert!(
            ffmpeg_packets(&file) == want.concat(),
            "{name}: not ffmpeg's packets"
        );
        let out = dir.path(&format!("{name}.saved"));
        let (s, _) = replay(
            &["--save-dir", out.to_str().unwrap()],
            &["--source", file.to_str().unwrap(), "--fps", "0"],
        );
        assert!(s.status.success(), "{name}: {}", stderr(&s));
        assert!(
            stderr(&s).contains("at the pace the viewer takes them (--fps 0), to "),
            "{}",
            stderr(&s)
        );
        assert!(saved(&out) == want, "{name}: frames differ");
        // They are the JPEGs ffmpeg encoded: each decodes at the file's size.
        let header = turbojpeg::read_header(&want[29]).unwrap();
        assert_eq!((header.width, header.height), (160, 120), "{name}");
    }
}

#[test]
fn replay_loops_with_loop() {
    let _lock = heavy();
    let dir = TempDir::new("replay-loop");
    let file = dir.path("ff.avi");
    ffmpeg_file(&file, "mjpeg");
    let want: Vec<Vec<u8>> = frames_of(&file).into_iter().map(|(f, _)| f).collect();
    let out = dir.path("saved");
    let (s, _) = replay(
        &["--save-dir", out.to_str().unwrap()],
        &[
            "--source",
            file.to_str().unwrap(),
            "--fps",
            "0",
            "--loop",
            "--frames",
            "75",
        ],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let got = saved(&out);
    assert_eq!(got.len(), 75);
    for (i, frame) in got.iter().enumerate() {
        assert!(
            *frame == want[i % 30],
            "frame {i} is not frame {} of the file",
            i % 30
        );
    }
}

#[test]
fn replay_of_a_cut_recording_plays_to_its_last_whole_frame() {
    let _lock = heavy();
    let dir = TempDir::new("replay-cut");
    let file = dir.path("ff.mkv");
    ffmpeg_file(&file, "mjpeg");
    let whole = std::fs::read(&file).unwrap();
    let all = frames_of(&file);
    // Cut in the middle of frame 21's bytes, as a kill -9 during a write leaves it.
    let cut = dir.path("cut.mkv");
    std::fs::write(&cut, &whole[..middle_of(&whole, &all[20].0)]).unwrap();
    let out = dir.path("saved");
    let (s, _) = replay(
        &["--save-dir", out.to_str().unwrap()],
        &["--source", cut.to_str().unwrap(), "--fps", "0"],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let want: Vec<Vec<u8>> = all[..20].iter().map(|(f, _)| f.clone()).collect();
    assert!(saved(&out) == want, "not the 20 whole frames");
    let line = format!(
        "streamer: {}: the file ends inside a frame; replayed up to its last whole frame",
        cut.display()
    );
    assert!(stderr(&s).lines().any(|l| l == line), "{}", stderr(&s));
}

/// A power cut's tail: the file's length kept, its last bytes zero. With `--loop` the frames
/// before the damage play round after round (the damage ended the streamer before).
#[test]
fn a_recording_with_a_zeroed_tail_plays_its_frames_and_loops() {
    let _lock = heavy();
    let dir = TempDir::new("replay-zeroed");
    let file = dir.path("ff.mkv");
    ffmpeg_file(&file, "mjpeg");
    let mut bytes = std::fs::read(&file).unwrap();
    let all = frames_of(&file);
    let from = middle_of(&bytes, &all[20].0);
    bytes[from..].fill(0);
    let zeroed = dir.path("zeroed.mkv");
    std::fs::write(&zeroed, &bytes).unwrap();
    let source = zeroed.to_str().unwrap();
    let args = ["--source", source, "--fps", "0", "--loop", "--frames", "45"];
    let (s, _) = replay(&[], &args);
    assert!(s.status.success(), "{}", stderr(&s));
    assert_eq!(summary(&String::from_utf8_lossy(&s.stdout))["frames"], "45");
    assert!(
        stderr(&s)
            .lines()
            .any(|l| l.starts_with(&format!("streamer: {source}: "))
                && l.ends_with("; the rest of the file skipped in every round")),
        "{}",
        stderr(&s)
    );
}

#[test]
fn replay_bad_inputs_each_get_their_line() {
    let dir = TempDir::new("replay-bad");
    let h264 = dir.path("h264.mkv");
    ffmpeg_file(&h264, "libx264");
    let not = dir.path("notes.mkv");
    std::fs::write(&not, "shopping list\n").unwrap();
    let headers = dir.path("headers.mkv");
    let ff = dir.path("ff.mkv");
    ffmpeg_file(&ff, "mjpeg");
    std::fs::write(&headers, &std::fs::read(&ff).unwrap()[..40]).unwrap();
    let h264_avi = dir.path("h264.avi");
    ffmpeg_file(&h264_avi, "libx264");
    let missing = dir.path("missing.mkv");
    let cases: Vec<(&PathBuf, &[&str], String)> = vec![
        (
            &h264,
            &[],
            "the video track is V_MPEG4/ISO/AVC, not MJPEG (V_MJPEG); only MJPEG can be replayed"
                .into(),
        ),
        (
            &h264_avi,
            &[],
            "the video stream is H264, not MJPEG (MJPG); only MJPEG can be replayed".into(),
        ),
        (
            &not,
            &[],
            "not a recording: neither Matroska/WebM, MCAP, AVI nor concatenated JPEG".into(),
        ),
        (
            &headers,
            &[],
            "the file ends before its Tracks (no video track description)".into(),
        ),
        (
            &ff,
            &["--max-frame-bytes", "1000"],
            "is over --max-frame-bytes 1000".into(),
        ),
    ];
    for (path, extra, what) in cases {
        let mut args = vec!["--source", path.to_str().unwrap(), "--quiet"];
        args.extend_from_slice(extra);
        // Nothing listens there: a bad file is said before any connection is tried.
        args.push("127.0.0.1:9");
        let out = run("streamer", &args, Duration::from_secs(20));
        assert!(!out.status.success());
        let err = stderr(&out);
        let prefix = format!("streamer: {}: ", path.display());
        assert!(
            err.lines()
                .any(|l| l.starts_with(&prefix) && l.ends_with(&what)),
            "{}: wanted {what:?} in:\n{err}",
            path.display()
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = run(
        "streamer",
        &["--source", missing.to_str().unwrap(), "127.0.0.1:9"],
        Duration::from_secs(20),
    );
    assert!(stderr(&out).contains(&format!("{}: cannot open", missing.display())));
}

#[test]
fn replay_skips_a_frame_that_is_not_a_jpeg_with_its_line() {
    let _lock = heavy();
    let dir = TempDir::new("replay-not-jpeg");
    let file = dir.path("ff.mkv");
    ffmpeg_file(&file, "mjpeg");
    let all = frames_of(&file);
    // Frame 6's SOI overwritten: the container is whole, the frame is not a JPEG.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(all[5].0.len())
        .position(|w| w == all[5].0)
        .unwrap();
    bytes[at..at + 2].copy_from_slice(b"no");
    let broken = dir.path("broken.mkv");
    std::fs::write(&broken, &bytes).unwrap();
    let out = dir.path("saved");
    let (s, _) = replay(
        &["--save-dir", out.to_str().unwrap()],
        &["--source", broken.to_str().unwrap(), "--fps", "0"],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let want: Vec<Vec<u8>> = all
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 5)
        .map(|(_, (f, _))| f.clone())
        .collect();
    assert!(saved(&out) == want, "not the 29 other frames");
    let line = format!(
        "streamer: {}: the frame at offset {at} is not a JPEG",
        broken.display()
    );
    assert!(
        stderr(&s)
            .lines()
            .any(|l| l.starts_with(&line) && l.ends_with("; skipped")),
        "{}",
        stderr(&s)
    );
}

#[test]
fn a_mjpeg_file_with_stray_bytes_plays_every_whole_frame_and_names_the_rest() {
    let _lock = heavy();
    let dir = TempDir::new("replay-stray");
    let file = dir.path("ff.mjpeg");
    ffmpeg_file(&file, "mjpeg");
    let all: Vec<Vec<u8>> = frames_of(&file).into_iter().map(|(f, _)| f).collect();
    // Frame 3's first marker broken, padding after frame 10, a newline at the end (an editor's).
    let mut damaged = all[2].clone();
    damaged[2] = 0x00;
    let mut parts: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    parts[2] = &damaged;
    parts.insert(10, b"\0\0\0\0");
    parts.push(b"\n");
    let stray = dir.path("stray.mjpeg");
    std::fs::write(&stray, parts.concat()).unwrap();
    let out = dir.path("saved");
    let (s, _) = replay(
        &["--save-dir", out.to_str().unwrap()],
        &["--source", stray.to_str().unwrap(), "--fps", "0"],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    let want: Vec<Vec<u8>> = (all.iter().enumerate())
        .filter(|&(i, _)| i != 2)
        .map(|(_, f)| f.clone())
        .collect();
    assert!(saved(&out) == want, "not the {} other frames", want.len());
    let skipped = stderr(&s)
        .lines()
        .filter(|l| l.contains("is not a JPEG") && l.ends_with("; skipped"))
        .count();
    assert_eq!(skipped, 3, "{}", stderr(&s));
}

/// Stray bytes longer than --max-frame-bytes (blocks zeroed after a crash) are skipped like
/// shorter ones, with a line naming their offset; the frames after them play.
#[test]
fn stray_bytes_over_the_frame_limit_are_skipped_and_the_frames_after_them_play() {
    let _lock = heavy();
    let dir = TempDir::new("replay-zeros");
    let file = dir.path("ff.mjpeg");
    ffmpeg_file(&file, "mjpeg");
    let all: Vec<Vec<u8>> = frames_of(&file).into_iter().map(|(f, _)| f).collect();
    let limit = all.iter().map(Vec::len).max().unwrap() + 100;
    let zeros = vec![0u8; limit * 3];
    let mut parts: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    parts.insert(5, &zeros);
    let path = dir.path("zeros.mjpeg");
    std::fs::write(&path, parts.concat()).unwrap();
    let out = dir.path("saved");
    let limit = limit.to_string();
    let (s, _) = replay(
        &["--save-dir", out.to_str().unwrap()],
        &[
            "--source",
            path.to_str().unwrap(),
            "--fps",
            "0",
            "--max-frame-bytes",
            &limit,
        ],
    );
    assert!(s.status.success(), "{}", stderr(&s));
    assert!(saved(&out) == all, "not every frame, byte for byte");
    let at: usize = all[..5].iter().map(Vec::len).sum();
    let line = format!(
        "{} bytes at offset {at}, over --max-frame-bytes {limit}; skipped",
        zeros.len()
    );
    assert!(
        stderr(&s).lines().any(|l| l.ends_with(&line)),
        "{}",
        stderr(&s)
    );
}

#[test]
fn a_recorded_gap_over_a_minute_is_played_as_one_second_with_its_line() {
    let _lock = heavy();
    let dir = TempDir::new("replay-gap");
    let path = dir.path("gap.mkv");
    let jpeg = crate::robustness::tiny_jpeg();
    let file = std::fs::File::create(&path).unwrap();
    let mut mkv = shared::files::matroska::write::Mkv::new(file, 16, 16).unwrap();
    // A stamp far from its neighbours, as a bag's first message stamped before its clock came.
    for ms in [0, 33, 100_000_000, 100_000_033] {
        mkv.frame(ms, &jpeg).unwrap();
    }
    mkv.finish(100_000_066.0).unwrap();
    let started = std::time::Instant::now();
    let (s, _) = replay(&[], &["--source", path.to_str().unwrap()]);
    assert!(s.status.success(), "{}", stderr(&s));
    // 100 000 s recorded, one waited (with the loaded machine's slack).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let said = stderr(&s);
    assert!(
        said.lines().any(|l| l
            .contains(": 100000 s between recorded times before the frame at offset")
            && l.ends_with("played as 1 s")),
        "{said}"
    );
    assert_eq!(summary(&String::from_utf8_lossy(&s.stdout))["frames"], "4");
    // The gap last, with --loop: every round plays it as a second (the rounds after the
    // first waited the whole gap).
    let path = dir.path("gap-last.mkv");
    let file = std::fs::File::create(&path).unwrap();
    let mut mkv = shared::files::matroska::write::Mkv::new(file, 16, 16).unwrap();
    for ms in [0, 33, 100_000_000] {
        mkv.frame(ms, &jpeg).unwrap();
    }
    mkv.finish(100_000_033.0).unwrap();
    let started = std::time::Instant::now();
    let source = path.to_str().unwrap();
    let (s, _) = replay(&[], &["--source", source, "--loop", "--frames", "7"]);
    assert!(s.status.success(), "{}", stderr(&s));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(summary(&String::from_utf8_lossy(&s.stdout))["frames"], "7");
    // One time damaged far ahead mid-file, the next ones right again: that step plays as a
    // second, the step back as none, and the frames after it keep their own steps (every one
    // of them went at once: the damaged gap was taken off their recorded times).
    let path = dir.path("damaged.mcap");
    let file = std::fs::File::create(&path).unwrap();
    let mut mcap = shared::files::mcap::write::McapWriter::new(file, "cam").unwrap();
    let t0: u64 = 1_700_000_000_000_000_000;
    let ms = [0, 40, 100_000_000, 200, 400, 600, 800, 1000, 1200, 1400];
    for ms in ms {
        let t = t0 + ms * 1_000_000;
        let frame = shared::files::mcap::write::Frame {
            jpeg: &jpeg,
            capture_ns: t,
            arrival_ns: t,
            latency: &shared::media::ros_image::Latency::UNKNOWN,
        };
        mcap.frame(&frame).unwrap();
    }
    mcap.finish().unwrap();
    let started = std::time::Instant::now();
    let (s, _) = replay(&[], &["--source", path.to_str().unwrap()]);
    assert!(s.status.success(), "{}", stderr(&s));
    assert_eq!(summary(&String::from_utf8_lossy(&s.stdout))["frames"], "10");
    // 40 ms, the second, no step back, then six steps of 200 ms: 2.24 s at least (waits
    // are lower bounds, so a loaded machine only adds); 1.04 s and start-up before.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(2240), "{took:?}");
}

#[test]
fn a_viewer_that_comes_late_sees_the_replay_at_its_recorded_pace() {
    let _lock = heavy();
    let dir = TempDir::new("replay-late");
    let (path, again) = (dir.path("steps.mkv"), dir.path("again.mkv"));
    let jpeg = crate::robustness::tiny_jpeg();
    let file = std::fs::File::create(&path).unwrap();
    let mut mkv = shared::files::matroska::write::Mkv::new(file, 16, 16).unwrap();
    // 40 frames 50 ms apart: 1.95 s.
    for i in 0..40 {
        mkv.frame(i * 50, &jpeg).unwrap();
    }
    mkv.finish(2000.0).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let streamer = Background::start(
        "streamer",
        &["--source", path.to_str().unwrap(), "--quiet", &addr],
    );
    // The replay has begun (its first frame read) and waits for a viewer; the wait is the
    // case, not a synchronisation: a busy machine that reads later only makes it easier.
    std::thread::sleep(Duration::from_millis(1500));
    let viewer = Viewer::start_on(
        &addr,
        &["--headless", "--record", again.to_str().unwrap()],
        &[],
    );
    let (status, _, err) = streamer.finish(Duration::from_secs(60));
    assert!(status.success(), "{err}");
    let (status, out) = viewer.terminate(Duration::from_secs(20));
    assert!(status.success(), "{out}");
    let replayed = frames_of(&again);
    assert_eq!(replayed.len(), 40);
    // At its own pace from the first frames the viewer took: 1.95 s less the few frames read
    // ahead while it waited (1.75 s measured), timed by the viewer as the frames arrived (a
    // loaded machine only adds). Before, the frames the replay was late for went as fast as
    // the link took them (0.39 s measured).
    let took = (replayed[39].1 - replayed[0].1) as f64 / 1e6;
    assert!(took >= 1.2, "replayed in {took} s, recorded in 1.95 s");
}
