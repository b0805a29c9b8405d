//! Sliced frames (`streamer --slices`) through the real binaries: byte for byte what
//! libjpeg-turbo writes with a restart interval per strip, the same pixels as the unsliced
//! frame in every decoder users have (djpeg, OpenCV as in the reference viewer, Pillow,
//! ffmpeg, Chromium), accepted by the reference receiver, and under 1 % larger.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::cli::Resolution;
use shared::media::jpeg_slices::StripPlan;
use streamer::encode::encoder::{EncodedFrame, Encoder};
use streamer::encode::slices::{encode_with_restarts, Input};
use streamer::source::pattern::TestPattern;
use streamer::source::{PixelFormat, RawFrame};
use turbojpeg::Subsamp;

use crate::dialects::{files_in, start_receiver};
use crate::support::*;

/// Writes one full-range test-pattern frame as a `.y4m` file; returns its I420 planes.
fn write_y4m(path: &Path, w: usize, h: usize) -> Vec<u8> {
    let mut planes = Vec::new();
    TestPattern::new(Resolution::new(w, h).unwrap()).render(5, &mut planes);
    let mut file = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg XCOLORRANGE=FULL\nFRAME\n")
        .into_bytes();
    file.extend_from_slice(&planes);
    std::fs::write(path, file).unwrap();
    planes
}

/// The streamer sending that one frame in `slices` strips to `addr`.
fn stream_one(y4m: &Path, slices: usize, addr: &str) {
    let out = run(
        "streamer",
        &[
            "--source",
            y4m.to_str().unwrap(),
            "--fps",
            "0",
            "--frames",
            "1",
            "--slices",
            &slices.to_string(),
            "--quiet",
            addr,
        ],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "streamer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the frame must be: the whole frame encoded with one restart interval per strip.
fn reference(planes: &[u8], w: usize, h: usize, slices: usize) -> Vec<u8> {
    let rows = StripPlan::new(h, 16, slices).rows / 16;
    encode_with_restarts(Input::Planar(planes, Subsamp::Sub2x2), w, h, 40, rows).unwrap()
}

fn unsliced(planes: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut raw = RawFrame {
        data: planes.to_vec(),
        width: w,
        height: h,
        format: PixelFormat::I420,
        ..RawFrame::default()
    };
    let mut out = EncodedFrame::default();
    Encoder::new(40)
        .unwrap()
        .encode(&mut raw, &mut out)
        .unwrap();
    out.jpeg().to_vec()
}

fn decoders_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/decoders.py")
}

#[test]
fn sliced_frames_are_plain_jpeg_to_every_decoder() {
    let _lock = heavy();
    let dir = TempDir::new("slices-decoders");
    // 720p in 2 strips; odd geometry (neither side a multiple of 16) in 3 and 8 strips, the
    // last strip of 8 being one MCU row.
    for (w, h, slices) in [(1280, 720, 2), (646, 362, 3), (646, 362, 8)] {
        let y4m = dir.path("frame.y4m");
        let planes = write_y4m(&y4m, w, h);
        let saved = dir.path(&format!("saved-{w}x{h}-{slices}"));
        let viewer = Viewer::start(&["--headless", "--save-dir", saved.to_str().unwrap()], &[]);
        stream_one(&y4m, slices, &viewer.addr);
        std::thread::sleep(Duration::from_millis(200));
        let (status, vout) = viewer.terminate(Duration::from_secs(10));
        assert!(status.success());
        let s = summary(&vout);
        assert_eq!(
            (&s["frames"][..], &s["decoded"][..], &s["errors"][..]),
            ("1", "1", "0")
        );
        let files = files_in(&saved);
        assert_eq!(files.len(), 1);
        let sliced = &files[0];
        let with_restarts = reference(&planes, w, h, slices);
        assert!(
            *sliced == with_restarts,
            "{w}x{h} in {slices}: not the bytes of libjpeg-turbo's own restart intervals"
        );

        let plain = unsliced(&planes, w, h);
        let cost = (sliced.len() as f64 / plain.len() as f64 - 1.0) * 100.0;
        println!(
            "slices size={w}x{h} slices={slices} bytes_sliced={} bytes_unsliced={} size_cost_pct={cost:.3}",
            sliced.len(),
            plain.len()
        );
        assert!(cost < 1.0, "size cost {cost:.3} % at quality 40");

        // The same coefficients in other entropy coding: every decoder must show the sliced
        // frame, the reference with restart intervals and the unsliced frame alike.
        let (a, b, c) = (
            dir.path("sliced.jpg"),
            dir.path("dri.jpg"),
            dir.path("plain.jpg"),
        );
        std::fs::write(&a, sliced).unwrap();
        std::fs::write(&b, &with_restarts).unwrap();
        std::fs::write(&c, &plain).unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .arg(decoders_script())
            .args([&a, &b, &c])
            .output_within(TOOL_LIMIT)
            .expect("/usr/bin/python3 is needed: run scripts/setup.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "decoders.py failed: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<_> = stdout.lines().map(key_values).collect();
        let names: Vec<_> = lines.iter().map(|l| l["decoder"].as_str()).collect();
        assert_eq!(names, ["djpeg", "opencv", "pillow", "ffmpeg", "chromium"]);
        for l in &lines {
            let name = &l["decoder"];
            println!(
                "slices size={w}x{h} slices={slices} decoder={name} equal={} mean={}",
                l["equal"], l["mean"]
            );
            assert_eq!(l["width"], w.to_string(), "{name}");
            assert_eq!(l["height"], h.to_string(), "{name}");
            assert_eq!(
                l["equal"], "1",
                "{name}: sliced, restart-interval and unsliced pixels differ"
            );
            let mean: f64 = l["mean"].parse().unwrap();
            assert!((20.0..235.0).contains(&mean), "{name}: mean {mean}");
        }
    }
}

#[test]
fn the_reference_receiver_takes_sliced_frames() {
    let _lock = heavy();
    let dir = TempDir::new("slices-reference");
    let (w, h, slices) = (640, 480, 4);
    let y4m = dir.path("frame.y4m");
    let planes = write_y4m(&y4m, w, h);
    let outdir = dir.path("received");
    std::fs::create_dir_all(&outdir).unwrap();
    let (receiver, port) = start_receiver("recv-flag", &outdir);
    stream_one(&y4m, slices, &format!("127.0.0.1:{port}"));
    let peer = output_of(receiver, TOOL_LIMIT, "the reference receiver");
    assert!(
        peer.status.success(),
        "reference receiver: {}",
        String::from_utf8_lossy(&peer.stderr)
    );
    assert_eq!(files_in(&outdir), [reference(&planes, w, h, slices)]);
}
