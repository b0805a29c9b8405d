//! The window's field tools under Xvfb, driven like a person drives them (xdotool keys, wheel
//! and drag): the figures band and its text, the pixel inspector, pause, snapshots, recordings
//! (read back with ffprobe and ffmpeg, also after `kill -9`), zoom, pan and fit, and focus.
//! Needs Xvfb, xdotool, xev (x11-utils), ImageMagick and ffmpeg (scripts/setup.sh installs them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use shared::media::font;
use streamer::source::pattern::BARS_RGB;
use viewer::window::hud;

use crate::support::*;
use crate::window::{assert_bars, bars, close, crop, pattern_streamer, Xvfb};

/// The band's text colour as a screenshot shows it.
pub(crate) const TEXT: [u8; 3] = [
    (hud::TEXT >> 16) as u8,
    (hud::TEXT >> 8) as u8,
    hud::TEXT as u8,
];
const YELLOW: [u8; 3] = BARS_RGB[1];

/// A viewer window on a private X server with a test-pattern streamer feeding it.
struct Field {
    x: Xvfb,
    viewer: Viewer,
    streamers: Vec<Background>,
    id: String,
    dir: TempDir,
}

impl Field {
    /// Starts Xvfb, `viewer ARGS` and one 1280x720 streamer at 30 fps; waits until pictures
    /// flow.
    fn start(name: &str, args: &[&str]) -> Field {
        let dir = TempDir::new(name);
        let x = Xvfb::start();
        let viewer = Viewer::start(args, &[("DISPLAY", x.display.as_str())]);
        let id = x.find_viewer_window();
        x.tool("xdotool", &["windowfocus", "--sync", &id]);
        let mut field = Field {
            x,
            viewer,
            streamers: Vec::new(),
            id,
            dir,
        };
        field.add_streamer("1280x720");
        thread::sleep(Duration::from_millis(1500));
        field
    }

    /// Starts with the band off, every received payload saved (`--save-dir`, first directory)
    /// and snapshots and recordings going to the second directory.
    fn keeping(name: &str) -> (Field, TempDir, TempDir) {
        let saved = TempDir::new(&format!("{name}-saved"));
        let snaps = TempDir::new(&format!("{name}-out"));
        let field = Field::start(
            name,
            &[
                "--hud",
                "off",
                "--save-dir",
                saved.0.to_str().unwrap(),
                "--snapshot-dir",
                snaps.0.to_str().unwrap(),
            ],
        );
        (field, saved, snaps)
    }

    fn add_streamer(&mut self, size: &str) {
        self.streamers
            .push(pattern_streamer(&self.viewer.addr, size));
    }

    /// Presses and releases a key, held like a person holds it (quick taps: see
    /// `field_every_quick_key_tap_acts`).
    fn press(&self, key: &str) {
        self.x
            .tool("xdotool", &["keydown", "--window", &self.id, key]);
        thread::sleep(Duration::from_millis(150));
        self.x
            .tool("xdotool", &["keyup", "--window", &self.id, key]);
        thread::sleep(Duration::from_millis(300));
    }

    /// Moves the pointer to (`x`, `y`) in the window.
    fn pointer(&self, x: usize, y: usize) {
        let (x, y) = (x.to_string(), y.to_string());
        self.x
            .tool("xdotool", &["mousemove", "--window", &self.id, &x, &y]);
        thread::sleep(Duration::from_millis(150));
    }

    /// Turns the wheel `notches` steps towards the user (zoom in) where the pointer is.
    fn wheel_in(&self, notches: usize) {
        for _ in 0..notches {
            self.x.tool("xdotool", &["click", "4"]);
            thread::sleep(Duration::from_millis(60));
        }
        thread::sleep(Duration::from_millis(400));
    }

    fn shot(&self, name: &str) -> Rgb {
        self.x.capture(&self.id, &self.dir, name)
    }

    /// The streamer's address as the viewer saw it (from "PEER: streamer connected").
    fn peer(&self) -> String {
        let log = self.viewer.stderr.lock().unwrap();
        log.iter()
            .find_map(|l| l.strip_suffix(": streamer connected"))
            .unwrap_or_else(|| panic!("no streamer connected: {log:?}"))
            .to_string()
    }

    /// Esc, then the viewer's stdout once it has exited cleanly.
    fn quit(self) -> String {
        self.press("Escape");
        let (status, out) = self.viewer.wait(Duration::from_secs(10));
        assert!(status.success(), "viewer exited with {status}");
        out
    }
}

/// The `key=value` pairs of the last stdout line starting with `word `.
fn last_line(out: &str, word: &str) -> HashMap<String, String> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{word} ")))
        .unwrap_or_else(|| panic!("no {word} line in:\n{out}"));
    key_values(line)
}

fn number(map: &HashMap<String, String>, key: &str) -> f64 {
    map.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {map:?}"))
}

/// Checks that `text` at `scale`, top-left corner at `at`, is lit in the band's text colour
/// exactly where the project's font lights it, and nowhere else in its box.
pub(crate) fn assert_text(shot: &Rgb, text: &str, at: (usize, usize), scale: usize) {
    let wrong = wrong_pixels(shot, text, at, scale);
    assert_eq!(
        wrong, 0,
        "{wrong} pixels differ from {text:?} drawn at {at:?}"
    );
}

/// How many pixels of the box `text` covers at `at` differ from it drawn in the band's colour.
fn wrong_pixels(shot: &Rgb, text: &str, at: (usize, usize), scale: usize) -> usize {
    let (w, h) = (font::text_width(text, scale), font::HEIGHT * scale);
    let mut lit = vec![false; w * h];
    font::draw(text, 0, 0, scale, |x, y, s| {
        for row in y..y + s {
            lit[row * w + x..row * w + x + s].fill(true);
        }
    });
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| (shot.pixel(at.0 + x, at.1 + y) == TEXT) != lit[y * w + x])
        .count()
}

/// Runs an ffmpeg tool; a missing tool is a missing install step, not a skip.
fn media_tool(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output_within(TOOL_LIMIT)
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}): run scripts/setup.sh"))
}

/// ffprobe's codec, decoded frame count and duration of a recording.
fn probe(path: &Path) -> HashMap<String, String> {
    let out = media_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,nb_read_frames:format=duration",
            "-of",
            "default=noprint_wrappers=1",
            path.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().flat_map(key_values).collect()
}

/// Decodes every frame of a recording with ffmpeg; fails on any error message. Timestamps are
/// arrival times in milliseconds: frames are passed through as they are, in the file's own
/// time base, rather than resampled to a guessed frame rate.
fn decode_all(path: &Path) {
    let out = media_tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-xerror",
            "-i",
            path.to_str().unwrap(),
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "-1",
            "-f",
            "null",
            "-",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "ffmpeg could not decode {}: {err}",
        path.display()
    );
}

/// Files in a directory.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The bar (index into the pattern's colours) nearest to the mean colour of a 1x9 column at
/// (`x`, `y`-4..`y`+4).
fn bar_at(shot: &Rgb, x: usize, y: usize) -> usize {
    let mut sum = [0i32; 3];
    for dy in 0..9 {
        let p = shot.pixel(x, y + dy - 4);
        (0..3).for_each(|c| sum[c] += i32::from(p[c]));
    }
    let distance =
        |rgb: &[u8; 3]| -> i32 { (0..3).map(|c| (sum[c] / 9 - i32::from(rgb[c])).abs()).sum() };
    (0..BARS_RGB.len())
        .min_by_key(|&i| distance(&BARS_RGB[i]))
        .unwrap()
}

/// Columns of row `y` where the bar changes from `from` to `to`.
fn boundary(shot: &Rgb, y: usize, from: usize, to: usize) -> Option<usize> {
    (1..shot.width).find(|&x| bar_at(shot, x - 1, y) == from && bar_at(shot, x, y) == to)
}

#[test]
fn field_band_shows_the_figures_and_the_pixel_under_the_cursor() {
    let _lock = heavy();
    let f = Field::start("field-band", &[]);
    let peer = f.peer();
    let cell = (0, 0, 1280, 720);
    let scale = hud::scale_for(1280);
    // Live, with no mark on screen, the rows above the band go to the X server before the band
    // is drawn and the band's rows after it: both must arrive (the band's line count depends on
    // the figures known so far). Waits on the screen, not on a clock: a busy machine may show
    // the first frames late.
    let first = format!("pattern  {peer}  1280x720");
    let reads = |shot: &Rgb| {
        (2..=6).any(|n| wrong_pixels(shot, &first, hud::band_text_origin(cell, n), scale) == 0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reads(&f.shot("band-live.ppm")) {
        assert!(
            Instant::now() < deadline,
            "no band reading {first:?} on the live picture in 20 s"
        );
        thread::sleep(Duration::from_millis(100));
    }
    // Freeze the picture, then hover over the yellow bar.
    f.press("space");
    f.pointer(240, 200);
    thread::sleep(Duration::from_millis(400));
    let on = f.shot("band-on.ppm");
    f.press("h");
    let off = f.shot("band-off.ppm");

    // The band darkens the tile's bottom-left corner (five lines: glass and its stages, and the
    // probe's); with it off the same frame shows there.
    let (ox, oy) = hud::band_text_origin(cell, 5);
    let corner = |img: &Rgb| -> Vec<u8> {
        (oy..oy + 60)
            .flat_map(|y| (ox..ox + 200).flat_map(move |x| img.pixel(x, y)))
            .collect()
    };
    let (on_corner, off_corner) = (corner(&on), corner(&off));
    let changed = on_corner
        .iter()
        .zip(&off_corner)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > on_corner.len() / 2,
        "only {changed} of {} corner samples differ",
        on_corner.len()
    );
    let above = |img: &Rgb| img.data[..(500 * img.width * 3)].to_vec();
    assert!(above(&on) == above(&off), "the frame changed while paused");

    // Its first line names the stream (its name, its peer) and the picture size, in the
    // project's font; the fourth says where the glass-to-glass time goes.
    assert_text(&on, &format!("pattern  {peer}  1280x720"), (ox, oy), scale);
    assert_text(&on, "glass ", (ox, oy + 3 * hud::LINE * scale), scale);
    let out = f.quit();

    // The inspector: stdout and the band's last line agree, and the value is the screen's
    // pixel (shown 1:1), the pattern's yellow within JPEG's tolerance.
    let probe = last_line(&out, "inspect");
    assert_eq!(probe["peer"], peer);
    assert_eq!((probe["x"].as_str(), probe["y"].as_str()), ("240", "200"));
    let rgb = ["r", "g", "b"].map(|k| number(&probe, k) as u8);
    assert_eq!(
        rgb,
        off.pixel(240, 200),
        "the inspector reads the pixel shown"
    );
    assert!(close(rgb, YELLOW, 32), "{rgb:?} is not the yellow bar");
    let line = format!("x=240 y=200 r={} g={} b={}", rgb[0], rgb[1], rgb[2]);
    assert_text(&on, &line, (ox, oy + 4 * hud::LINE * scale), scale);
}

#[test]
fn field_pause_freezes_the_screen_while_frames_keep_arriving() {
    let _lock = heavy();
    let saved = TempDir::new("field-pause-saved");
    let f = Field::start(
        "field-pause",
        &["--hud", "off", "--save-dir", saved.0.to_str().unwrap()],
    );
    f.press("space");
    let first = f.shot("paused-1.ppm");
    let received_before = files(&saved.0).len();
    thread::sleep(Duration::from_secs(1));
    let second = f.shot("paused-2.ppm");
    let received_after = files(&saved.0).len();
    assert!(first.data == second.data, "the screen moved while paused");
    // Every received frame was acknowledged, or a stop-and-wait streamer would have stalled.
    assert!(
        received_after >= received_before + 20,
        "only {} frames arrived in the paused second",
        received_after - received_before
    );
    // A clear mark says so at the top.
    let marked = (0..40).any(|y| (500..780).any(|x| first.pixel(x, y) == TEXT));
    assert!(marked, "no PAUSED mark");
    f.press("space");
    let resumed = f.shot("resumed.ppm");
    assert!(
        resumed.data != second.data,
        "the picture did not move again"
    );
    let marked = (0..40).any(|y| (500..780).any(|x| resumed.pixel(x, y) == TEXT));
    assert!(!marked, "PAUSED mark after resuming");
    assert_bars(&resumed, 0, resumed.width, "after resuming");
    f.quit();
}

/// A paused picture comes back once another window that covered it goes: minifb passes on no
/// X Expose event, and Xvfb, like a plain X desktop, keeps no copy of a covered window, so
/// without the viewer's own repaint the uncovered part would keep what covered it.
#[test]
fn field_a_paused_picture_comes_back_after_another_window_covered_it() {
    let _lock = heavy();
    let f = Field::start("field-expose", &["--hud", "off"]);
    f.press("space");
    let paused = f.shot("expose-paused.ppm");
    assert_bars(&paused, 0, paused.width, "paused");
    // xev's window, as large as the viewer's, over it at the same place.
    let cover = Background::start_command(
        Command::new("xev")
            .args(["-geometry", "1280x720+0+0"])
            .env("DISPLAY", &f.x.display),
        std::process::Stdio::null(),
    );
    wait_for(
        "the other window over the picture",
        Duration::from_secs(20),
        || bars(&f.shot("expose-covered.ppm"), 0, paused.width).is_err(),
    );
    drop(cover);
    // All of it, pixel for pixel (the PAUSED mark included).
    wait_for("the paused picture back", Duration::from_secs(20), || {
        f.shot("expose-back.ppm").data == paused.data
    });
    f.quit();
}

#[test]
fn field_snapshot_keeps_the_received_jpeg_and_its_decoding() {
    let _lock = heavy();
    let (f, saved, snaps) = Field::keeping("field-snapshot");
    f.press("space");
    f.press("s");
    thread::sleep(Duration::from_millis(700));
    let screen = f.shot("screen.ppm");
    let out = f.quit();
    let line = last_line(&out, "snapshot");
    let (received, png) = (
        PathBuf::from(&line["received"]),
        PathBuf::from(&line["png"]),
    );
    assert_eq!(received.parent(), Some(snaps.0.as_path()));
    assert!(received.to_string_lossy().ends_with(".jpg"), "{line:?}");
    // The JPEG is byte for byte one of the payloads the streamer sent.
    let jpeg = std::fs::read(&received).unwrap();
    let same = files(&saved.0)
        .iter()
        .any(|p| std::fs::read(p).unwrap() == jpeg);
    assert!(same, "{} matches no received payload", received.display());

    // The PNG is the decoded picture: the JPEG's own decoding, and what was on screen.
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1280, 720));
    let decoded = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB).unwrap();
    let worst = pixels
        .iter()
        .zip(decoded.pixels.iter())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        worst <= 2,
        "the PNG differs from the JPEG's decoding by {worst}"
    );
    // Below the PAUSED mark, the screen shows exactly that picture.
    let rows = 60 * 1280 * 3..;
    let worst = pixels[rows.clone()]
        .iter()
        .zip(&screen.data[rows])
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 2, "the PNG differs from the screen by {worst}");
}

#[test]
fn field_recording_plays_in_ffmpeg_and_survives_kill_9() {
    let _lock = heavy();
    let (f, saved, snaps) = Field::keeping("field-record");
    // From key press to key press: the window sees each within a poll (8 ms) of the press.
    let started = SystemTime::now();
    f.press("r");
    thread::sleep(Duration::from_millis(2500));
    let marked = f.shot("recording.ppm");
    let stopped = SystemTime::now();
    f.press("r");
    let wall = stopped.duration_since(started).unwrap().as_secs_f64();
    // What the viewer received meanwhile: the payloads --save-dir wrote in that time.
    let received = files(&saved.0)
        .iter()
        .filter(|p| {
            let at = std::fs::metadata(p).unwrap().modified().unwrap();
            at >= started && at <= stopped
        })
        .count() as f64;
    // A red mark while recording.
    let red = (0..40).any(|y| (1100..1280).any(|x| close(marked.pixel(x, y), [255, 48, 48], 8)));
    assert!(red, "no REC mark");

    // A second recording, and the viewer killed in the middle of it.
    f.press("r");
    thread::sleep(Duration::from_millis(2000));
    signal(&f.viewer.child, "KILL");
    let Field { viewer, .. } = f;
    let (_, out) = viewer.wait(Duration::from_secs(10));

    let done = out
        .lines()
        .find(|l| l.starts_with("recorded "))
        .map(key_values)
        .unwrap_or_else(|| panic!("no recorded line:\n{out}"));
    let first = PathBuf::from(&done["path"]);
    assert_eq!(
        first.parent(),
        Some(snaps.0.as_path()),
        "R records into --snapshot-dir"
    );
    let frames = number(&done, "frames");
    let info = probe(&first);
    assert_eq!(info["codec_name"], "mjpeg");
    let counted = number(&info, "nb_read_frames");
    assert_eq!(counted, frames, "ffprobe's count and the viewer's differ");
    assert!(
        (counted - received).abs() <= received * 0.05,
        "ffprobe counts {counted} frames, the viewer received {received} meanwhile"
    );
    let duration = number(&info, "duration");
    assert!(
        (duration - wall).abs() <= wall * 0.1,
        "{duration} s long, recorded for {wall:.2} s"
    );
    decode_all(&first);

    let killed = PathBuf::from(&last_line(&out, "recording")["path"]);
    assert_ne!(killed, first);
    decode_all(&killed);
    let kept = number(&probe(&killed), "nb_read_frames");
    // Two seconds at up to 30 fps; at most the last half second is lost.
    assert!(kept >= 30.0, "only {kept} frames survived kill -9");
}

#[test]
fn field_wheel_zooms_at_the_cursor_drag_pans_and_z_restores_the_fit() {
    let _lock = heavy();
    let f = Field::start("field-zoom", &["--hud", "off"]);
    f.press("space");
    let fit = f.shot("fit.ppm");
    let y = 300;
    // Cyan (bar 2) meets green (bar 3) at x = 480 in a 1280-wide 8-bar pattern.
    let edge = boundary(&fit, y, 2, 3).expect("no cyan-green edge");
    assert!(edge.abs_diff(480) <= 4, "edge at {edge}");
    f.pointer(480, y);
    f.wheel_in(4);
    let zoomed = f.shot("zoomed.ppm");
    // The edge under the cursor stays; the next one moves 4 bar widths (640) away.
    let edge = boundary(&zoomed, y, 2, 3).expect("no cyan-green edge when zoomed");
    assert!(edge.abs_diff(480) <= 8, "zoomed edge at {edge}");
    let next = boundary(&zoomed, y, 3, 4).expect("no green-magenta edge when zoomed");
    assert!(next.abs_diff(480 + 640) <= 8, "next edge at {next}");

    // Dragging 200 pixels left moves the picture with the pointer.
    f.x.tool("xdotool", &["mousedown", "1"]);
    thread::sleep(Duration::from_millis(150));
    for x in [430, 380, 330, 280] {
        f.pointer(x, y);
    }
    f.x.tool("xdotool", &["mouseup", "1"]);
    thread::sleep(Duration::from_millis(300));
    let dragged = f.shot("dragged.ppm");
    let edge = boundary(&dragged, y, 2, 3).expect("no cyan-green edge after dragging");
    assert!(edge.abs_diff(280) <= 8, "dragged edge at {edge}");

    f.press("z");
    let back = f.shot("back.ppm");
    assert!(
        back.data == fit.data,
        "Z did not restore the letterboxed picture"
    );
    f.quit();
}

/// A solid `rgb` PNG of `w`x`h` at `path`: a stream no one can mistake for the bars.
fn write_solid_png(path: &Path, (w, h): (u32, u32), rgb: [u8; 3]) {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let pixels = rgb.repeat((w * h) as usize);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Whether the middle half of `image` (both ways) is `rgb` throughout, within JPEG's error.
fn solid(image: &Rgb, rgb: [u8; 3]) -> Result<(), String> {
    let (w, h) = (image.width, image.height);
    for y in (h / 4..h * 3 / 4).step_by(7) {
        for x in (w / 4..w * 3 / 4).step_by(7) {
            let p = image.pixel(x, y);
            if !close(p, rgb, 24) {
                return Err(format!("pixel ({x}, {y}) is {p:?}, expected about {rgb:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn field_tab_shows_each_stream_alone_then_the_grid() {
    const ORANGE: [u8; 3] = [240, 120, 16];
    let _lock = heavy();
    let mut f = Field::start("field-tab", &["--hud", "off"]);
    // The second stream is a solid orange still, so that every screenshot tells which stream
    // it shows: the bars are the first stream, orange the second.
    let still = f.dir.path("orange.png");
    write_solid_png(&still, (640, 360), ORANGE);
    let args = [
        "--source",
        still.to_str().unwrap(),
        "--fps",
        "30",
        "--quiet",
    ];
    f.streamers.push(Background::start(
        "streamer",
        &[&args[..], &[f.viewer.addr.as_str()]].concat(),
    ));
    let half = |img: &Rgb, left: usize| crop(img, (left, 180, 640, 360));
    let grid = |img: &Rgb| bars(&half(img, 0), 0, 640).and(solid(&half(img, 640), ORANGE));
    // Waits for each view on screenshots (the window redraws when it gets to it), with a
    // deadline for a busy machine.
    let expect = |what: &str, check: &dyn Fn(&Rgb) -> Result<(), String>| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let shot = f.shot("tab.ppm");
            assert_eq!((shot.width, shot.height), (1280, 720));
            match check(&shot) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(200)),
            }
        }
    };
    expect("grid: bars left, orange right", &grid);
    f.press("Tab");
    expect("first stream alone: the bars", &|img| bars(img, 0, 1280));
    f.press("Tab");
    expect("second stream alone: orange", &|img| solid(img, ORANGE));
    f.press("Tab");
    expect("grid again", &grid);
    f.quit();
}

#[test]
fn field_record_flag_records_the_first_stream_headless() {
    let _lock = heavy();
    let dir = TempDir::new("field-record-flag");
    let path = dir.path("first.mkv");
    let viewer = Viewer::start(&["--headless", "--record", path.to_str().unwrap()], &[]);
    let streamer = run(
        "streamer",
        &[
            "--source",
            "test",
            "--fps",
            "30",
            "--frames",
            "45",
            "--quiet",
            &viewer.addr,
        ],
        Duration::from_secs(20),
    );
    assert!(streamer.status.success());
    thread::sleep(Duration::from_millis(300));
    let (status, out) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
    let done = last_line(&out, "recorded");
    assert_eq!(done["frames"], "45", "{out}");
    assert_eq!(PathBuf::from(&done["path"]), path);
    let info = probe(&path);
    assert_eq!(info["codec_name"], "mjpeg");
    assert_eq!(number(&info, "nb_read_frames"), 45.0);
    decode_all(&path);
}

/// Every quick tap acts: `xdotool key` presses and releases within one window update, which
/// a key-state poll never sees; the window takes key presses as events.
#[test]
fn field_every_quick_key_tap_acts() {
    let _lock = heavy();
    let (f, _saved, snaps) = Field::keeping("field-taps");
    const TAPS: usize = 5;
    for _ in 0..TAPS {
        f.x.tool("xdotool", &["key", "--window", &f.id, "s"]);
    }
    let jpegs = || {
        files(&snaps.0)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while jpegs() < TAPS && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    let out = f.quit();
    let lines = out.lines().filter(|l| l.starts_with("snapshot ")).count();
    assert_eq!((jpegs(), lines), (TAPS, TAPS), "{out}");
}
