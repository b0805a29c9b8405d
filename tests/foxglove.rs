//! Foxglove live over the hub's WebSocket (docs/hub.md, "Foxglove"): npm
//! `@foxglove/ws-protocol`'s client (scripts/npm-env.sh) and a plain PyPI `websockets` client
//! (tests/peers/foxglove_ws.py, its own CDR reader) on both subprotocols receive the frames
//! byte for byte (against `--save-dir`); a stream leaving is unadvertised; bad JSON closes
//! with a reason and one line; `--http-auth` (a Basic header, or the `auth` query parameter)
//! and TLS apply to the upgrade; 20 clients, one stalled, leave the streamer at full rate and
//! the viewer under one core; headless Chromium shows the page's per-frame glass, and a page of
//! another origin opens the WebSocket only once `--http-origin` names it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::hub::{get, hub, paced_streamer, promtool_check, wait_for_stream};
use crate::hub_fair::credentials;
use crate::hub_tls::self_signed;
use crate::robustness::num;
use crate::support::*;

const PROTOCOLS: [&str; 2] = ["foxglove.sdk.v1", "foxglove.websocket.v1"];

/// Runs tests/peers/foxglove_ws.py with the virtualenv's python (scripts/py-env.sh) and `args`.
fn python_client(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../.cache/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (or scripts/py-env.sh) for `websockets`",
        python.display()
    );
    Command::new(python)
        .arg(root.join("peers/foxglove_ws.py"))
        .args(args)
        .output_within(TOOL_LIMIT)
        .unwrap()
}

/// The client's one summary line, its run checked.
fn line_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn ws_url(http: &str) -> String {
    format!("ws://{http}/")
}

#[test]
fn python_clients_on_both_subprotocols_receive_the_frames_byte_for_byte() {
    let _lock = heavy();
    let dir = TempDir::new("foxglove");
    let saved_dir = dir.path("saved");
    std::fs::create_dir_all(&saved_dir).unwrap();
    let (viewer, http) = hub(&["--save-dir", saved_dir.to_str().unwrap()]);
    let streamer = paced_streamer(&viewer, "320x240", 900);
    wait_for_stream(&http);
    for protocol in PROTOCOLS {
        let out: PathBuf = dir.path(protocol);
        std::fs::create_dir_all(&out).unwrap();
        let args = ["--subprotocol", protocol, "--frames", "20"];
        let line = line_of(&python_client(
            &[
                &[ws_url(&http).as_str()][..],
                &args,
                &["--out", out.to_str().unwrap()],
            ]
            .concat(),
        ));
        let kv = key_values(&line);
        assert_eq!(kv["frames"], "20", "{line}");
        assert!(num(&kv, "latency") >= 1.0, "{line}");
        assert!(kv["topic"].ends_with("_test/image/compressed"), "{line}");
        let received = saved(&out);
        let all = saved(&saved_dir);
        assert_eq!(received.len(), 20);
        for (i, jpeg) in received.iter().enumerate() {
            assert!(
                all.contains(jpeg),
                "{protocol}: frame {i} ({} bytes) is not one the viewer received",
                jpeg.len()
            );
        }
    }
    // Bad JSON: closed with a reason (1008), and one line naming the client.
    let line = line_of(&python_client(&[
        &ws_url(&http),
        "--subprotocol",
        PROTOCOLS[1],
        "--bad-json",
    ]));
    assert!(line.starts_with("closed=1008 reason='not JSON"), "{line}");
    wait_for("the viewer's line", Duration::from_secs(10), || {
        let lines = viewer.stderr.lock().unwrap();
        lines
            .iter()
            .any(|l| l.starts_with("127.0.0.1:") && l.contains(": WebSocket: not JSON"))
    });
    // No subprotocol of ours: refused before the upgrade.
    let line = line_of(&python_client(&[&ws_url(&http), "--subprotocol", "chat"]));
    assert_eq!(line, "refused=400");
    // ...and said on this side too (a client's own error is all there was).
    wait_for("the refusal's line", Duration::from_secs(10), || {
        let lines = viewer.stderr.lock().unwrap();
        lines.iter().any(|l| {
            l.contains(": WebSocket upgrade refused: ask for subprotocol") && l.ends_with(" 400")
        })
    });
    // A stream that leaves is unadvertised: both its channels.
    let mut watcher = raw_client(&http);
    drop(streamer);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (opcode, payload) = read_frame(&mut watcher).unwrap();
        let text = String::from_utf8_lossy(&payload);
        if opcode == 1 && text.contains("\"unadvertise\"") {
            assert!(text.contains("\"channelIds\":[2,3]"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no unadvertise after the stream left"
        );
    }
    drop(viewer);
}

#[test]
fn http_auth_and_tls_apply_to_the_websocket() {
    let _lock = heavy();
    let dir = TempDir::new("foxglove-auth");
    let users = credentials(&dir, 0o600);
    let (cert, key) = self_signed(&dir, "hub");
    let args = [
        "--http-auth",
        &users,
        "--http-cert",
        &cert,
        "--http-key",
        &key,
    ];
    let (viewer, http) = hub(&args);
    let streamer = paced_streamer(&viewer, "320x240", 900);
    let port = http.rsplit(':').next().unwrap();
    // 127.0.0.1, not localhost: localhost may resolve to ::1 first, where another test's
    // program may listen on the same port number (seen once: a stream port's 10 s silence).
    let url = format!("wss://127.0.0.1:{port}/");
    let base = [
        "--subprotocol",
        PROTOCOLS[0],
        "--cafile",
        &cert,
        "--frames",
        "5",
    ];
    wait_for("a frame over wss with the password", LONG, || {
        let out = python_client(&[&[url.as_str(), "--user", "bob:hunter2"][..], &base].concat());
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("frames=5")
    });
    let without = line_of(&python_client(&[&[url.as_str()][..], &base].concat()));
    assert_eq!(without, "refused=401");
    let wrong = [url.as_str(), "--user", "bob:hunter3"];
    assert_eq!(
        line_of(&python_client(&[&wrong[..], &base].concat())),
        "refused=401"
    );
    // Browsers cannot set headers on a WebSocket: the `auth` query parameter (docs/hub.md).
    let token = [url.as_str(), "--token", "bob:hunter2"];
    assert!(line_of(&python_client(&[&token[..], &base].concat())).contains("frames=5"));
    let token = [url.as_str(), "--token", "bob:hunter3"];
    assert_eq!(
        line_of(&python_client(&[&token[..], &base].concat())),
        "refused=401"
    );
    // A client that does not trust the certificate gets nothing.
    let untrusting = python_client(&[&url, "--subprotocol", PROTOCOLS[0], "--user", "bob:hunter2"]);
    assert!(!untrusting.status.success());
    assert!(
        String::from_utf8_lossy(&untrusting.stderr).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        String::from_utf8_lossy(&untrusting.stderr)
    );
    drop(streamer);
    drop(viewer);
}

const LONG: Duration = Duration::from_secs(60);

/// A raw WebSocket client: the handshake by hand, a masked subscribe, then frames read (or,
/// stalled, never read).
/// Two streams whose names make one topic token (`front-cam`, `front.cam`) and two unnamed
/// ones from one host (reference streamers) are advertised under four topics: Foxglove ignores
/// a second channel on a topic, so a shared one would hide a camera.
#[test]
fn streams_whose_names_make_one_topic_get_topics_of_their_own() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let named = |name: &str| {
        Background::start(
            "streamer",
            &[
                "--source", "test", "--fps", "10", "--size", "160x120", "--quiet",
            ]
            .into_iter()
            .chain(["--name", name, viewer.addr.as_str()])
            .collect::<Vec<_>>(),
        )
    };
    // The `size` dialect has no extension exchange, so no name: as a reference streamer.
    let plain = || {
        let args = [
            "--protocol",
            "size",
            "--source",
            "test",
            "--fps",
            "10",
            "--quiet",
        ];
        Background::start("streamer", &[&args[..], &[viewer.addr.as_str()]].concat())
    };
    let _streamers = [named("front-cam"), named("front.cam"), plain(), plain()];
    let mut s = upgrade(&http);
    let mut topics = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while topics.len() < 4 {
        assert!(Instant::now() < deadline, "advertised so far: {topics:?}");
        let (opcode, payload) = read_frame(&mut s).unwrap();
        let text = String::from_utf8_lossy(&payload).into_owned();
        if opcode != 1 || !text.contains("\"advertise\"") {
            continue;
        }
        for (_, rest) in text
            .match_indices("\"topic\":\"")
            .map(|(i, m)| (i, &text[i + m.len()..]))
        {
            let topic = &rest[..rest.find('"').unwrap()];
            if let Some(token) = topic.strip_suffix("/image/compressed") {
                assert!(topics.insert(token.to_string()), "{token} advertised twice");
            }
        }
    }
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    assert_eq!(
        topics,
        ["/front_cam", "/front_cam_2", "/s127_0_0_1", "/s127_0_0_1_2"]
    );
    drop(viewer);
}

/// A WebSocket client of the hub on Foxglove's subprotocol, past the upgrade.
fn upgrade(http: &str) -> TcpStream {
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {http}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {}\r\n\r\n",
        PROTOCOLS[1]
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

fn raw_client(http: &str) -> TcpStream {
    let mut s = upgrade(http);
    // The advertisement first: a subscription names an advertised channel.
    loop {
        let (opcode, payload) = read_frame(&mut s).unwrap();
        if opcode == 1 && String::from_utf8_lossy(&payload).contains("\"advertise\"") {
            break;
        }
    }
    // Stream 1's image channel is 2 (docs/hub.md).
    send_text(
        &mut s,
        br#"{"op":"subscribe","subscriptions":[{"id":1,"channelId":2}]}"#,
    );
    s
}

/// Sends a short text message (under 126 bytes), masked with a zero key as clients must mask.
fn send_text(s: &mut TcpStream, text: &[u8]) {
    let mut frame = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(text);
    s.write_all(&frame).unwrap();
}

/// Reads frames, answering none, until the server closes: (pings seen, the close reason).
fn read_until_closed(s: &mut TcpStream) -> (usize, String) {
    let mut pings = 0;
    loop {
        let (opcode, payload) = read_frame(s).unwrap();
        match opcode {
            9 => pings += 1,
            8 => return (pings, String::from_utf8_lossy(&payload[2..]).into_owned()),
            _ => {}
        }
    }
}

#[test]
fn a_silent_client_is_closed_and_one_that_answers_pings_stays() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "320x240", 3600);
    wait_for_stream(&http);
    // One client answers pings, as every WebSocket library does, reading all along.
    let mut answering = raw_client(&http);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        thread::spawn(move || {
            let (mut pings, mut frames) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                let (opcode, _) = read_frame(&mut answering).unwrap();
                assert_ne!(opcode, 8, "the client that answers pings was closed");
                if opcode == 9 {
                    // A pong, masked with a zero key, echoing the ping's (empty) payload.
                    answering.write_all(&[0x8A, 0x80, 0, 0, 0, 0]).unwrap();
                    pings += 1;
                }
                frames += usize::from(opcode == 2);
            }
            (pings, frames)
        })
    };
    // The other reads but never says anything, not even a pong.
    let mut silent = raw_client(&http);
    let started = Instant::now();
    let (pings, reason) = read_until_closed(&mut silent);
    // Closed for its silence (docs/hub.md: pinged every 5 s, closed once a ping has had no
    // answer for 15 s).
    assert!(
        reason.starts_with("no answer to a ping for 15 s"),
        "{reason}"
    );
    assert!(pings >= 2, "{pings} pings before the close");
    assert!(
        started.elapsed() >= Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
    // By then the answering one, served as long, was pinged too and is served still.
    done.store(true, Ordering::Relaxed);
    let (pings, frames) = reader.join().unwrap();
    assert!(pings >= 2 && frames >= 100, "pings={pings} frames={frames}");
    drop(streamer);
    drop(viewer);
}

#[test]
fn a_channel_subscribed_twice_is_sent_once() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "320x240", 1800);
    wait_for_stream(&http);
    let mut s = raw_client(&http);
    // A second subscription to channel 2 would have the hub send each frame twice (or 256
    // times, one client's whole allowance): refused with a status, the first one kept.
    // Subscription 1's id reused for the latency channel (3) would move it there: refused too.
    send_text(
        &mut s,
        br#"{"op":"subscribe","subscriptions":[{"id":7,"channelId":2},{"id":1,"channelId":3}]}"#,
    );
    let (mut refused, mut frames) = (0, 0);
    while refused < 2 || frames < 10 {
        let (opcode, payload) = read_frame(&mut s).unwrap();
        if opcode == 1 && String::from_utf8_lossy(&payload).contains("\"status\"") {
            let text = String::from_utf8_lossy(&payload);
            let want = [
                "channel 2 is subscribed already",
                "subscription 1: the id is in use",
            ];
            assert!(text.contains(want[refused]), "{text}");
            assert!(text.contains("\"level\":2"), "an error: {text}");
            refused += 1;
        } else if opcode == 2 {
            // messageData: opcode 1, then the subscription id (little-endian u32); still the
            // image channel's pictures (a latency message is a few dozen bytes).
            assert_eq!(
                &payload[..5],
                &[1, 1, 0, 0, 0],
                "only subscription 1 is sent"
            );
            assert!(payload.len() > 1000, "a picture: {} bytes", payload.len());
            frames += usize::from(refused == 2);
        }
    }
    // The viewer stopping says so to its clients: a close frame, 1001 (going away).
    drop(streamer);
    let (status, _) = viewer.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let close = loop {
        match read_frame(&mut s) {
            Ok((8, payload)) => break payload,
            Ok(_) => continue,
            Err(e) => panic!("the connection ended without a close frame: {e}"),
        }
    };
    assert_eq!(close[..2], 1001u16.to_be_bytes(), "{close:?}");
}

/// One server frame: opcode and payload (servers do not mask).
fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload)?;
    Ok((h[0] & 0x0F, payload))
}

/// The CPU time (user + system) process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of proc(5), counted from the state (field 3) here.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn twenty_clients_one_stalled_cost_the_streamer_nothing() {
    let _lock = heavy();
    let (viewer, http) = hub(&["--http-max-per-client", "32"]);
    let streamer = paced_streamer(&viewer, "640x480", 300);
    wait_for_stream(&http);
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Vec<Arc<AtomicU64>> = (0..19).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let readers: Vec<_> = counts
        .iter()
        .map(|count| {
            let mut s = raw_client(&http);
            let (count, stop) = (count.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match read_frame(&mut s) {
                        Ok((2, p)) if p.first() == Some(&1) => {
                            count.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(_) => 0,
                        Err(_) => break,
                    };
                }
            })
        })
        .collect();
    let stalled = raw_client(&http);
    thread::sleep(Duration::from_secs(1));
    let pid = viewer.child.id();
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    let before: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    thread::sleep(Duration::from_secs(4));
    let after: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let cores = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();
    // The clients and what they were sent are in /metrics, which promtool accepts.
    let metrics = String::from_utf8(get(&http, "/metrics").body).unwrap();
    promtool_check(&metrics);
    assert!(
        metrics.contains("\nviewer_websocket_clients 20\n"),
        "{metrics}"
    );
    let sent = metrics
        .lines()
        .find_map(|l| l.strip_prefix("viewer_websocket_messages_total "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(sent.is_some_and(|n| n >= 19.0 * 80.0), "{metrics}");
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        // 4 s at 30 fps is 120 frames; a client may skip some, never most.
        assert!(
            a - b >= 80,
            "client {i} received only {} frames in 4 s",
            a - b
        );
    }
    let (status, out, _) = streamer.finish(Duration::from_secs(30));
    assert!(status.success());
    let fps = num(&summary(&out), "fps");
    println!("foxglove: 19 clients + 1 stalled: streamer fps={fps} viewer_cores={cores:.3}");
    assert!(
        fps >= 29.5,
        "the streamer ran at {fps} fps, paced at 30: {out}"
    );
    assert!(cores <= 1.0, "the viewer used {cores:.2} cores");
    stop.store(true, Ordering::Relaxed);
    drop(stalled);
    drop(viewer);
    for r in readers {
        let _ = r.join();
    }
}

#[test]
fn the_page_in_headless_chromium_shows_per_frame_glass() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "640x480", 1800);
    wait_for_stream(&http);
    // tests/peers/foxglove_page.py reads the page's DOM over the DevTools protocol once it
    // has drawn 30 frames from the WebSocket with its clock tied to the viewer's.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("../.cache/venv/bin/python"))
        .arg(root.join("peers/foxglove_page.py"))
        .args([&format!("http://{http}/"), "30"])
        .output_within(TOOL_LIMIT)
        .unwrap();
    let line = line_of(&out);
    let kv = key_values(line.split(" caption=").next().unwrap());
    let (glass, error) = (num(&kv, "page_glass_ms"), num(&kv, "clock_error_ms"));
    println!("foxglove: page {line}");
    // Capture to drawn on one machine: after the capture (within the clock ties' error
    // bounds, and the streamer's tie to the viewer), and well within a second.
    assert!(glass > -(error + 2.0) && glass < 500.0, "{line}");
    assert!((0.0..50.0).contains(&error), "{line}");
    // The caption (redrawn each second) shows a figure too.
    let caption = line.split(" caption=").nth(1).unwrap();
    let shown = caption.split("page glass ").nth(1).unwrap();
    let shown = shown.split(' ').next().unwrap();
    assert!(
        shown.parse::<f64>().is_ok_and(|ms| ms.abs() < 500.0),
        "{line}"
    );
    drop(streamer);
    drop(viewer);
}

/// A stream without capture times (the reference dialects): the page draws its frames but
/// makes no capture-to-drawn figure of them (it made one from their arrival at the viewer,
/// leaving out capture, encoding and the link).
#[test]
fn the_page_shows_no_glass_for_frames_without_capture_times() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let args = [
        "--source", "test", "--fps", "30", "--size", "320x240", "--quiet",
    ];
    let streamer = Background::start(
        "streamer",
        &[&args[..], &["--protocol", "size", &viewer.addr]].concat(),
    );
    wait_for_stream(&http);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("../.cache/venv/bin/python"))
        .arg(root.join("peers/foxglove_page.py"))
        .args([&format!("http://{http}/"), "30", "untimed"])
        .output_within(TOOL_LIMIT)
        .unwrap();
    let line = line_of(&out);
    assert!(line.starts_with("page_glass_ms=None "), "{line}");
    assert!(line.contains("page glass unknown"), "{line}");
    drop(streamer);
    drop(viewer);
}

/// Runs tests/peers/cross_site_ws.py: a page of another origin (127.0.0.1:`page_port`) opens
/// the hub's WebSocket in headless Chromium; its one line.
fn cross_site_page(http: &str, page_port: u16) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("../.cache/venv/bin/python"))
        .arg(root.join("peers/cross_site_ws.py"))
        .args([ws_url(http), page_port.to_string()])
        .output_within(TOOL_LIMIT)
        .unwrap();
    line_of(&out)
}

#[test]
fn another_sites_page_reads_nothing_unless_its_origin_is_given() {
    let _lock = heavy();
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    // The attack: a site the user visits opens the hub's WebSocket from its own page.
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "320x240", 1800);
    wait_for_stream(&http);
    let line = cross_site_page(&http, page_port);
    assert_eq!(line, format!("outcome=refused origin={origin}"));
    let said = format!("WebSocket from a page at \"{origin}\", not this hub's own: answering 403");
    wait_for("the viewer's line", Duration::from_secs(10), || {
        viewer
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(&said))
    });
    drop(streamer);
    drop(viewer);
    // Its origin given (as Foxglove's web app's would be), the same page reads the frames.
    let (viewer, http) = hub(&["--http-origin", &origin]);
    let streamer = paced_streamer(&viewer, "320x240", 1800);
    wait_for_stream(&http);
    let line = cross_site_page(&http, page_port);
    assert_eq!(line, format!("outcome=data origin={origin}"));
    drop(streamer);
    drop(viewer);
}

#[test]
fn the_npm_foxglove_client_receives_the_frames_byte_for_byte() {
    let _lock = heavy();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("../.cache/npm-foxglove/node_modules");
    assert!(
        modules.join("@foxglove/ws-protocol").exists(),
        "{} is missing: run scripts/setup.sh (or scripts/npm-env.sh)",
        modules.display()
    );
    let dir = TempDir::new("foxglove-npm");
    let (saved_dir, out) = (dir.path("saved"), dir.path("out"));
    std::fs::create_dir_all(&saved_dir).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let (viewer, http) = hub(&["--save-dir", saved_dir.to_str().unwrap()]);
    let streamer = paced_streamer(&viewer, "320x240", 900);
    wait_for_stream(&http);
    let result = Command::new("node")
        .arg(root.join("peers/foxglove_client.js"))
        .args([&ws_url(&http), "20", out.to_str().unwrap()])
        .env("NODE_PATH", &modules)
        .output_within(TOOL_LIMIT)
        .unwrap_or_else(|e| panic!("node is not installed ({e}): run scripts/setup.sh"));
    let line = line_of(&result);
    assert!(line.starts_with("frames=20 topic=/"), "{line}");
    assert!(
        line.ends_with(" schema=sensor_msgs/msg/CompressedImage"),
        "{line}"
    );
    let (received, all) = (saved(&out), saved(&saved_dir));
    assert_eq!(received.len(), 20);
    for (i, jpeg) in received.iter().enumerate() {
        assert!(
            all.contains(jpeg),
            "npm client: frame {i} is not one the viewer received"
        );
    }
    drop(streamer);
    drop(viewer);
}
