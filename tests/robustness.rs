//! Never freezes, never crashes, loses nothing: start orders, viewer restarts, hostile peers
//! next to a good stream, several streamers at once, and signals. Every test is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

pub(crate) fn num(map: &std::collections::HashMap<String, String>, key: &str) -> f64 {
    map.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {map:?}"))
}

#[test]
fn streamer_started_first_connects_when_the_viewer_appears() {
    let _lock = heavy();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(bin("streamer"))
        .args([
            "--source", "test", "--size", "320x240", "--frames", "30", &addr,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = Lines::collect(child.stdout.take().unwrap());
    let err = Lines::collect(child.stderr.take().unwrap());
    // The first failed attempt; from here an uncapped doubling from 50 ms would try again at
    // 6.35 s and then not before 12.75 s. Capped at 1 s, it tries every second.
    err.wait_for(&format!("streamer: {addr}: "), 1, Duration::from_secs(20));
    thread::sleep(Duration::from_millis(8000));
    let started = Instant::now();
    let viewer = Viewer::start_on(&addr, &["--headless", "--frames", "30"], &[]);
    wait_for("the streamer to connect", Duration::from_secs(20), || {
        let err = viewer.stderr.lock().unwrap();
        err.iter().any(|l| l.ends_with(": streamer connected"))
    });
    let reconnect = started.elapsed();
    let status = wait_deadline(&mut child, Duration::from_secs(20), "streamer");
    let err = err.all().join("\n");
    assert!(status.success(), "{err}");
    out.wait_for("summary:", 1, Duration::from_secs(5));
    let out = out.all().join("\n");
    assert_eq!(num(&summary(&out), "frames"), 30.0);
    // Within the cap and a margin for a busy machine; an uncapped backoff would be seconds
    // past it.
    assert!(
        reconnect < Duration::from_millis(1900),
        "connected {reconnect:?} after the viewer started"
    );
    // One status line while waiting, not one per attempt.
    assert_eq!(err.matches("waiting for the viewer").count(), 1, "{err}");
    let (status, vout) = viewer.wait(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(num(&summary(&vout), "frames"), 30.0);
}

/// A file that ends (or a source that fails) while no viewer is there ends the streamer with
/// its summary once its last frame was offered for a few seconds, rather than leaving it
/// waiting for a viewer for good (a unit would never see it fail).
#[test]
fn a_source_that_ends_before_any_viewer_came_ends_the_streamer() {
    let _lock = heavy();
    let dir = TempDir::new("ended-alone");
    let file = dir.path("five.mjpeg");
    std::fs::write(&file, tiny_jpeg().repeat(5)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let (status, out, err) = Background::start(
        "streamer",
        &["--source", file.to_str().unwrap(), "--fps", "30", &addr],
    )
    .finish(Duration::from_secs(30));
    assert!(status.success(), "{err}");
    assert!(
        err.contains("the source ended and no viewer took what it left"),
        "{err}"
    );
    assert_eq!(num(&summary(&out), "frames"), 0.0, "{out}");

    // At the pace the viewer takes frames (--fps 0) each frame waits to be taken, so the
    // encoder holds one and its slot never closes; a source that fails must still end it,
    // with its error (two good frames, one in the slot and one held by the encoder, then one
    // over --max-frame-bytes: a 2000-byte comment).
    let jpeg = tiny_jpeg();
    let big = [
        &jpeg[..2],
        &[0xFF, 0xFE, 0x07, 0xD2],
        &[b'x'; 2000],
        &jpeg[2..],
    ]
    .concat();
    let cut = dir.path("big.mjpeg");
    std::fs::write(&cut, [&jpeg[..], &jpeg[..], &big[..]].concat()).unwrap();
    let limit = (jpeg.len() + 100).to_string();
    let args = ["--fps", "0", "--max-frame-bytes", &limit, &addr];
    let (status, _, err) = Background::start(
        "streamer",
        &[&["--source", cut.to_str().unwrap()][..], &args].concat(),
    )
    .finish(Duration::from_secs(30));
    assert!(!status.success(), "{err}");
    assert!(err.contains("the source ended and no viewer took"), "{err}");
    assert!(err.contains("capture failed"), "{err}");
}

#[test]
fn streamer_keeps_going_through_three_viewer_restarts() {
    let _lock = heavy();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let streamer = Background::start(
        "streamer",
        &["--source", "test", "--size", "320x240", &addr],
    );
    let mut received = 0.0;
    for round in 0..4 {
        let viewer = Viewer::start_on(&addr, &["--headless"], &[]);
        thread::sleep(Duration::from_millis(2000));
        let (status, vout) = viewer.terminate(Duration::from_secs(10));
        assert!(status.success(), "viewer {round}");
        let frames = num(&summary(&vout), "frames");
        // 2 s at 30 fps is 60 frames; at least 1.2 s of them means it reconnected within ~0.8 s.
        assert!(frames >= 36.0, "viewer {round} got only {frames} frames");
        received += frames;
    }
    let (status, out, err) = streamer.stop("TERM", Duration::from_secs(10));
    assert!(status.success(), "{err}");
    let s = summary(&out);
    // Frame numbers count on across reconnects and the summary covers the whole run.
    let last_line = out.lines().rfind(|l| l.starts_with("frame=")).unwrap();
    assert_eq!(key_values(last_line)["frame"], s["frames"]);
    let sent = num(&s, "frames");
    assert!(
        (sent - received).abs() <= 4.0,
        "streamer sent {sent}, viewers got {received}"
    );
    // One line per viewer that went away, not a flood: three restarts, plus the last viewer
    // if the streamer noticed it leave before its own SIGTERM.
    let lines = err.matches("reconnecting").count();
    assert!((3..=4).contains(&lines), "{lines} reconnect lines:\n{err}");
}

/// A tiny valid JPEG.
pub(crate) fn tiny_jpeg() -> Vec<u8> {
    let pixels = vec![128u8; 16 * 16 * 3];
    let image = turbojpeg::Image {
        pixels: &pixels[..],
        width: 16,
        pitch: 48,
        height: 16,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, 50, turbojpeg::Subsamp::Sub2x2)
        .unwrap()
        .to_vec()
}

fn connect(addr: &str) -> (TcpStream, SocketAddr) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let local = s.local_addr().unwrap();
    (s, local)
}

/// Sends `bytes`, then reads until the viewer closes; returns what it answered.
fn send_and_read_to_end(addr: &str, bytes: &[u8]) -> (SocketAddr, Vec<u8>) {
    let (mut s, local) = connect(addr);
    s.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    read_to_close(&mut s, &mut answer);
    (local, answer)
}

fn expect_answer(s: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
}

#[test]
fn hostile_peers_leave_a_good_stream_alone() {
    let _lock = heavy();
    let viewer = Viewer::start(
        &[
            "--headless",
            "--max-frame-bytes",
            "100000",
            "--read-timeout",
            "2",
        ],
        &[],
    );
    let addr = viewer.addr.clone();
    let good = Background::start(
        "streamer",
        &[
            "--source", "test", "--fps", "30", "--size", "640x480", "--frames", "150", &addr,
        ],
    );
    thread::sleep(Duration::from_millis(300));

    // (peer, the line the viewer must print about it)
    let mut expected: Vec<(SocketAddr, String)> = Vec::new();
    let mut rejected = |bytes: &[u8], line: &str| {
        let (peer, answer) = send_and_read_to_end(&addr, bytes);
        assert_eq!(answer, b"", "{line}: answered {answer:?}");
        expected.push((peer, format!("{peer}: {line}, closing")));
    };
    rejected(
        b"\xDE\xAD\xBE\xEF garbage",
        "declared length 3735928559 is above the maximum of 100000",
    );
    rejected(b"12a4, ", "flag has a non-digit byte 0x61");
    rejected(
        &[b'9'; 10_000],
        "declared length 999999 is above the maximum of 100000",
    );
    rejected(b"0, ", "declared length is 0");
    rejected(
        b"100001, ",
        "declared length 100001 is above the maximum of 100000",
    );
    rejected(
        b"SIZE 100001",
        "declared length 100001 is above the maximum of 100000",
    );

    // Exactly the maximum is allowed; a payload that is not a JPEG, and a corrupt one, are
    // errors that are not displayed, and the connection stays.
    let (mut s, peer) = connect(&addr);
    s.write_all(b"100000, ").unwrap();
    expect_answer(&mut s, b"ok");
    s.write_all(&[0x11; 100_000]).unwrap();
    expect_answer(&mut s, b"ok");
    // Give the decoder time for it: a newer frame would (rightly) replace it unseen.
    thread::sleep(Duration::from_millis(300));
    let mut corrupt = tiny_jpeg();
    let mid = corrupt.len() / 2;
    corrupt[mid..mid + 8].fill(0xFF);
    corrupt.truncate(corrupt.len() - 10);
    s.write_all(format!("{}, ", corrupt.len()).as_bytes())
        .unwrap();
    expect_answer(&mut s, b"ok");
    s.write_all(&corrupt).unwrap();
    expect_answer(&mut s, b"ok");
    drop(s);
    expected.push((
        peer,
        format!("{peer}: frame not displayed: payload is neither JPEG nor PNG"),
    ));
    expected.push((peer, format!("{peer}: frame not displayed: ")));
    expected.push((peer, format!("{peer}: streamer disconnected")));

    // A truncated payload, and a peer that goes silent in the middle of one.
    let (mut s, peer) = connect(&addr);
    s.write_all(b"50, ").unwrap();
    expect_answer(&mut s, b"ok");
    s.write_all(&[0xFF; 10]).unwrap();
    drop(s);
    expected.push((
        peer,
        format!("{peer}: truncated frame: connection closed after 10 of 50 payload bytes, closing"),
    ));
    let (mut silent_mid_frame, peer) = connect(&addr);
    silent_mid_frame.write_all(b"50, \xFF\xD8").unwrap();
    expected.push((
        peer,
        format!("{peer}: no payload bytes within 2.0 s, closing"),
    ));

    // A peer that sends nothing, a crowd of idle connections (within this address's share of
    // 16, with the good stream's), and one that never reads its `ok`s.
    let (mut idle, _) = connect(&addr);
    let crowd: Vec<TcpStream> = (0..8).map(|_| connect(&addr).0).collect();
    let (mut deaf, _) = connect(&addr);
    let jpeg = tiny_jpeg();
    for _ in 0..300 {
        deaf.write_all(format!("{}, ", jpeg.len()).as_bytes())
            .unwrap();
        deaf.write_all(&jpeg).unwrap();
    }

    let (status, out, err) = good.finish(Duration::from_secs(30));
    assert!(status.success(), "{err}");
    let s = summary(&out);
    assert_eq!(num(&s, "frames"), 150.0);
    assert!(
        num(&s, "fps") >= 24.0,
        "the good stream slowed to {} fps",
        s["fps"]
    );
    assert!(
        !err.contains("reconnecting"),
        "the good stream was disconnected: {err}"
    );

    // The idle connection was closed: a first header must come within the read timeout.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        read_some(&mut idle, &mut byte).ok(),
        Some(0),
        "the idle connection is still open"
    );
    // The silent peer was dropped after the read timeout.
    silent_mid_frame
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    read_to_close(&mut silent_mid_frame, &mut rest);
    assert_eq!(rest, b"ok");

    let pid = viewer.child.id();
    let status_file = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kb: u64 = status_file
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kb < 150 * 1024, "viewer peak memory {peak_kb} kB");
    drop((crowd, deaf));
    let stderr = viewer.stderr.clone();
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
    let log = stderr.lock().unwrap().join("\n");
    let not_displayed = format!("{}: frame not displayed: ", expected[6].0);
    assert_eq!(log.matches(&not_displayed).count(), 2, "{log}");
    for (_, line) in &expected {
        assert!(
            log.lines().any(|l| l.starts_with(line.as_str())),
            "no line {line:?} in:\n{log}"
        );
    }
}

#[test]
fn several_streamers_at_once_each_at_its_own_pace() {
    let _lock = heavy();
    for count in [2, 4] {
        let viewer = Viewer::start(&["--headless"], &[]);
        let streamers: Vec<Background> = (0..count)
            .map(|i| {
                // One unpaced, the others at 30 fps: acks flow to each at its own pace.
                let fps = if i == 0 { "0" } else { "30" };
                Background::start(
                    "streamer",
                    &[
                        "--source",
                        "test",
                        "--size",
                        "320x240",
                        "--fps",
                        fps,
                        "--frames",
                        "60",
                        &viewer.addr,
                    ],
                )
            })
            .collect();
        for (i, s) in streamers.into_iter().enumerate() {
            let (status, out, err) = s.finish(Duration::from_secs(30));
            assert!(status.success(), "streamer {i} of {count}: {err}");
            let s = summary(&out);
            assert_eq!(num(&s, "frames"), 60.0);
            // Each at its own pace: the unpaced one is not held to the others' 30 fps, and
            // they are not slowed by it.
            let fps = num(&s, "fps");
            if i == 0 {
                assert!(
                    fps > 45.0,
                    "the unpaced streamer ran at {fps} fps of {count}"
                );
            } else {
                assert!(
                    (20.0..=33.0).contains(&fps),
                    "streamer {i} of {count} at {fps} fps, not its 30"
                );
            }
        }
        let (status, vout) = viewer.terminate(Duration::from_secs(10));
        assert!(status.success());
        let v = summary(&vout);
        assert_eq!(num(&v, "frames"), 60.0 * count as f64, "{vout}");
        assert_eq!(
            num(&v, "decoded") + num(&v, "dropped"),
            60.0 * count as f64,
            "{vout}"
        );
        assert_eq!(num(&v, "errors"), 0.0);
    }
}

#[test]
fn ctrl_c_stops_both_and_a_second_one_is_immediate() {
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let streamer = Background::start(
        "streamer",
        &["--source", "test", "--size", "320x240", &viewer.addr],
    );
    thread::sleep(Duration::from_millis(1000));
    let (status, out, _) = streamer.stop("INT", Duration::from_secs(10));
    assert!(status.success(), "streamer after Ctrl-C: {status}");
    assert!(num(&summary(&out), "frames") > 10.0);
    let (status, vout) = {
        signal(&viewer.child, "INT");
        viewer.wait(Duration::from_secs(10))
    };
    assert!(status.success(), "viewer after Ctrl-C: {status}");
    assert!(num(&summary(&vout), "frames") > 10.0);

    // A viewer that never answers keeps the streamer's frame in flight (up to its ack
    // timeout); the first Ctrl-C waits for it, the second exits at once.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_addr = mute.local_addr().unwrap().to_string();
    let streamer = Background::start(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            "320x240",
            "--ack-timeout",
            "30",
            &mute_addr,
        ],
    );
    mute.set_nonblocking(true).unwrap();
    let mut held = None;
    wait_for("the streamer to connect", Duration::from_secs(20), || {
        held = mute.accept().ok();
        held.is_some()
    });
    thread::sleep(Duration::from_millis(500));
    signal(&streamer.child, "INT");
    thread::sleep(Duration::from_millis(300));
    // The first Ctrl-C waits for the frame in flight: the streamer is still there.
    let mut streamer = streamer;
    assert!(
        streamer.child.try_wait().unwrap().is_none(),
        "the first Ctrl-C ended the streamer"
    );
    let started = Instant::now();
    let (status, _, _) = streamer.stop("INT", Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(status.code(), Some(130));
}

/// A terminal or SSH session that stopped reading (stalled by the same Wi-Fi dropout, or
/// output piped into `less`) blocks the streamer's frame lines once the pipe is full; a
/// second Ctrl-C still ends it at once, as the README promises: its signals are watched on a
/// thread of their own, not on the runtime stuck in the write.
#[test]
fn a_second_ctrl_c_ends_a_streamer_whose_stdout_nobody_reads() {
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let mut child = Command::new(bin("streamer"))
        .args(["--source", "test", "--size", "160x120", "--fps", "0"])
        .arg(&viewer.addr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Held open, never read.
    let stdout = child.stdout.take().unwrap();
    wait_for("the stdout pipe to fill", Duration::from_secs(30), || {
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int, the bytes waiting in the pipe.
        unsafe { libc::ioctl(stdout.as_raw_fd(), libc::FIONREAD, &mut queued) };
        // 64 KiB, less the ends of pages a line did not fit in.
        queued >= 60_000
    });
    // Ctrl-C again and again (two at once may arrive as one) until it is gone.
    let mut status = None;
    wait_for("the streamer to end", Duration::from_secs(10), || {
        signal(&child, "INT");
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(130));
    drop(stdout);
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// A `.y4m` named pipe whose writer stalls (ffmpeg behind a hung camera) leaves the source
/// blocked in a read that no slot closing can end: Ctrl-C still ends the streamer with its
/// summary and status 0 (it waited for the source for good; under systemd, until SIGKILL).
#[test]
fn ctrl_c_ends_a_streamer_whose_y4m_pipe_stalled() {
    let _lock = heavy();
    let dir = TempDir::new("y4m-fifo");
    let fifo = dir.path("cam.y4m");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let viewer = Viewer::start(&["--headless"], &[]);
    let streamer = Background::start(
        "streamer",
        &[
            "--source",
            fifo.to_str().unwrap(),
            "--fps",
            "30",
            &viewer.addr,
        ],
    );
    // Two frames, then nothing, the pipe held open (opening waits for the streamer's end).
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut bytes = b"YUV4MPEG2 W64 H48 F30:1 C420jpeg\n".to_vec();
    for _ in 0..2 {
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend_from_slice(&[128u8; 64 * 48 * 3 / 2]);
    }
    writer.write_all(&bytes).unwrap();
    wait_for("a frame at the viewer", Duration::from_secs(20), || {
        (viewer.stderr.lock().unwrap().iter()).any(|l| l.ends_with(": streamer connected"))
    });
    let (status, out, err) = streamer.stop("INT", Duration::from_secs(20));
    assert!(status.success(), "{status}: {err}");
    assert!(num(&summary(&out), "frames") >= 1.0, "{out}");
    assert!(err.contains("the source did not end within 2 s"), "{err}");
    drop(writer);
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// The terminal or SSH session gone (SIGHUP) stops both programs as Ctrl-C does: the
/// summaries printed and the viewer's recording finished, where the default action killed
/// them (the recording cut mid-file); a second SIGHUP does not end them at once.
#[test]
fn a_hang_up_stops_both_cleanly() {
    let _lock = heavy();
    let dir = TempDir::new("hang-up");
    let file = dir.path("rec.mkv");
    let viewer = Viewer::start(&["--headless", "--record", file.to_str().unwrap()], &[]);
    let streamer = Background::start(
        "streamer",
        &["--source", "test", "--size", "320x240", &viewer.addr],
    );
    wait_for("frames recorded", Duration::from_secs(20), || {
        std::fs::metadata(&file).is_ok_and(|m| m.len() > 20_000)
    });
    let (status, out, _) = streamer.stop("HUP", Duration::from_secs(20));
    assert!(status.success(), "streamer after SIGHUP: {status}");
    assert!(num(&summary(&out), "frames") > 0.0, "{out}");
    // Twice, as a hang-up often comes (the shell passes it on, the kernel sends its own):
    // the second must not cut the recording the first is finishing.
    signal(&viewer.child, "HUP");
    signal(&viewer.child, "HUP");
    let (status, out) = viewer.wait(Duration::from_secs(20));
    assert!(status.success(), "viewer after SIGHUP: {status}");
    assert!(num(&summary(&out), "frames") > 0.0, "{out}");
    let frames = crate::replay::frames_of(&file);
    assert!(!frames.is_empty());
}

/// Ctrl-C while frames are in flight to a viewer that froze (SIGSTOP, as a laptop that
/// sleeps): the streamer gives them one ack timeout, then ends with its summary and status 0,
/// not reconnecting (a viewer answering a byte at a time is bounded the same way: the unit
/// test in link/overlap.rs).
#[test]
fn ctrl_c_with_frames_in_flight_to_a_frozen_viewer_ends_cleanly() {
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let streamer = Background::start(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            "320x240",
            "--ack-timeout",
            "2",
            &viewer.addr,
        ],
    );
    crate::secret::wait_said(&viewer, "extension exchange (capture times in-band)", 1);
    signal(&viewer.child, "STOP");
    thread::sleep(Duration::from_millis(300));
    let (status, out, err) = streamer.stop("INT", Duration::from_secs(20));
    signal(&viewer.child, "CONT");
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.success(), "streamer after Ctrl-C: {status}: {err}");
    assert!(num(&summary(&out), "frames") > 0.0, "{out}");
    drop(viewer.terminate(Duration::from_secs(10)));
}

#[test]
fn allow_lists_accept_their_networks_and_refuse_others() {
    let _lock = heavy();
    // Loopback is not in 10.0.0.0/8: refused without an answer, and said so.
    let viewer = Viewer::start(
        &[
            "--headless",
            "--allow",
            "10.0.0.0/8",
            "--allow",
            "192.168.0.0/16",
        ],
        &[],
    );
    let (peer, answer) = send_and_read_to_end(&viewer.addr, b"5, ");
    assert_eq!(answer, b"");
    let stderr = viewer.stderr.clone();
    let (status, vout) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(num(&summary(&vout), "frames"), 0.0);
    let log = stderr.lock().unwrap().join("\n");
    assert!(
        log.contains(&format!("{peer}: not in the --allow list, closing")),
        "{log}"
    );

    // Loopback listed: served as usual.
    let viewer = Viewer::start(
        &["--headless", "--allow", "127.0.0.0/8", "--frames", "10"],
        &[],
    );
    let out = run(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            "320x240",
            "--fps",
            "0",
            "--frames",
            "10",
            &viewer.addr,
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success());
    let (status, vout) = viewer.wait(Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(num(&summary(&vout), "frames"), 10.0);
}
