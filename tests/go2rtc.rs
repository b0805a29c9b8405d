//! Many watchers through a media server: go2rtc pulls the hub's `/stream/1` once and re-serves
//! it; 50 MJPEG clients read it from go2rtc at full rate, and ffprobe decodes go2rtc's RTSP
//! re-stream of the same MJPEG (RTP/JPEG, no transcoding). Needs go2rtc
//! (`scripts/go2rtc-env.sh`; ignored until it can be installed: see docs/hub.md) and ffprobe.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::hub::{get, hub, paced_streamer, tool, wait_for_stream};
use crate::support::*;

/// How many watchers read go2rtc's MJPEG at once.
const WATCHERS: usize = 50;

/// go2rtc's binary, from `GO2RTC` or installed by scripts/go2rtc-env.sh.
fn go2rtc_binary() -> String {
    if let Ok(path) = std::env::var("GO2RTC") {
        return path;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = tool("bash", &[&format!("{root}/scripts/go2rtc-env.sh")]);
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "go2rtc is not installed: scripts/go2rtc-env.sh said {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// go2rtc on loopback ports pulling `source` as stream `robot`: its API (and MJPEG) and RTSP
/// addresses. WebRTC, HomeKit's SRTP and RTMP stay closed.
fn go2rtc(dir: &TempDir, source: &str) -> (Background, String, String) {
    let (api, rtsp) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let config = dir.path("go2rtc.yaml");
    std::fs::write(
        &config,
        format!(
            "api:\n  listen: \"{api}\"\nrtsp:\n  listen: \"{rtsp}\"\nwebrtc:\n  listen: \"\"\n\
             srtp:\n  listen: \"\"\nrtmp:\n  listen: \"\"\nstreams:\n  robot: {source}\n"
        ),
    )
    .unwrap();
    let server = Background::start_command(
        Command::new(go2rtc_binary()).args(["-config", &config.to_string_lossy()]),
        std::process::Stdio::null(),
    );
    wait_for("go2rtc's API to answer", Duration::from_secs(20), || {
        TcpStream::connect(&api).is_ok() && get(&api, "/api").status == 200
    });
    (server, api, rtsp)
}

/// A client reading an MJPEG response in a thread, counting the JPEGs begun (SOI and the next
/// marker's lead byte: the entropy-coded data escapes every 0xFF, so it cannot hold them).
struct Watcher {
    jpegs: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(addr: &str, path: &str) -> Watcher {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        let jpegs = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (jpegs, stop) = (jpegs.clone(), stop.clone());
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut tail: Vec<u8> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match read_some(&mut s, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            tail.extend_from_slice(&buf[..n]);
                            let found = tail.windows(3).filter(|w| *w == [0xFF, 0xD8, 0xFF]);
                            jpegs.fetch_add(found.count() as u64, Ordering::Relaxed);
                            tail.drain(..tail.len() - tail.len().min(2));
                        }
                        Err(_) => {}
                    }
                }
            })
        };
        Watcher {
            jpegs,
            stop,
            thread: Some(thread),
        }
    }

    fn jpegs(&self) -> u64 {
        self.jpegs.load(Ordering::Relaxed)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
#[ignore = "needs go2rtc, whose npm package downloads its binary at install: scripts/go2rtc-env.sh"]
fn fifty_watchers_through_go2rtc_get_every_frame_and_rtsp_decodes() {
    let _lock = heavy();
    let dir = TempDir::new("go2rtc");
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "640x480", 900);
    wait_for_stream(&http);
    let (_server, api, rtsp) = go2rtc(&dir, &format!("http://{http}/stream/1"));
    // What the hub sends, read beside go2rtc's one connection, and go2rtc's watchers.
    let reference = Watcher::start(&http, "/stream/1");
    let watchers: Vec<Watcher> = (0..WATCHERS)
        .map(|_| Watcher::start(&api, "/api/stream.mjpeg?src=robot"))
        .collect();
    wait_for(
        "every watcher's first JPEG",
        Duration::from_secs(20),
        || watchers.iter().all(|w| w.jpegs() > 0),
    );
    let before: Vec<u64> = watchers.iter().map(Watcher::jpegs).collect();
    let sent_before = reference.jpegs();
    thread::sleep(Duration::from_secs(4));
    let sent = reference.jpegs() - sent_before;
    let after: Vec<u64> = watchers.iter().map(Watcher::jpegs).collect();
    assert!(
        sent >= 90,
        "the hub sent only {sent} JPEGs in 4 s at 30 fps"
    );
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            (a - b) * 10 >= sent * 9,
            "watcher {i} got {} JPEGs of the {sent} the hub sent in the window",
            a - b
        );
    }
    // The same MJPEG re-served over RTSP as RTP/JPEG: ffprobe decodes frames of it.
    let url = format!("rtsp://{rtsp}/robot");
    let out = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-read_intervals",
            "%+3",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
            &url,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let fields = key_values(&text.replace('\n', " "));
    assert!(
        out.status.success(),
        "ffprobe {url}: {text} {:?}",
        out.stderr
    );
    assert_eq!(
        fields.get("codec_name").map(String::as_str),
        Some("mjpeg"),
        "{text}"
    );
    assert_eq!(
        fields.get("width").map(String::as_str),
        Some("640"),
        "{text}"
    );
    let decoded: u64 = fields["nb_read_frames"].parse().unwrap_or(0);
    assert!(
        decoded >= 30,
        "ffprobe decoded {decoded} frames in 3 s: {text}"
    );
    println!("go2rtc: hub sent {sent} in 4 s; watchers got {before:?} -> {after:?}; rtsp decoded {decoded}");
    drop(watchers);
    let _ = streamer;
}
