//! ROS 2 image topics (`streamer --source ros2:TOPIC`, `viewer --ros2-publish`) against
//! Eclipse Cyclone DDS (PyPI `cyclonedds`, ROS 2's default middleware; tests/peers/ros2_*.py).
//! Every test runs in a network namespace of its own (only `lo`, with multicast): no DDS
//! packet reaches the machine's network, and tests running at once cannot see each other.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::mcap::{peer_script, python};
use crate::support::*;

const LONG: Duration = Duration::from_secs(90);

/// Runs `test` on a thread moved into a new network namespace (and so every process it
/// starts): `lo` up, multicast on, 224.0.0.0/4 routed to it. Needs root, as CI has.
fn in_dds_box(test: impl FnOnce() + Send + 'static) {
    let boxed = thread::spawn(move || {
        // SAFETY: unshare takes no pointers; it changes only this thread's namespace.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare -n: {}", std::io::Error::last_os_error());
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "set", "lo", "multicast", "on"],
            &["route", "add", "224.0.0.0/4", "dev", "lo"],
        ] {
            let ok = Command::new("ip").args(args).status().map(|s| s.success());
            assert!(matches!(ok, Ok(true)), "ip {args:?} failed");
        }
        // The box holds loopback alone: whatever multicasts here stays here.
        let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
        let links = String::from_utf8_lossy(&links.stdout).to_string();
        assert_eq!(links.lines().count(), 1, "{links}");
        assert!(links.contains(" lo: "), "{links}");
        test();
    });
    if let Err(panic) = boxed.join() {
        std::panic::resume_unwind(panic);
    }
}

/// A scratch directory named `name` with an empty `in` (what Cyclone publishes) and `save`
/// (the viewer's `--save-dir`); the directory lives as long as the first value.
fn in_and_save(name: &str) -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new(name);
    let (input, save) = (dir.path("in"), dir.path("save"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&save).unwrap();
    (dir, input, save)
}

/// `ros2_pub.py ARGS` (Cyclone publishing), collecting its output.
fn cyclone_pub(args: &[&str]) -> Background {
    cyclone_pub_in(None, args)
}

/// `ros2_pub.py ARGS` with `ROS_DOMAIN_ID` set to `domain` when given.
fn cyclone_pub_in(domain: Option<&str>, args: &[&str]) -> Background {
    let mut command = Command::new(python());
    command.arg(peer_script("ros2_pub.py")).args(args);
    if let Some(domain) = domain {
        command.env("ROS_DOMAIN_ID", domain);
    }
    Background::start_command(&mut command, Stdio::null())
}

/// `count` distinct 1280x720 JPEGs (a gradient moved by the frame's number) in `dir`.
fn write_jpegs(dir: &Path, count: usize) -> Vec<Vec<u8>> {
    let (w, h) = (1280, 720);
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_quality(80).unwrap();
    (0..count)
        .map(|i| {
            let pixels: Vec<u8> = (0..w * h * 3)
                .map(|k| ((k / 3 % w + k / 3 / w + i * 7 + k % 3 * 50) % 256) as u8)
                .collect();
            let image = turbojpeg::Image {
                pixels: pixels.as_slice(),
                width: w,
                pitch: w * 3,
                height: h,
                format: turbojpeg::PixelFormat::RGB,
            };
            let jpeg = compressor.compress_to_vec(image).unwrap();
            std::fs::write(dir.join(format!("{i:04}.jpg")), &jpeg).unwrap();
            jpeg
        })
        .collect()
}

/// A headless viewer printing each frame's figures, and those lines as they come.
fn viewer(save: &Path, extra: &[&str]) -> (Viewer, Lines) {
    let mut args = vec![
        "--headless",
        "--measure",
        "--save-dir",
        save.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut viewer = Viewer::start(&args, &[]);
    let lines = Lines::collect(viewer.child.stdout.take().unwrap());
    (viewer, lines)
}

/// A streamer killed if the test ends without stopping it (a failed assertion): a ros2 source
/// never ends by itself, and a leftover one keeps whatever the test's process held open.
struct Streamer(std::process::Child);

impl Drop for Streamer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `streamer --source ros2:TOPIC ADDR ARGS`, its stderr collected as it comes.
fn ros2_streamer(topic: &str, addr: &str, args: &[&str]) -> (Streamer, Lines) {
    ros2_streamer_in(None, topic, addr, args)
}

/// [`ros2_streamer`] with `ROS_DOMAIN_ID` set to `domain` when given.
fn ros2_streamer_in(
    domain: Option<&str>,
    topic: &str,
    addr: &str,
    args: &[&str],
) -> (Streamer, Lines) {
    let mut command = Command::new(bin("streamer"));
    if let Some(domain) = domain {
        command.env("ROS_DOMAIN_ID", domain);
    }
    let mut child = command
        .args(["--source", &format!("ros2:{topic}"), "--quiet", addr])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::collect(child.stderr.take().unwrap());
    (Streamer(child), lines)
}

/// Stops the streamer with SIGTERM within the limit.
fn stop(mut streamer: Streamer) {
    signal(&streamer.0, "TERM");
    wait_deadline(&mut streamer.0, Duration::from_secs(20), "streamer");
}

/// Cyclone publishes 150 720p JPEGs at 30 Hz, best effort: at least 90 % reach the viewer
/// byte for byte, with a glass figure on at least 90 % of them; the stream is named after the
/// topic.
#[test]
fn cyclone_jpegs_reach_the_viewer_byte_for_byte() {
    in_dds_box(|| {
        let (_dir, input, save) = in_and_save("ros2-jpeg");
        let sent = write_jpegs(&input, 150);
        let (viewer, frames) = viewer(&save, &[]);
        let topic = "/cam/image_raw/compressed";
        let (streamer, err) = ros2_streamer(topic, &viewer.addr, &[]);
        let publisher = cyclone_pub(&[topic, "compressed", input.to_str().unwrap()]);
        let (status, out, perr) = publisher.finish(LONG);
        assert!(status.success() && out.contains("sent=150"), "{out} {perr}");
        // The publisher's participant has left once the streamer says so: everything it
        // sent before has arrived or is lost.
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 1, LONG);
        stop(streamer);
        let named = format!("stream {topic}: extension exchange");
        assert!(viewer
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(&named)));
        let (_, _) = viewer.terminate(Duration::from_secs(20));
        let got = saved(&save);
        let sent: HashSet<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        let unique: HashSet<&[u8]> = got.iter().map(Vec::as_slice).collect();
        assert!(
            got.iter().all(|f| sent.contains(f.as_slice())),
            "a frame changed on the way"
        );
        assert!(
            unique.len() >= 135,
            "{} of 150 frames arrived",
            unique.len()
        );
        let lines: Vec<_> = frames
            .all()
            .into_iter()
            .filter(|l| l.starts_with("peer="))
            .collect();
        let known = lines
            .iter()
            .filter(|l| {
                key_values(l)
                    .get("glass_ms")
                    .is_some_and(|g| g != "unknown")
            })
            .count();
        // Decoding keeps the newest frame: a line for most frames, each with its glass.
        assert!(lines.len() >= 100, "{} frames decoded", lines.len());
        assert!(
            known * 10 >= lines.len() * 9,
            "glass known on {known} of {}",
            lines.len()
        );
    });
}

/// A 640x480 `bgr8` `Image` from a reliable Cyclone publisher arrives as a JPEG whose pixels
/// match (the encoder's loss only).
#[test]
fn a_reliable_bgr8_image_arrives_with_its_pixels() {
    in_dds_box(|| {
        let dir = TempDir::new("ros2-bgr8");
        let save = dir.path("save");
        std::fs::create_dir_all(&save).unwrap();
        let (w, h) = (640usize, 480usize);
        // Blocks of colour with a gradient, as BGR.
        let bgr: Vec<u8> = (0..w * h)
            .flat_map(|p| {
                let (x, y) = (p % w, p / w);
                [
                    (x / 3) as u8,
                    (y / 2) as u8,
                    if (x / 80 + y / 60) % 2 == 0 { 200 } else { 40 },
                ]
            })
            .collect();
        let raw = dir.path("frame.bgr");
        std::fs::write(&raw, &bgr).unwrap();
        let (viewer, _) = viewer(&save, &[]);
        let topic = "/cam/image_raw";
        let (streamer, err) = ros2_streamer(topic, &viewer.addr, &["--quality", "95"]);
        let publisher = cyclone_pub(&[
            topic,
            "image",
            raw.to_str().unwrap(),
            "640",
            "480",
            "bgr8",
            "--count",
            "20",
            "--reliable",
        ]);
        let (status, out, perr) = publisher.finish(LONG);
        assert!(status.success(), "{out} {perr}");
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 1, LONG);
        stop(streamer);
        viewer.terminate(Duration::from_secs(20));
        let got = saved(&save);
        assert!(got.len() >= 18, "{} of 20 frames arrived", got.len());
        let mut d = turbojpeg::Decompressor::new().unwrap();
        let header = d.read_header(&got[got.len() - 1]).unwrap();
        assert_eq!((header.width, header.height), (w, h));
        let mut rgb = vec![0; w * h * 3];
        let image = turbojpeg::Image {
            pixels: rgb.as_mut_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        };
        d.decompress(&got[got.len() - 1], image).unwrap();
        let expected: Vec<u8> = bgr.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        let as_rgb = |data| Rgb {
            width: w,
            height: h,
            data,
        };
        let quality = psnr(&as_rgb(rgb), &as_rgb(expected));
        assert!(quality > 35.0, "PSNR {quality:.1} dB");
    });
}

/// `viewer --ros2-publish`: a Cyclone subscriber gets at least 90 % of a stream's frames byte
/// for byte, stamped with their capture time (before they arrived, within a second) and named
/// after the stream; the glass topic is a DiagnosticArray.
#[test]
fn ros2_publish_reaches_a_cyclone_subscriber_byte_for_byte() {
    in_dds_box(|| {
        let dir = TempDir::new("ros2-publish");
        let (save, sub_dir) = (dir.path("save"), dir.path("sub"));
        std::fs::create_dir_all(&save).unwrap();
        std::fs::create_dir_all(&sub_dir).unwrap();
        let (viewer, _) = viewer(&save, &["--ros2-publish", "/robot"]);
        let topic = "/robot/pattern/image/compressed";
        let mut command = Command::new(python());
        command.arg(peer_script("ros2_sub.py")).args([
            topic,
            sub_dir.to_str().unwrap(),
            "--count",
            "200",
            "--timeout",
            "5",
        ]);
        let mut sub = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let sub_lines = Lines::collect(sub.stdout.take().unwrap());
        sub_lines.wait_for("ros2_sub: ready", 1, LONG);
        let streamer = Background::start(
            "streamer",
            &[
                "--source",
                "test",
                "--fps",
                "30",
                "--frames",
                "120",
                "--quiet",
                "--size",
                "640x360",
                "--name",
                "pattern",
                &viewer.addr,
            ],
        );
        let (status, _, serr) = streamer.finish(LONG);
        assert!(status.success(), "{serr}");
        // The subscriber ends 5 s after its last message.
        wait_deadline(&mut sub, LONG, "ros2_sub.py");
        viewer.terminate(Duration::from_secs(20));
        let got = saved(&save);
        assert!(got.len() >= 100, "the viewer got {} frames", got.len());
        let published = saved(&sub_dir);
        let received: HashSet<&[u8]> = got.iter().map(Vec::as_slice).collect();
        assert!(
            published.iter().all(|f| received.contains(f.as_slice())),
            "a frame changed"
        );
        assert!(
            published.len() * 10 >= got.len() * 9,
            "{} of {}",
            published.len(),
            got.len()
        );
        for line in sub_lines.all().iter().filter(|l| l.contains(" n=")) {
            let kv = key_values(line.trim_start_matches("ros2_sub: "));
            assert_eq!(kv["frame_id"], "pattern", "{line}");
            assert_eq!(kv["format"], "jpeg", "{line}");
            let (stamp, recv): (u64, u64) = (
                kv["stamp_ns"].parse().unwrap(),
                kv["recv_ns"].parse().unwrap(),
            );
            assert!(stamp <= recv && recv - stamp < 1_000_000_000, "{line}");
        }
    });
}

/// A publisher that goes away and comes back: the streamer says so once each way, and the
/// stream resumes with the second publisher's frames.
#[test]
fn a_publisher_that_restarts_is_waited_for() {
    in_dds_box(|| {
        let (_dir, input, save) = in_and_save("ros2-restart");
        let sent = write_jpegs(&input, 10);
        let (viewer, _) = viewer(&save, &[]);
        let topic = "/cam/compressed";
        let (streamer, err) = ros2_streamer(topic, &viewer.addr, &[]);
        let args = [
            topic,
            "compressed",
            input.to_str().unwrap(),
            "--count",
            "20",
            "--reliable",
        ];
        let (status, out, perr) = cyclone_pub(&args).finish(LONG);
        assert!(status.success(), "{out} {perr}");
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 1, LONG);
        let first = saved(&save).len();
        let (status, out, perr) = cyclone_pub(&args).finish(LONG);
        assert!(status.success(), "{out} {perr}");
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 2, LONG);
        stop(streamer);
        viewer.terminate(Duration::from_secs(20));
        let lines = err.all();
        let said = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
        assert_eq!(said("publisher found"), 1, "{lines:?}");
        assert_eq!(said("publisher back"), 1, "{lines:?}");
        let got = saved(&save);
        assert!(
            first >= 18 && got.len() >= first + 18,
            "{first} then {}",
            got.len()
        );
        assert!(got.iter().all(|f| sent.contains(f)));
    });
}

/// Messages the streamer cannot send: an unknown encoding and a 4K `Image` over
/// `--max-frame-bytes` are each said in one line and skipped, and the streamer keeps going.
#[test]
fn an_unknown_encoding_and_a_4k_image_over_the_limit_are_said_once() {
    in_dds_box(|| {
        let dir = TempDir::new("ros2-bad");
        let save = dir.path("save");
        std::fs::create_dir_all(&save).unwrap();
        let (viewer, _) = viewer(&save, &[]);
        let bayer = dir.path("bayer.raw");
        std::fs::write(&bayer, vec![128u8; 64 * 48]).unwrap();
        // 4K in mono8, 8.3 MB each (the smallest 4K `Image`; bgr8's 25 MB is the same case),
        // twenty of them: each is one burst into 4 MB socket buffers, best effort, which a
        // busy machine may lose whole before the streamer could see it; one is enough.
        let uhd = dir.path("uhd.mono");
        std::fs::write(&uhd, vec![90u8; 3840 * 2160]).unwrap();
        let topic = "/cam/image";
        let limit = ["--max-frame-bytes", "4000000"];
        let (streamer, err) = ros2_streamer(topic, &viewer.addr, &limit);
        let bad = [
            topic,
            "image",
            bayer.to_str().unwrap(),
            "64",
            "48",
            "bayer_rggb8",
        ];
        let (status, out, perr) =
            cyclone_pub(&[&bad[..], &["--count", "5", "--reliable"]].concat()).finish(LONG);
        assert!(status.success(), "{out} {perr}");
        let big = [
            topic,
            "image",
            uhd.to_str().unwrap(),
            "3840",
            "2160",
            "mono8",
        ];
        let (status, out, perr) =
            cyclone_pub(&[&big[..], &["--count", "20", "--rate", "2", "--reliable"]].concat())
                .finish(LONG);
        assert!(status.success(), "{out} {perr}");
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 2, LONG);
        let lines = err.all();
        let said = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
        assert_eq!(said("\"bayer_rggb8\""), 1, "{lines:?}");
        assert_eq!(said("over the limit of 4000000"), 1, "{lines:?}");
        stop(streamer);
        viewer.terminate(Duration::from_secs(20));
        assert!(saved(&save).is_empty());
    });
}

/// A publisher whose stamps are zero: the frames still go, timed from their arrival, and the
/// streamer says so once.
#[test]
fn zero_stamps_fall_back_to_the_arrival_time_said_once() {
    in_dds_box(|| {
        let (_dir, input, save) = in_and_save("ros2-stamp");
        write_jpegs(&input, 5);
        let (viewer, _) = viewer(&save, &[]);
        let topic = "/cam/compressed";
        let (streamer, err) = ros2_streamer(topic, &viewer.addr, &[]);
        let args = [topic, "compressed", input.to_str().unwrap()];
        let more = ["--count", "20", "--reliable", "--zero-stamp"];
        let (status, out, perr) = cyclone_pub(&[&args[..], &more].concat()).finish(LONG);
        assert!(status.success(), "{out} {perr}");
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 1, LONG);
        stop(streamer);
        viewer.terminate(Duration::from_secs(20));
        let lines = err.all();
        let said = lines
            .iter()
            .filter(|l| l.contains("header.stamp 0 ns"))
            .count();
        assert_eq!(said, 1, "{lines:?}");
        assert!(
            saved(&save).len() >= 18,
            "{} of 20 frames",
            saved(&save).len()
        );
    });
}

/// A burst faster than the streamer takes (150 720p JPEGs back to back into a reader that
/// decodes and resizes each one, then 10 at 30 Hz): what it never sent shows in its
/// `dropped=`, whether rustdds, the network or a slot lost it, and frames sent + dropped
/// account for every message published after the streamer saw the publisher, but for a loss
/// before the first message it got (nothing tells a best-effort reader of those).
#[test]
fn a_burst_shows_in_dropped_and_every_message_is_accounted_for() {
    in_dds_box(|| {
        let (dir, input, save) = in_and_save("ros2-burst");
        write_jpegs(&input, 30);
        let (viewer, _) = viewer(&save, &[]);
        let topic = "/cam/compressed";
        let (mut streamer, err) = ros2_streamer(topic, &viewer.addr, &["--size", "640x360"]);
        let out = Lines::collect(streamer.0.stdout.take().unwrap());
        let go = dir.path("go");
        let args = [
            topic,
            "compressed",
            input.to_str().unwrap(),
            "--count",
            "160",
            "--burst",
            "150",
            "--go",
            go.to_str().unwrap(),
        ];
        let publisher = cyclone_pub(&args);
        // The burst starts once the streamer's DDS has matched the publisher, so that none of
        // it goes to a reader that does not know the writer yet.
        err.wait_for(&format!("ros2:{topic}: publisher found"), 1, LONG);
        std::fs::write(&go, b"").unwrap();
        let (status, pout, perr) = publisher.finish(LONG);
        assert!(
            status.success() && pout.contains("sent=160"),
            "{pout} {perr}"
        );
        err.wait_for(&format!("ros2:{topic}: publisher gone"), 1, LONG);
        stop(streamer);
        viewer.terminate(Duration::from_secs(20));
        let line = out.wait_for("summary:", 1, LONG).remove(0);
        let figures = summary(&line);
        let count = |key: &str| -> u64 { figures[key].parse().unwrap() };
        let (frames, dropped) = (count("frames"), count("dropped"));
        assert!(dropped > 0, "{line}");
        // The paced tail goes out whatever happened to the burst.
        assert!(frames >= 10, "{line}");
        assert!(frames + dropped <= 160, "counted twice: {line}");
        assert!(
            frames + dropped >= 155,
            "messages vanished uncounted: {line}"
        );
    });
}

/// `ROS_DOMAIN_ID` is honoured: a publisher on domain 7 reaches the streamer on domain 7, and a
/// streamer on the default domain 0 beside it never hears of it.
#[test]
fn ros_domain_id_keeps_domains_apart() {
    in_dds_box(|| {
        let (_dir, input, save) = in_and_save("ros2-domain");
        let sent = write_jpegs(&input, 10);
        let (viewer, _) = viewer(&save, &[]);
        let topic = "/cam/compressed";
        let (other, other_err) = ros2_streamer_in(None, topic, &viewer.addr, &[]);
        let (seven, seven_err) = ros2_streamer_in(Some("7"), topic, &viewer.addr, &[]);
        let args = [
            topic,
            "compressed",
            input.to_str().unwrap(),
            "--count",
            "20",
        ];
        let (status, out, perr) = cyclone_pub_in(Some("7"), &args).finish(LONG);
        assert!(status.success() && out.contains("sent=20"), "{out} {perr}");
        seven_err.wait_for(&format!("ros2:{topic}: publisher gone"), 1, LONG);
        stop(seven);
        stop(other);
        viewer.terminate(Duration::from_secs(20));
        let got = saved(&save);
        assert!(got.len() >= 18, "{} of 20 frames on domain 7", got.len());
        assert!(got.iter().all(|f| sent.contains(f)));
        let heard = other_err.all();
        assert!(
            !heard.iter().any(|l| l.contains("publisher found")),
            "domain 0 heard domain 7: {heard:?}"
        );
        assert!(
            seven_err.all().iter().any(|l| l.contains("domain 7")),
            "the start-up line names the domain: {:?}",
            seven_err.all()
        );
    });
}
