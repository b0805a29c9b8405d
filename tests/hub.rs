//! The viewer as an HTTP hub (`--http`): the page in headless Chromium shows the colour bars;
//! ffmpeg, ffprobe and OpenCV read the MJPEG stream; snapshots are payloads as sent; metrics
//! pass `promtool` and agree with the summary; many, stalled and hostile HTTP clients never
//! slow the streamer or each other. Needs chromium, ffmpeg, python3-opencv, prometheus
//! (promtool) and ImageMagick (scripts/setup.sh installs them); a missing one fails the test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use streamer::source::pattern::BARS_RGB;

use crate::dialects::{files_in, write_png};
use crate::robustness::{num, tiny_jpeg};
use crate::support::*;

/// Starts a headless viewer with `--http 127.0.0.1:0` and `args`; returns it with its HTTP
/// address (plain, or with `--http-cert` over TLS).
pub(crate) fn hub(args: &[&str]) -> (Viewer, String) {
    let mut all = vec!["--headless", "--http", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let viewer = Viewer::start(&all, &[]);
    let find = || {
        viewer.stderr.lock().unwrap().iter().find_map(|l| {
            l.strip_prefix("viewer: serving HTTP on ")
                .or_else(|| l.strip_prefix("viewer: serving HTTPS on "))
                .map(str::to_string)
        })
    };
    wait_for(
        "the viewer to say where it serves HTTP",
        Duration::from_secs(5),
        || find().is_some(),
    );
    let http = find().unwrap_or_default();
    (viewer, http)
}

/// Runs an external tool, failing the test with a clear message when it is not installed.
pub(crate) fn tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output_within(TOOL_LIMIT)
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}): run scripts/setup.sh"))
}

/// What starts every MJPEG part after its boundary line (the boundary itself is random).
pub(crate) const PART_HEAD: &[u8] = b"\r\nContent-Type: image/jpeg\r\nContent-Length: ";

/// The MJPEG parts begun in `bytes`.
pub(crate) fn part_heads(bytes: &[u8]) -> usize {
    bytes
        .windows(PART_HEAD.len())
        .filter(|w| *w == PART_HEAD)
        .count()
}

/// A response: status code, head (lower-cased) and body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// Sends `request` as is and reads the response until the server closes.
pub(crate) fn raw(addr: &str, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    read_response(s)
}

/// Reads a response until the server closes, and splits it.
pub(crate) fn read_response(mut s: TcpStream) -> Response {
    let mut bytes = Vec::new();
    read_to_close(&mut s, &mut bytes);
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Response {
        status,
        head,
        body: bytes[end + 4..].to_vec(),
    }
}

/// `promtool check metrics` finds nothing wrong with `text` (a missing promtool fails).
pub(crate) fn promtool_check(text: &str) {
    let dir = TempDir::new("promtool");
    let file = dir.path("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let check = Command::new("sh")
        .args([
            "-c",
            "promtool check metrics < \"$0\"",
            file.to_str().unwrap(),
        ])
        .output_within(TOOL_LIMIT)
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        !said.contains("not found"),
        "promtool is not installed (Debian's prometheus package): run scripts/setup.sh"
    );
    assert!(
        check.status.success(),
        "promtool check metrics: {said}\n{text}"
    );
}

pub(crate) fn get(addr: &str, path: &str) -> Response {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// A streamer in the reference `flag` dialect, written out byte by byte, that stays
/// connected after its frames.
fn flag_sender(addr: &str, payload: &[u8], frames: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for _ in 0..frames {
        s.write_all(format!("{}, ", payload.len()).as_bytes())
            .unwrap();
        let mut ok = [0; 2];
        s.read_exact(&mut ok).unwrap();
        s.write_all(payload).unwrap();
        s.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"ok");
    }
    s
}

/// An MJPEG client reading `/stream/ID` in a thread, counting whole parts.
struct MjpegClient {
    parts: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// The server ended the response.
    ended: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl MjpegClient {
    fn start(addr: &str, path: &str) -> MjpegClient {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        let parts = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let thread = {
            let (parts, stop, ended) = (parts.clone(), stop.clone(), ended.clone());
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut tail = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match read_some(&mut s, &mut buf) {
                        Ok(0) => {
                            ended.store(true, Ordering::Relaxed);
                            break;
                        }
                        Ok(n) => {
                            // Count part heads (the boundary is random), also across reads.
                            tail.extend_from_slice(&buf[..n]);
                            let found = part_heads(&tail);
                            parts.fetch_add(found as u64, Ordering::Relaxed);
                            let keep = tail.len().min(PART_HEAD.len() - 1);
                            tail.drain(..tail.len() - keep);
                        }
                        Err(_) => {}
                    }
                }
            })
        };
        MjpegClient {
            parts,
            stop,
            ended,
            thread: Some(thread),
        }
    }

    fn parts(&self) -> u64 {
        self.parts.load(Ordering::Relaxed)
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

impl Drop for MjpegClient {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a test-pattern streamer at 30 fps for `frames` frames.
pub(crate) fn paced_streamer(viewer: &Viewer, size: &str, frames: u32) -> Background {
    let frames = frames.to_string();
    Background::start(
        "streamer",
        &[
            "--source",
            "test",
            "--fps",
            "30",
            "--size",
            size,
            "--quiet",
            "--frames",
            &frames,
            &viewer.addr,
        ],
    )
}

pub(crate) fn wait_for_stream(http: &str) {
    wait_for(
        "the stream in /api/streams",
        Duration::from_secs(10),
        || {
            String::from_utf8_lossy(&get(http, "/api/streams").body).contains("\"frames\"")
                && get(http, "/snapshot/1").status == 200
        },
    );
}

#[test]
fn page_in_headless_chromium_shows_the_colour_bars() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "1280x720", 600);
    wait_for_stream(&http);
    let dir = TempDir::new("hub-page");
    // Chromium's virtual time may run out before the stream's first picture is drawn on a
    // busy machine (the screenshot then shows the page without it): a few tries, each a whole
    // page load; a page that never shows the bars fails them all.
    let mut last = Vec::new();
    for attempt in 0..5 {
        let runs = bars_on_the_page(&http, &dir, attempt);
        let bars: Vec<usize> = runs
            .iter()
            .filter(|(_, n)| *n >= 40)
            .map(|(b, _)| *b)
            .collect();
        if bars == (0..7).collect::<Vec<_>>() {
            drop(streamer);
            return;
        }
        eprintln!("page load {attempt}: no colour bars yet: {runs:?}");
        last = runs;
    }
    panic!("no colour bars in 5 page loads; the last at a third of its height: {last:?}");
}

/// Headless Chromium's name: `chromium` (Debian), or `chromium-browser` (Ubuntu).
fn browser() -> &'static str {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    if on_path("chromium") {
        "chromium"
    } else {
        "chromium-browser"
    }
}

/// Loads the hub's page in headless Chromium and returns, across a row a third of the way
/// down, the runs of each bar's colour, left to right: (bar, length).
fn bars_on_the_page(http: &str, dir: &TempDir, attempt: usize) -> Vec<(usize, usize)> {
    let shot = dir.path(&format!("page{attempt}.png"));
    let out = tool(
        browser(),
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", dir.path("profile").display()),
            "--window-size=1280,900",
            "--virtual-time-budget=3000",
            &format!("--screenshot={}", shot.display()),
            &format!("http://{http}/"),
        ],
    );
    assert!(
        shot.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ppm = dir.path(&format!("page{attempt}.ppm"));
    tool("convert", &[shot.to_str().unwrap(), ppm.to_str().unwrap()]);
    let page = read_ppm(&ppm);
    let y = page.height / 3;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for x in 0..page.width {
        let px = page.pixel(x, y);
        let bar = BARS_RGB[..7]
            .iter()
            .position(|c| c.iter().zip(px).all(|(a, b)| a.abs_diff(b) <= 40));
        match (bar, runs.last_mut()) {
            (Some(b), Some((last, n))) if *last == b => *n += 1,
            (Some(b), _) => runs.push((b, 1)),
            (None, _) => {}
        }
    }
    runs
}

#[test]
fn ffmpeg_ffprobe_and_opencv_read_the_mjpeg_stream() {
    let _lock = heavy();
    let (viewer, http) = hub(&["--measure"]);
    let streamer = paced_streamer(&viewer, "640x480", 900);
    wait_for_stream(&http);
    let url = format!("http://{http}/stream/1");

    // Measured, the glass-to-glass figures appear in the JSON and the metrics.
    let api = String::from_utf8(get(&http, "/api/streams").body).unwrap();
    assert!(api.contains("\"glass_p50_ms\":"), "{api}");
    let metrics = String::from_utf8(get(&http, "/metrics").body).unwrap();
    assert!(
        metrics.contains("viewer_stream_glass_seconds_count{"),
        "{metrics}"
    );

    let probe = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-f",
            "mpjpeg",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "default=noprint_wrappers=1",
            &url,
        ],
    );
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(
        text.contains("codec_name=mjpeg")
            && text.contains("width=640")
            && text.contains("height=480"),
        "ffprobe: {text} {}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // Decode 40 frames; and record 40 without re-encoding, as docs/hub.md shows.
    let decode = tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "mpjpeg",
            "-i",
            &url,
            "-frames:v",
            "40",
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        decode.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
    let dir = TempDir::new("hub-ffmpeg");
    let mkv = dir.path("out.mkv");
    let record = tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "mpjpeg",
            "-i",
            &url,
            "-c",
            "copy",
            "-frames:v",
            "40",
            mkv.to_str().unwrap(),
        ],
    );
    assert!(
        record.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&record.stderr)
    );
    let counted = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
            mkv.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&counted.stdout);
    let frames: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("nb_read_frames="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("ffprobe on the recording: {text}"));
    assert!(text.contains("codec_name=mjpeg") && frames >= 30, "{text}");

    // OpenCV, as a detection script would open it.
    let script = "import cv2, sys\n\
        cap = cv2.VideoCapture(sys.argv[1])\n\
        sizes = []\n\
        for _ in range(30):\n\
        \x20   ok, frame = cap.read()\n\
        \x20   if ok: sizes.append(frame.shape)\n\
        print(len(sizes), set(sizes))\n";
    let cv = tool("/usr/bin/python3", &["-c", script, &url]);
    let text = String::from_utf8_lossy(&cv.stdout);
    assert!(
        cv.status.success() && text.trim() == "30 {(480, 640, 3)}",
        "OpenCV read (python3-opencv from scripts/setup.sh, run by /usr/bin/python3): {text} {}",
        String::from_utf8_lossy(&cv.stderr)
    );
    drop(streamer);
}

#[test]
fn snapshots_are_payloads_as_sent_and_png_is_served_as_png() {
    let _lock = heavy();
    let dir = TempDir::new("hub-snapshot");
    let saved = dir.path("saved");
    let (viewer, http) = hub(&["--save-dir", saved.to_str().unwrap()]);
    let streamer = paced_streamer(&viewer, "640x480", 60);
    wait_for_stream(&http);
    let snaps: Vec<Response> = ["/snapshot/1", "/snapshot", "/?action=snapshot"]
        .iter()
        .map(|p| get(&http, p))
        .collect();
    let watching = MjpegClient::start(&http, "/?action=stream");
    let (status, _, _) = streamer.finish(Duration::from_secs(20));
    assert!(status.success());
    let sent = files_in(&saved);
    for snap in &snaps {
        assert_eq!(snap.status, 200);
        assert!(
            snap.head.contains("content-type: image/jpeg"),
            "{}",
            snap.head
        );
        assert!(snap.head.contains("x-timestamp: "), "{}", snap.head);
        assert!(
            sent.contains(&snap.body),
            "a snapshot of {} bytes is none of the {} payloads sent",
            snap.body.len(),
            sent.len()
        );
    }
    // The stream ended: its id and the "first stream" paths are gone.
    wait_for("the stream to end", Duration::from_secs(5), || {
        get(&http, "/snapshot/1").status == 404
    });
    assert_eq!(get(&http, "/stream/1").status, 404);
    assert_eq!(get(&http, "/stream").status, 404);
    // A client watching the stream when it ended saw its response end.
    wait_for("the MJPEG response to end", Duration::from_secs(5), || {
        watching.ended()
    });
    assert!(watching.parts() > 0, "the mjpg-streamer path sent nothing");

    // PNG payloads: served as received in /snapshot, skipped in MJPEG.
    let png = write_png(&dir.path("p.png"));
    let sender = flag_sender(&viewer.addr, &png, 3);
    let snap = get(&http, "/snapshot/2");
    assert_eq!(snap.status, 200);
    assert!(
        snap.head.contains("content-type: image/png"),
        "{}",
        snap.head
    );
    assert_eq!(snap.body, png);
    let client = MjpegClient::start(&http, "/stream/2");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(client.parts(), 0, "a PNG went out as an MJPEG part");
    drop(client);
    drop(sender);
}

#[test]
fn metrics_pass_promtool_and_match_the_summary() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let jpeg = tiny_jpeg();
    let sender = flag_sender(&viewer.addr, &jpeg, 25);
    let peer = sender.local_addr().unwrap();
    let labels = format!("{{stream=\"1\",peer=\"{peer}\"}}");
    // The answer goes out before the frame is counted: wait for the count.
    wait_for("25 frames counted", Duration::from_secs(10), || {
        let text = String::from_utf8(get(&http, "/metrics").body).unwrap();
        text.contains(&format!("viewer_stream_frames_total{labels} 25\n"))
            && text.contains(&format!("viewer_stream_decode_seconds_count{labels}"))
    });
    let metrics = get(&http, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .head
        .contains("content-type: text/plain; version=0.0.4"));
    let text = String::from_utf8(metrics.body).unwrap();
    promtool_check(&text);

    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value(&format!("viewer_stream_frames_total{labels}")), 25.0);
    assert_eq!(
        value(&format!("viewer_stream_bytes_total{labels}")),
        (25 * jpeg.len()) as f64
    );
    assert_eq!(value(&format!("viewer_stream_width{labels}")), 16.0);
    assert_eq!(value("viewer_streams "), 1.0);
    assert!(value(&format!("viewer_stream_decode_seconds_count{labels}")) >= 1.0);

    let api = String::from_utf8(get(&http, "/api/streams").body).unwrap();
    for field in [
        "\"id\":1",
        &format!("\"peer\":\"{peer}\""),
        "\"dialect\":\"flag\"",
        "\"width\":16",
        "\"height\":16",
        "\"frames\":25",
        "\"errors\":0",
        "\"dropped\":",
        "\"fps\":",
        "\"bytes\":",
        "\"connected_for_s\":",
    ] {
        assert!(api.contains(field), "/api/streams lacks {field}: {api}");
    }
    assert!(
        !api.contains("glass_p50_ms"),
        "no glass time without --measure: {api}"
    );

    drop(sender);
    wait_for("the stream to end", Duration::from_secs(5), || {
        get(&http, "/api/streams").body == b"[]"
    });
    let after = String::from_utf8(get(&http, "/metrics").body).unwrap();
    let (_, out) = viewer.terminate(Duration::from_secs(10));
    let s = summary(&out);
    assert_eq!(num(&s, "frames"), 25.0);
    for (key, series) in [
        ("frames", "viewer_frames_total"),
        ("decoded", "viewer_decoded_total"),
        ("errors", "viewer_errors_total"),
        ("dropped", "viewer_dropped_total"),
    ] {
        let line = format!("\n{series} {}\n", s[key]);
        assert!(
            after.contains(&line),
            "no {line:?} in\n{after}\nagainst {out}"
        );
    }
}

#[test]
fn fifty_clients_and_a_stalled_one_do_not_slow_the_streamer() {
    let _lock = heavy();
    // All from one address: the share per address is the whole hub here.
    let (viewer, http) = hub(&["--http-max-per-client", "64"]);
    let streamer = paced_streamer(&viewer, "640x480", 300);
    wait_for_stream(&http);
    let clients: Vec<MjpegClient> = (0..50)
        .map(|_| MjpegClient::start(&http, "/stream/1"))
        .collect();
    // Asks for the stream, then never reads.
    let mut stalled = TcpStream::connect(&http).unwrap();
    stalled
        .write_all(b"GET /stream/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_secs(3));
    let before: Vec<u64> = clients.iter().map(MjpegClient::parts).collect();
    let rss_mid = peak_rss_kb(viewer.child.id());
    thread::sleep(Duration::from_secs(3));
    let after: Vec<u64> = clients.iter().map(MjpegClient::parts).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        // 3 s at 30 fps is 90 parts; a client may skip some, never most.
        assert!(
            a - b >= 60,
            "client {i} received only {} parts in 3 s",
            a - b
        );
    }
    let (status, out, _) = streamer.finish(Duration::from_secs(30));
    assert!(status.success());
    let fps = num(&summary(&out), "fps");
    assert!(
        (27.0..=33.0).contains(&fps),
        "the streamer ran at {fps} fps, paced at 30: {out}"
    );
    let rss = peak_rss_kb(viewer.child.id());
    println!("hub: 50 clients + 1 stalled: streamer fps={fps} viewer_peak_rss_kb={rss} (at 3 s: {rss_mid})");
    assert!(
        rss < 100_000,
        "viewer peak RSS {rss} kB with 51 HTTP clients"
    );
    drop(stalled);
    drop(clients);
}

#[test]
fn a_stalled_mjpeg_client_is_closed_after_20_s() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "1280x720", 1500);
    wait_for_stream(&http);
    let mut stalled = TcpStream::connect(&http).unwrap();
    stalled
        .write_all(b"GET /stream/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let good = MjpegClient::start(&http, "/stream/1");
    // Its socket buffers fill within a few seconds; 20 s later the hub gives up on it.
    wait_for(
        "the hub to close the stalled client",
        Duration::from_secs(45),
        || {
            viewer
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(": HTTP: took nothing for 20 s, closing"))
        },
    );
    // Closed by the hub, not by the client reading again: while it still reads nothing, the
    // hub counts only the good client and the request asking.
    wait_for(
        "the stalled connection gone",
        Duration::from_secs(15),
        || {
            let text = String::from_utf8(get(&http, "/metrics").body).unwrap();
            let open = text
                .lines()
                .find_map(|l| l.strip_prefix("viewer_http_clients "));
            open.and_then(|n| n.parse::<f64>().ok()) == Some(2.0)
        },
    );
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match read_some(&mut stalled, &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the stalled client's connection is still open: {e}"),
        }
    }
    let before = good.parts();
    thread::sleep(Duration::from_secs(1));
    assert!(good.parts() > before, "the good client stopped receiving");
    drop(streamer);
}

#[test]
fn hostile_http_clients_are_refused_and_nothing_else_is_disturbed() {
    let _lock = heavy();
    // The hub's cap, not the share per address (tests/hub_fair.rs), is tested here.
    let (viewer, http) = hub(&["--http-max-per-client", "64"]);
    let streamer = paced_streamer(&viewer, "640x480", 420);
    wait_for_stream(&http);
    let good = MjpegClient::start(&http, "/stream/1");

    let garbage = raw(&http, b"HELLO THERE\r\n\r\n");
    assert_eq!(garbage.status, 400);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    assert_eq!(raw(&http, huge.as_bytes()).status, 431);
    let post = raw(
        &http,
        b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(post.status, 405);
    assert!(
        post.head
            .to_ascii_lowercase()
            .contains("\r\nallow: get, head\r\n"),
        "{}",
        post.head
    );
    assert_eq!(get(&http, "/no/such/thing").status, 404);
    assert_eq!(get(&http, "/stream/99").status, 404);
    assert_eq!(get(&http, "/stream/x").status, 404);

    // 100 connections that send nothing: those beyond the client limit are refused at once.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&http).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(500));
    let mut refused = 0;
    let mut open = Vec::new();
    for mut s in idle {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        match read_some(&mut s, &mut buf) {
            Ok(n) if n > 0 => {
                assert!(
                    buf.starts_with(b"HTTP/1.1 503"),
                    "{:?}",
                    String::from_utf8_lossy(&buf)
                );
                refused += 1;
            }
            _ => open.push(s),
        }
    }
    assert!(
        refused >= 36,
        "only {refused} of 100 idle connections were refused"
    );
    // The idle ones the hub took are closed once their time to send a request (10 s) is up:
    // each read must end in EOF (or a reset), never in a timeout of a socket still open. The
    // deadline is generous for a busy machine; the hub closes them all at about 10 s.
    let deadline = Instant::now() + Duration::from_secs(40);
    for mut s in open {
        s.set_nonblocking(false).unwrap();
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 64];
        match read_some(&mut s, &mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!(
                "an idle connection got an answer instead of being closed: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("an idle connection is still open 40 s on (the hub closes idle ones after 10 s): {e}"),
        }
    }
    assert_eq!(get(&http, "/api/streams").status, 200);

    let parts = good.parts();
    let (status, out, _) = streamer.finish(Duration::from_secs(30));
    assert!(status.success());
    let s = summary(&out);
    let (fps, sent) = (num(&s, "fps"), num(&s, "frames"));
    // Paced at 30: never faster; a busy machine may slow it a little, the hub must not (while
    // the idle connections were held, a blocked hub would have stalled its acks for 10 s).
    assert!(
        (24.0..=33.0).contains(&fps),
        "the streamer ran at {fps} fps, paced at 30: {out}"
    );
    // The good client was there for nearly all of the stream and saw most of it (the hub
    // skips frames for a slow reader, newest first); had the idle connections starved it
    // for their 10 s, it would have seen well under half.
    assert!(
        parts as f64 >= sent * 0.5,
        "the good client received only {parts} parts of {sent} frames sent"
    );
    let refusals = viewer.stderr.lock().unwrap().join("\n");
    assert!(
        refusals.contains("HTTP clients already connected, answering 503"),
        "{refusals}"
    );
}

#[test]
fn http_clients_outside_the_allow_list_are_refused() {
    let (_viewer, http) = hub(&["--allow", "10.0.0.0/8"]);
    let answer = get(&http, "/");
    assert_eq!(answer.status, 403);
    assert_eq!(
        String::from_utf8_lossy(&answer.body),
        "not in the --allow list\n"
    );
}

/// One robot reaches a second viewer through the first one's hub: a streamer reading
/// `--source http://HUB/stream/1` passes the hub's frames on byte for byte, newest first, in
/// the order the hub received them.
#[test]
fn a_streamer_forwards_a_hubs_stream_byte_for_byte() {
    let _lock = heavy();
    let dir = TempDir::new("hub-forward");
    let (first, second) = (dir.path("first"), dir.path("second"));
    let (hub_viewer, http) = hub(&["--save-dir", first.to_str().unwrap()]);
    let robot = Background::start(
        "streamer",
        &["--source", "test", "--size", "320x240", &hub_viewer.addr],
    );
    wait_for("the robot's first frame", Duration::from_secs(10), || {
        get(&http, "/api/streams").body.len() > 2
    });
    let laptop = Viewer::start(&["--headless", "--save-dir", second.to_str().unwrap()], &[]);
    let url = format!("http://{http}/stream/1");
    let out = run(
        "streamer",
        &["--source", &url, "--frames", "30", "--quiet", &laptop.addr],
        Duration::from_secs(30),
    );
    assert_ok(&out);
    let (status, _, _) = robot.stop("TERM", Duration::from_secs(10));
    assert!(status.success());
    let at_hub = files_in(&first);
    let forwarded = files_in(&second);
    assert_eq!(forwarded.len(), 30);
    // Each forwarded frame is one the hub received, untouched, and they come in its order.
    let mut last = None;
    for frame in &forwarded {
        let index = at_hub.iter().position(|f| f == frame);
        assert!(
            index.is_some(),
            "a forwarded frame is not one the hub received"
        );
        assert!(index > last, "frames out of order");
        last = index;
    }
}
