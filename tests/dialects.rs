//! Interoperability with the reference programs of every dialect, byte for byte: our streamer
//! against scripted reference receivers, and one viewer serving scripted reference senders of
//! all three dialects at once, saving what they sent (`tests/peers/reference.py`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shared::cli::Resolution;
use streamer::source::pattern::TestPattern;

use crate::support::*;

pub fn reference_peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/reference.py")
}

/// A still JPEG of the test pattern, as a camera app would have saved it.
pub fn write_jpeg(path: &Path, size: (usize, usize)) -> Vec<u8> {
    let (w, h) = size;
    let mut raw = Vec::new();
    TestPattern::new(Resolution::new(w, h).unwrap()).render(3, &mut raw);
    let image = turbojpeg::YuvImage {
        pixels: &raw[..],
        width: w,
        align: 1,
        height: h,
        subsamp: turbojpeg::Subsamp::Sub2x2,
    };
    let jpeg = turbojpeg::compress_yuv(image, 75).unwrap().to_vec();
    std::fs::write(path, &jpeg).unwrap();
    jpeg
}

/// A small PNG (the reference programs send PNG files too).
pub(crate) fn write_png(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 64, 32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let pixels: Vec<u8> = (0..64 * 32 * 3).map(|i| (i * 7 % 251) as u8).collect();
        enc.write_header()
            .unwrap()
            .write_image_data(&pixels)
            .unwrap();
    }
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Starts a reference receiver and returns it with the port it listens on.
pub fn start_receiver(mode: &str, outdir: &Path) -> (Child, u16) {
    let mut child = Command::new("python3")
        .arg(reference_peer())
        .arg(mode)
        .arg(outdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the interoperability tests: run scripts/setup.sh");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no port from {mode}: {line:?}"));
    (child, port)
}

pub fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn streamer_speaks_every_dialect_to_the_reference_receivers() {
    let _lock = heavy();
    let dir = TempDir::new("dialects-out");
    let photo = dir.path("photo.jpg");
    let jpeg = write_jpeg(&photo, (640, 480));
    for dialect in ["flag", "size", "len32"] {
        let outdir = dir.path(dialect);
        std::fs::create_dir_all(&outdir).unwrap();
        let (receiver, port) = start_receiver(&format!("recv-{dialect}"), &outdir);
        let addr = format!("127.0.0.1:{port}");
        let out = run(
            "streamer",
            &[
                "--source",
                photo.to_str().unwrap(),
                "--frames",
                "3",
                "--protocol",
                dialect,
                &addr,
            ],
            Duration::from_secs(30),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{dialect}: streamer failed: {stderr}");
        let peer = output_of(receiver, TOOL_LIMIT, "the reference receiver");
        assert!(
            peer.status.success(),
            "{dialect}: reference receiver failed: {}",
            String::from_utf8_lossy(&peer.stderr)
        );
        // The file's bytes arrived as they are: no re-encode.
        let got = files_in(&outdir);
        assert_eq!(got.len(), 3, "{dialect}");
        assert!(
            got.iter().all(|f| *f == jpeg),
            "{dialect}: payload differs from the file"
        );

        let s = summary(&stdout);
        assert_eq!(s["frames"], "3", "{dialect}");
        if dialect == "len32" {
            // No answers, so no latency: send time only, and said so once.
            assert!(!s.keys().any(|k| k.starts_with("latency")), "{stdout}");
            assert!(s.contains_key("send_ms_p50") && s.contains_key("send_ms_p95"));
            let frames: Vec<&str> = stdout.lines().filter(|l| l.starts_with("frame=")).collect();
            assert_eq!(frames.len(), 3, "{stdout}");
            assert!(frames.iter().all(|l| l.contains(" send_ms=")), "{stdout}");
            assert_eq!(
                stderr.matches("latency cannot be measured").count(),
                1,
                "{stderr}"
            );
        } else {
            assert!(s.contains_key("latency_p50_ms"), "{stdout}");
        }
    }
}

#[test]
fn viewer_serves_reference_senders_of_all_three_dialects_at_once() {
    let _lock = heavy();
    let dir = TempDir::new("dialects-in");
    let saved = dir.path("saved");
    let jpeg_path = dir.path("photo.jpg");
    let png_path = dir.path("drawing.png");
    let jpeg = write_jpeg(&jpeg_path, (320, 240));
    let png = write_png(&png_path);
    let viewer = Viewer::start(&["--headless", "--save-dir", saved.to_str().unwrap()], &[]);
    let (host, port) = viewer.addr.rsplit_once(':').unwrap();

    let send = |mode: &str, file: &Path, extra: &[&str]| {
        Command::new("python3")
            .arg(reference_peer())
            .args([mode, host, port, file.to_str().unwrap()])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let senders = vec![
        ("flag", send("send-flag", &jpeg_path, &["5"])),
        ("size", send("send-size", &jpeg_path, &[])),
        ("len32", send("send-len32", &jpeg_path, &[])),
        ("len32 png", send("send-len32", &png_path, &[])),
        ("size png", send("send-size", &png_path, &[])),
    ];
    for (name, child) in senders {
        let out = output_of(child, TOOL_LIMIT, "the reference sender");
        assert!(
            out.status.success(),
            "{name} sender: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Each sender's end read (one line per connection) and every payload on disk: then the
    // viewer has handled all it was sent.
    wait_for("the five senders' ends", Duration::from_secs(30), || {
        let err = viewer.stderr.lock().unwrap();
        err.iter()
            .filter(|l| l.ends_with(": streamer disconnected"))
            .count()
            == 5
    });
    wait_for("nine saved payloads", Duration::from_secs(30), || {
        saved.exists() && files_in(&saved).len() == 9
    });
    let (status, vout) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
    let s = summary(&vout);
    let n = |k: &str| s[k].parse::<u64>().unwrap();
    assert_eq!((n("frames"), n("errors"), n("saved")), (9, 0, 9), "{vout}");
    // A burst may be thinned (the newest frame wins), but every frame is either decoded or
    // counted as dropped, and each connection's last frame is always shown.
    assert_eq!(n("decoded") + n("dropped"), 9, "{vout}");
    assert!(n("decoded") >= 5, "{vout}");

    // Every payload saved byte for byte, with the right extension.
    let mut names: Vec<String> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.ends_with("-127.0.0.1.jpg") || n.ends_with("-127.0.0.1.png")));
    let contents = files_in(&saved);
    assert_eq!(contents.iter().filter(|c| **c == jpeg).count(), 7);
    assert_eq!(contents.iter().filter(|c| **c == png).count(), 2);
}
