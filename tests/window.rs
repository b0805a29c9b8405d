//! The real window under Xvfb: it opens at 1280x720 on a "waiting" screen, shows the test
//! pattern in its true colours once a streamer connects, letterboxes the picture when resized
//! to another aspect ratio, returns to "waiting" when the streamer leaves, and exits on Esc;
//! through X shared memory and through minifb's own drawing.
//! Needs Xvfb, xdotool, xwininfo and ImageMagick's `import` (scripts/setup.sh installs them).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use streamer::source::pattern::BARS_RGB;

use crate::support::*;

/// A private X server on a display number it picks itself.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                // No server reset when the last client leaves: a client connecting during
                // the reset (slow with every core busy) fails XOpenDisplay, and every
                // `xdotool` call is a client that leaves.
                "-noreset",
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1600x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is not installed: run scripts/setup.sh");
        let line = first_line(
            child.stdout.take().unwrap(),
            Duration::from_secs(20),
            "Xvfb",
        );
        let display = format!(":{}", line.trim());
        assert!(display.len() > 1, "Xvfb did not report its display");
        let x = Xvfb { child, display };
        x.wait_answering();
        x
    }

    /// Waits (bounded) until the server answers a client: a program started right after the
    /// display number was reported once failed `XOpenDisplay` with every core busy.
    fn wait_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answered = Command::new("xdotool")
                .arg("getdisplaygeometry")
                .env("DISPLAY", &self.display)
                .output_within(TOOL_LIMIT)
                .is_ok_and(|out| out.status.success());
            if answered {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Xvfb on {} does not answer clients",
                self.display
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn tool(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output_within(TOOL_LIMIT)
            .unwrap_or_else(|e| panic!("{program} is not installed ({e}): run scripts/setup.sh"));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Waits for a window whose title starts with "viewer" and returns its id. The deadline
    /// only catches a window that never comes: with every core busy (the load stage), the
    /// viewer's start and each `xdotool` call can take seconds.
    pub fn find_viewer_window(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let ids = self.tool("xdotool", &["search", "--name", "^viewer"]);
            if let Some(id) = ids.lines().next() {
                return id.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the viewer window did not appear"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// (x, y, width, height) of a window.
    pub fn geometry(&self, id: &str) -> (usize, usize, usize, usize) {
        let info = self.tool("xwininfo", &["-id", id]);
        let field = |name: &str| -> usize {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in xwininfo output:\n{info}"))
        };
        (
            field("Absolute upper-left X:"),
            field("Absolute upper-left Y:"),
            field("Width:"),
            field("Height:"),
        )
    }

    /// A screenshot of one window's area.
    pub fn capture(&self, id: &str, dir: &TempDir, name: &str) -> Rgb {
        let (x, y, w, h) = self.geometry(id);
        let path = dir.path(name);
        // A failed screenshot must not read back an older file of the same name.
        let _ = std::fs::remove_file(&path);
        let out = Command::new("import")
            .args(["-window", "root", "-depth", "8", path.to_str().unwrap()])
            .env("DISPLAY", &self.display)
            .output_within(TOOL_LIMIT)
            .unwrap_or_else(|e| panic!("import is not installed ({e}): run scripts/setup.sh"));
        assert!(
            out.status.success(),
            "import (the screenshot) failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let screen = read_ppm(&path);
        let mut data = Vec::with_capacity(w * h * 3);
        for row in y..y + h {
            let start = (row * screen.width + x) * 3;
            data.extend_from_slice(&screen.data[start..start + w * 3]);
        }
        Rgb {
            width: w,
            height: h,
            data,
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test-pattern streamer of `size` at 30 fps, sending to `addr`.
pub fn pattern_streamer(addr: &str, size: &str) -> Background {
    Background::start(
        "streamer",
        &[
            "--source", "test", "--fps", "30", "--quiet", "--size", size, "--name", "pattern", addr,
        ],
    )
}

/// The (x, y, width, height) part of an image.
pub fn crop(image: &Rgb, (x, y, w, h): (usize, usize, usize, usize)) -> Rgb {
    Rgb {
        width: w,
        height: h,
        data: (y..y + h)
            .flat_map(|row| image.data[(row * image.width + x) * 3..][..w * 3].to_vec())
            .collect(),
    }
}

pub fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= tolerance)
}

/// Share of pixels equal to `colour`.
fn share_of(image: &Rgb, colour: [u8; 3]) -> f64 {
    let n = image.data.chunks_exact(3).filter(|p| *p == colour).count();
    n as f64 / (image.width * image.height) as f64
}

/// Checks each colour bar at its centre, in a picture occupying columns `left..left+width`.
pub fn assert_bars(image: &Rgb, left: usize, width: usize, what: &str) {
    if let Err(e) = bars(image, left, width) {
        panic!("{what}: {e}");
    }
}

/// Whether the columns `left..left + width` of `image` show the test pattern's eight bars;
/// the first bar that does not, otherwise.
pub fn bars(image: &Rgb, left: usize, width: usize) -> Result<(), String> {
    let y = image.height * 35 / 100;
    for (i, rgb) in BARS_RGB.iter().enumerate() {
        let x = left + (2 * i + 1) * width / 16;
        // Average a small patch: the pattern has sensor-like noise.
        let mut sum = [0u32; 3];
        for dy in 0..5 {
            for dx in 0..5 {
                let p = image.pixel(x + dx, y + dy);
                (0..3).for_each(|c| sum[c] += u32::from(p[c]));
            }
        }
        let mean = sum.map(|s| (s / 25) as u8);
        if !close(mean, *rgb, 24) {
            return Err(format!("bar {i} is {mean:?}, expected about {rgb:?}"));
        }
    }
    Ok(())
}

/// First and last column of a row that is not letterbox black.
fn picture_extent(image: &Rgb, y: usize) -> (usize, usize) {
    let lit = |x: usize| image.pixel(x, y).iter().any(|&c| c > 12);
    let first = (0..image.width)
        .find(|&x| lit(x))
        .expect("row is all black");
    let last = (0..image.width).rev().find(|&x| lit(x)).unwrap();
    (first, last)
}

#[test]
fn window_shows_the_pattern_letterboxed_and_waits_between_streamers() {
    pattern_letterboxed_and_waiting(true);
}

/// The same through minifb's own drawing (the X socket), what a remote display gets.
#[test]
fn window_without_shared_memory_shows_the_same() {
    pattern_letterboxed_and_waiting(false);
}

fn pattern_letterboxed_and_waiting(shared_memory: bool) {
    let _lock = heavy();
    let dir = TempDir::new(if shared_memory {
        "window"
    } else {
        "window-socket"
    });
    let x = Xvfb::start();
    let mut env = vec![("DISPLAY", x.display.as_str())];
    if !shared_memory {
        env.push(("VIEWER_NO_SHM", "1"));
    }
    let viewer = Viewer::start(&[], &env);
    let id = x.find_viewer_window();
    let (_, _, w, h) = x.geometry(&id);
    assert_eq!((w, h), (1280, 720), "initial window size");

    // Before any streamer: the waiting screen, dark with light text, not a blank window.
    thread::sleep(Duration::from_millis(300));
    let waiting = x.capture(&id, &dir, "waiting.ppm");
    let background = share_of(&waiting, [0x20, 0x20, 0x20]);
    assert!(
        background > 0.8 && background < 0.999,
        "waiting screen: {background:.3} background"
    );

    let streamer = Background::start(
        "streamer",
        &["--source", "test", "--fps", "30", "--quiet", &viewer.addr],
    );
    thread::sleep(Duration::from_millis(1500));
    let shot = x.capture(&id, &dir, "pattern.ppm");
    assert_bars(&shot, 0, shot.width, "1280x720 window");

    // Another aspect ratio: the 16:9 picture is letterboxed (black bars left and right), not
    // stretched.
    x.tool("xdotool", &["windowsize", &id, "1280", "400"]);
    thread::sleep(Duration::from_millis(800));
    let wide = x.capture(&id, &dir, "wide.ppm");
    assert_eq!((wide.width, wide.height), (1280, 400));
    // A row of the colour bars, well above the figures band in the bottom-left corner: its
    // first lit column is the picture's left edge. The bars end with a dark one, so the right
    // edge is the left edge mirrored (the next assertion checks the picture is centred by
    // the pattern's dark lower part, which the band leaves visible on the right).
    let (first, _) = picture_extent(&wide, wide.height * 40 / 100);
    let shown = wide.width - 2 * first;
    let expected = 400 * 16 / 9;
    assert!(
        shown.abs_diff(expected) <= 12,
        "picture is {shown} wide, expected about {expected}"
    );
    // The right edge, on a row of the dark lower part (the band covers only its left end).
    let (_, last) = picture_extent(&wide, wide.height * 76 / 100);
    assert!(
        first.abs_diff(wide.width - 1 - last) <= 4,
        "not centred: {first}..{last}"
    );
    assert_bars(&wide, first, shown, "1280x400 window");

    // The streamer leaves: back to the waiting screen, not a frozen last frame.
    let (status, _, err) = streamer.stop("TERM", Duration::from_secs(10));
    assert!(status.success(), "streamer exited with {status}: {err}");
    thread::sleep(Duration::from_millis(800));
    let after = x.capture(&id, &dir, "after.ppm");
    let background = share_of(&after, [0x20, 0x20, 0x20]);
    assert!(
        background > 0.3,
        "after the streamer left: {background:.3} background"
    );

    // Esc closes the window and the viewer exits cleanly with its summary.
    // Held like a person holds a key: minifb polls key state, so a press and release inside
    // one poll would never be seen.
    x.tool("xdotool", &["windowfocus", "--sync", &id]);
    x.tool("xdotool", &["keydown", "--window", &id, "Escape"]);
    thread::sleep(Duration::from_millis(300));
    x.tool("xdotool", &["keyup", "--window", &id, "Escape"]);
    let log = viewer.stderr.clone();
    let (status, out) = viewer.wait(Duration::from_secs(10));
    assert!(status.success(), "viewer exited with {status}");
    let s = summary(&out);
    assert!(s["decoded"].parse::<u64>().unwrap() > 10, "{out}");
    assert_eq!(s["errors"], "0");
    // Which way the pictures went: shared memory unless told otherwise (decoded straight into
    // it, nothing falling back on the way), never a silent switch.
    let log = log.lock().unwrap().join("\n");
    assert_eq!(
        log.contains("drawing through the X socket"),
        !shared_memory,
        "{log}"
    );
    assert!(!log.contains("decoding into ordinary memory"), "{log}");
}

#[test]
fn window_shows_several_streamers_side_by_side_and_drops_the_ones_that_leave() {
    let _lock = heavy();
    let dir = TempDir::new("grid");
    let x = Xvfb::start();
    let viewer = Viewer::start(&[], &[("DISPLAY", &x.display)]);
    let id = x.find_viewer_window();
    let start = |size: &str| pattern_streamer(&viewer.addr, size);
    let first = start("640x360");
    thread::sleep(Duration::from_millis(700));
    let second = start("640x360");
    thread::sleep(Duration::from_millis(1500));
    let grid = x.capture(&id, &dir, "grid.ppm");
    // Two cells of 640x720: each 16:9 picture is 640x360, centred vertically, with its bars.
    for (i, left) in [0, 640].into_iter().enumerate() {
        let half = crop(&grid, (left, 180, 640, 360));
        assert_bars(&half, 0, 640, &format!("grid cell {i}"));
        // The figures band in the cell's bottom-left corner (in the letterbox): light text on
        // the dark box.
        let label_lit = (grid.height - 80..grid.height)
            .any(|y| (0..300).any(|dx| grid.pixel(left + dx, y) == [0xE0, 0xE0, 0xE0]));
        assert!(label_lit, "grid cell {i} has no label");
    }
    // One streamer leaves: the other fills the window again.
    assert!(second.stop("TERM", Duration::from_secs(10)).0.success());
    thread::sleep(Duration::from_millis(800));
    let single = x.capture(&id, &dir, "single.ppm");
    assert_bars(&single, 0, single.width, "after one streamer left");
    assert!(first.stop("TERM", Duration::from_secs(10)).0.success());
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// The title names the stream (`--name`) also with the figures band off: the title reads
/// the same figures the band does, which must be kept fresh without it.
#[test]
fn window_title_names_the_stream_with_the_band_off() {
    let _lock = heavy();
    let x = Xvfb::start();
    let viewer = Viewer::start(&["--hud", "off"], &[("DISPLAY", &x.display)]);
    let id = x.find_viewer_window();
    let streamer = pattern_streamer(&viewer.addr, "320x180");
    let mut title = String::new();
    wait_for(
        "the stream's name in the title",
        Duration::from_secs(15),
        || {
            title = x
                .tool("xdotool", &["getwindowname", &id])
                .trim()
                .to_string();
            title.starts_with("viewer - pattern (127.0.0.1:") && title.ends_with(" fps")
        },
    );
    assert!(streamer.stop("TERM", Duration::from_secs(10)).0.success());
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// A stream that stops sending pictures but stays connected (a hung camera, a pipe gone
/// quiet) is marked old, band or no band: the title says so and red text crosses the top of
/// its picture; a new picture takes the mark away. A frozen picture must never pass for a live
/// one.
#[test]
fn a_stream_that_stalls_is_marked_old_not_shown_as_live() {
    let _lock = heavy();
    let x = Xvfb::start();
    let dir = TempDir::new("window-stale");
    let env = [("DISPLAY", x.display.as_str())];
    let viewer = Viewer::start(&["--hud", "off", "--size", "640x360"], &env);
    let id = x.find_viewer_window();
    let args = ["--source", "-", "--quiet", viewer.addr.as_str()];
    let mut streamer =
        Background::start_command(Command::new(bin("streamer")).args(args), Stdio::piped());
    let mut pipe = streamer.child.stdin.take().unwrap();
    let jpeg = crate::robustness::tiny_jpeg();
    for _ in 0..5 {
        pipe.write_all(&jpeg).unwrap();
    }
    let title = || {
        x.tool("xdotool", &["getwindowname", &id])
            .trim()
            .to_string()
    };
    wait_for(
        "the title to say the picture is old",
        Duration::from_secs(15),
        || title().contains(" - NO NEW PICTURE FOR "),
    );
    let shot = x.capture(&id, &dir, "stale.ppm");
    let top = crop(&shot, (0, 0, shot.width, 40));
    let red = top
        .data
        .chunks_exact(3)
        .filter(|p| close([p[0], p[1], p[2]], [255, 48, 48], 60))
        .count();
    assert!(
        red > 50,
        "{red} red pixels across the top of the stalled picture"
    );
    // Pictures again: the mark goes.
    pipe.write_all(&jpeg).unwrap();
    wait_for(
        "the title to lose the mark",
        Duration::from_secs(15),
        || {
            let t = title();
            t.ends_with(" fps") && !t.contains("NO NEW PICTURE")
        },
    );
    drop(pipe);
    assert!(streamer.stop("TERM", Duration::from_secs(10)).0.success());
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// Glass-to-glass in a real window (`--measure`): each frame's `display_ms` is the time from
/// its decoding to the X server having it on screen, so it is measured (above zero, as no
/// draw is free), the stages add up to `glass_ms`, and the summary has its median.
#[test]
fn window_measures_display_time_in_a_real_window() {
    let _lock = heavy();
    let x = Xvfb::start();
    let viewer = Viewer::start(&["--measure", "--frames", "60"], &[("DISPLAY", &x.display)]);
    x.find_viewer_window();
    let streamer = pattern_streamer(&viewer.addr, "640x360");
    let (status, out) = viewer.wait(Duration::from_secs(60));
    assert!(status.success(), "viewer exited with {status}");
    drop(streamer);
    let mut measured = 0;
    for line in out.lines().filter(|l| l.starts_with("peer=")) {
        let kv = key_values(line);
        if kv["glass_ms"] == "unknown" {
            continue;
        }
        let ms = |k: &str| -> f64 { kv[k].parse().unwrap() };
        let display = ms("display_ms");
        assert!(display > 0.0 && display < 1000.0, "{line}");
        let stages = [
            "encode_ms",
            "queue_ms",
            "link_ms",
            "decode_ms",
            "display_ms",
        ];
        let sum: f64 = stages.iter().map(|k| ms(k)).sum();
        assert!((sum - ms("glass_ms")).abs() < 0.04, "{line}");
        measured += 1;
    }
    assert!(
        measured >= 20,
        "{measured} frames measured on screen:\n{out}"
    );
    let s = summary(&out);
    let p50: f64 = s["display_p50_ms"].parse().unwrap();
    assert!(p50 > 0.0, "{out}");
}
