//! `viewer --optical` without a camera, under Xvfb: ffmpeg's `x11grab` films the viewer's own
//! window and pipes MJPEG into `streamer --source -`, which sends it back to the viewer, so
//! the marker the window draws comes back in the pictures. Checks that most frames get an
//! optical figure with its host and outside shares, that 50 ms more one-way delay on the link
//! moves the optical median by 50 ms, that a picture filmed small and rough (a third of the
//! size, blurred, JPEG quality 20) still reads, and that pictures without the marker (the
//! test pattern) give no figure at all. Needs Xvfb, xdotool, xwininfo and ffmpeg.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::link::Relay;
use crate::support::*;
use crate::window::Xvfb;

/// The window's size: the marker's modules are 18 pixels, 6 once filmed at a third.
const SIZE: &str = "960x540";

/// What one run gave: every frame line's pairs, and the summary's.
struct Run {
    frames: Vec<HashMap<String, String>>,
    summary: HashMap<String, String>,
}

impl Run {
    /// Frames whose line carries an optical figure, as a share of the frame lines.
    fn optical_share(&self) -> f64 {
        let measured = self.optical().len();
        measured as f64 / self.frames.len().max(1) as f64
    }

    /// The optical figures of the frames that have one.
    fn optical(&self) -> Vec<f64> {
        self.frames
            .iter()
            .filter_map(|f| f.get("optical_ms")?.parse().ok())
            .collect()
    }

    fn median(&self) -> f64 {
        let mut v = self.optical();
        assert!(!v.is_empty(), "no optical figure at all");
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

/// What feeds the streamer: the window filmed by ffmpeg (with `filters`, re-encoded by the
/// streamer at `quality` when given), or the streamer's own test pattern.
enum Feed<'a> {
    Filmed {
        filters: Option<&'a str>,
        quality: Option<&'a str>,
    },
    Pattern,
}

/// Runs the viewer with `--optical --measure` for `frames` frames, fed by `feed` through a
/// relay with `relay` arguments when given.
fn run(xvfb: &Xvfb, feed: Feed<'_>, relay: Option<&[&str]>, frames: u64) -> Run {
    let count = frames.to_string();
    let args = ["--optical", "--measure", "--size", SIZE, "--frames", &count];
    let viewer = Viewer::start(&args, &[("DISPLAY", &xvfb.display)]);
    let window = xvfb.find_viewer_window();
    let (x, y, w, h) = xvfb.geometry(&window);
    let relay = relay.map(|args| Relay::start(&viewer.addr, args));
    let target = relay
        .as_ref()
        .map_or(viewer.addr.clone(), |r| r.addr.clone());
    let dir = TempDir::new("optical");
    let ffmpeg_log = dir.path("ffmpeg.log");
    let mut streamer = Command::new(bin("streamer"));
    streamer.args(["--quiet", "--name", "optical"]);
    let (_ffmpeg, streamer) = match feed {
        Feed::Filmed { filters, quality } => {
            let mut ffmpeg = Command::new("ffmpeg");
            ffmpeg.args(["-hide_banner", "-loglevel", "warning", "-f", "x11grab"]);
            ffmpeg.args(["-framerate", "30", "-video_size", &format!("{w}x{h}")]);
            ffmpeg.args(["-i", &format!("{}+{x},{y}", xvfb.display)]);
            if let Some(f) = filters {
                ffmpeg.args(["-vf", f]);
            }
            // Every grabbed picture at most once, written at once: a constant frame rate would
            // send duplicates of older pictures in bursts (and passing every one through, two
            // with the same time stop the encoder), and the output buffer would hold them.
            ffmpeg.args(["-fps_mode", "vfr", "-flush_packets", "1"]);
            // One thread: its threaded encoding held one or two pictures back, by run.
            ffmpeg.args(["-threads", "1"]);
            ffmpeg.args(["-f", "mjpeg", "-q:v", "4", "-"]);
            let log = std::fs::File::create(&ffmpeg_log).unwrap();
            let mut ffmpeg = ffmpeg
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .expect("ffmpeg is not installed: run scripts/setup.sh");
            let pipe = ffmpeg.stdout.take().unwrap();
            streamer.args(["--source", "-"]);
            if let Some(q) = quality {
                streamer.args(["--quality", q]);
            }
            streamer.arg(&target);
            (
                Some(Killed(ffmpeg)),
                Background::start_command(&mut streamer, pipe),
            )
        }
        Feed::Pattern => {
            streamer.args([
                "--source", "test", "--fps", "30", "--size", "640x360", &target,
            ]);
            (
                None,
                Background::start_command(&mut streamer, Stdio::null()),
            )
        }
    };
    let limit = Duration::from_secs(frames / 10 + 20);
    let mut viewer = viewer;
    let finished = std::time::Instant::now() + limit;
    while viewer.child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > finished {
            let (_, out, err) = streamer.stop("KILL", Duration::from_secs(5));
            panic!(
                "the viewer did not see {frames} frames in {limit:?}; its stderr: {:?}\n\
                 the streamer's stdout:\n{out}\nstderr:\n{err}\nffmpeg's stderr:\n{}",
                viewer.stderr.lock().unwrap(),
                std::fs::read_to_string(&ffmpeg_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, stdout) = viewer.wait(Duration::from_secs(5));
    assert!(status.success(), "viewer: {status}\n{stdout}");
    let frames: Vec<_> = stdout
        .lines()
        .filter(|l| l.starts_with("peer="))
        .map(key_values)
        .collect();
    let summary = summary(&stdout);
    // For the log of a failing run: what each run came to.
    let keys = [
        "optical_p50_ms",
        "optical_frames",
        "host_p50_ms",
        "outside_p50_ms",
    ];
    let said: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}={}", summary[*k]))
        .collect();
    eprintln!("{} frame lines, {}", frames.len(), said.join(" "));
    Run { frames, summary }
}

/// A child killed when dropped (ffmpeg films until stopped).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_loop_filmed_by_x11grab_is_measured_and_follows_the_link() {
    let _heavy = heavy();
    let xvfb = Xvfb::start();
    let filmed = || Feed::Filmed {
        filters: None,
        quality: None,
    };
    let direct = run(&xvfb, filmed(), None, 150);
    assert!(
        direct.optical_share() >= 0.5,
        "optical on {:.0} % of {} frames",
        direct.optical_share() * 100.0,
        direct.frames.len()
    );
    assert!(
        direct.frames.len() >= 75,
        "{} frame lines",
        direct.frames.len()
    );
    // Our streamer sends capture times: the frames with a figure split it into host + outside.
    let split = direct.frames.iter().find(|f| f.contains_key("host_ms"));
    let split = split.expect("no frame with host_ms and outside_ms");
    let part = |k: &str| split[k].parse::<f64>().unwrap();
    let sum = part("host_ms") + part("outside_ms");
    assert!((sum - part("optical_ms")).abs() < 0.02, "{split:?}");
    assert_eq!(part("host_ms"), part("glass_ms"), "{split:?}");
    let s = &direct.summary;
    let summary_frames: usize = s["optical_frames"].parse().unwrap();
    assert_eq!(summary_frames, direct.optical().len(), "{s:?}");
    for key in [
        "optical_p50_ms",
        "optical_p95_ms",
        "host_p50_ms",
        "outside_p50_ms",
    ] {
        assert!(s[key].parse::<f64>().is_ok(), "{key} in {s:?}");
    }

    let delayed = run(&xvfb, filmed(), Some(&["--delay-up-ms", "50"]), 150);
    assert!(delayed.optical_share() >= 0.5, "{:?}", delayed.summary);
    // The loop's median sits in one of two modes about 7 ms apart (where x11grab's grabs fall
    // against the window's redraws): each side is measured twice and the means compared.
    let direct_again = run(&xvfb, filmed(), None, 150);
    let delayed_again = run(&xvfb, filmed(), Some(&["--delay-up-ms", "50"]), 150);
    let before = (direct.median() + direct_again.median()) / 2.0;
    let after = (delayed.median() + delayed_again.median()) / 2.0;
    let moved = after - before;
    assert!(
        (40.0..=60.0).contains(&moved),
        "50 ms more one-way delay moved optical p50 by {moved:.1} ms ({before:.1} -> {after:.1})"
    );
}

#[test]
fn a_small_rough_picture_still_reads_and_no_marker_gives_no_figure() {
    let _heavy = heavy();
    let xvfb = Xvfb::start();
    let rough = Feed::Filmed {
        filters: Some("scale=iw/3:-2,boxblur=1:1"),
        quality: Some("20"),
    };
    let small = run(&xvfb, rough, None, 120);
    assert!(
        small.optical_share() >= 0.3,
        "optical on {:.0} % of {} frames filmed at a third, blurred, quality 20",
        small.optical_share() * 100.0,
        small.frames.len()
    );

    let pattern = run(&xvfb, Feed::Pattern, None, 60);
    assert_eq!(
        pattern.summary["optical_frames"], "0",
        "{:?}",
        pattern.summary
    );
    assert!(!pattern.frames.is_empty());
    for f in &pattern.frames {
        assert_eq!(f["optical_ms"], "unknown", "{f:?}");
        assert_eq!(f["why"], "no_marker", "{f:?}");
    }
}
