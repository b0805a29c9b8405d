//! `--secret` against an on-path relay that forwards the handshake untouched and then
//! tampers once: flips a byte of a frame, replays an earlier frame, drops one, injects a
//! forged one, or forges an answer. Each time the side that opens the message closes with one
//! line, nothing altered is saved, the streamer reconnects and frames flow again; and what
//! crossed the relay shows no picture.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::secret::{secret_file, wait_said};
use crate::support::{heavy, summary, Background, TempDir, Viewer};

/// The sealed frame (counting from the connection's first, 0) or answer tampered with.
const AT: usize = 6;
/// Frames the viewer takes in all before it stops: more than the first connection carries.
const FRAMES: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    /// One bit of frame `AT`'s picture flipped.
    Flip,
    /// Frame `AT - 1` sent again after frame `AT`.
    Replay,
    /// Frame `AT` never forwarded.
    Drop,
    /// A frame of random bytes with a well-formed clear header, before frame `AT`.
    Inject,
    /// Answer `AT` replaced by one of random bytes with a well-formed clear header.
    ForgeAnswer,
    /// Nothing: every byte forwarded as it came.
    None,
}

/// What crossed the relay from the streamer on the tampered connection, after the hellos.
#[derive(Default)]
struct Seen {
    /// Every byte of the sealed frames, headers included.
    bytes: Vec<u8>,
    /// The first bytes of each sealed body (where a JPEG would start).
    starts: Vec<[u8; 3]>,
}

fn read_n(from: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    from.read_exact(&mut buf)?;
    Ok(buf)
}

/// A hello block: `HI`, length (u16), body.
fn read_hello(from: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = read_n(from, 4)?;
    assert_eq!(&head[..2], b"HI", "a hello");
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    head.extend(read_n(from, len)?);
    Ok(head)
}

/// Not random, but nothing a key would give: enough to forge with.
fn junk(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Streamer → viewer: the offer flag and the streamer's hello as they are, then sealed frames
/// one by one, tampered with at `AT`.
fn frames_way(
    mut from: TcpStream,
    mut to: TcpStream,
    tamper: Tamper,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let mut flag = Vec::new();
    while !flag.ends_with(b", ") {
        flag.extend(read_n(&mut from, 1)?);
    }
    to.write_all(&flag)?;
    let hello = read_hello(&mut from)?;
    to.write_all(&hello)?;
    let mut previous = Vec::new();
    for n in 0.. {
        let mut frame = read_n(&mut from, 6)?;
        assert_eq!(frame[0], b'E', "a sealed frame");
        let len = u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]) as usize;
        frame.extend(read_n(&mut from, len + usize::from(frame[1]) + 16)?);
        {
            let mut seen = seen.lock().unwrap();
            seen.bytes.extend_from_slice(&frame);
            seen.starts.push([frame[6], frame[7], frame[8]]);
        }
        match (tamper, n == AT) {
            (Tamper::Flip, true) => frame[6 + len / 2] ^= 0x10,
            (Tamper::Drop, true) => continue,
            (Tamper::Inject, true) => {
                let mut forged = frame[..6].to_vec();
                forged.extend(junk(frame.len() - 6, 7));
                to.write_all(&forged)?;
            }
            _ => {}
        }
        to.write_all(&frame)?;
        if tamper == Tamper::Replay && n == AT {
            to.write_all(&previous)?;
        }
        previous = frame;
    }
    Ok(())
}

/// Viewer → streamer: the viewer's two hellos as they are, then sealed answers (38 bytes),
/// answer `AT` forged when asked.
fn answers_way(mut from: TcpStream, mut to: TcpStream, tamper: Tamper) -> std::io::Result<()> {
    for _ in 0..2 {
        let hello = read_hello(&mut from)?;
        to.write_all(&hello)?;
    }
    for n in 0.. {
        let mut answer = read_n(&mut from, 38)?;
        assert_eq!(&answer[..2], b"e\x24", "a sealed answer");
        if tamper == Tamper::ForgeAnswer && n == AT {
            answer[2..].copy_from_slice(&junk(36, 3));
        }
        to.write_all(&answer)?;
    }
    Ok(())
}

/// Copies one way until either end closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// A relay in front of `viewer`: the first connection through it is tampered with, later
/// ones pass untouched. Returns its address and what it saw.
fn relay(viewer: &str, tamper: Tamper) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (viewer, shared) = (viewer.to_string(), seen.clone());
    thread::spawn(move || {
        for (i, streamer) in listener.incoming().enumerate() {
            let Ok(streamer) = streamer else { return };
            let Ok(upstream) = TcpStream::connect(&viewer) else {
                return;
            };
            let _ = (streamer.set_nodelay(true), upstream.set_nodelay(true));
            let (s2, u2) = (streamer.try_clone().unwrap(), upstream.try_clone().unwrap());
            if i > 0 {
                thread::spawn(move || pipe(s2, u2));
                thread::spawn(move || pipe(upstream, streamer));
                continue;
            }
            let seen = shared.clone();
            thread::spawn(move || {
                let _ = frames_way(s2, u2, tamper, &seen);
            });
            thread::spawn(move || {
                let _ = answers_way(upstream.try_clone().unwrap(), streamer, tamper);
                let _ = upstream.shutdown(Shutdown::Both);
            });
        }
    });
    (addr, seen)
}

fn tampered(tamper: Tamper) {
    let _lock = heavy();
    let dir = TempDir::new(&format!("tamper-{tamper:?}"));
    let key = secret_file(&dir, "key", b"tamper-proof secret", 0o600);
    let jpeg_path = dir.path("still.jpg");
    let jpeg = crate::dialects::write_jpeg(&jpeg_path, (320, 240));
    let saved = dir.path("saved");
    std::fs::create_dir(&saved).unwrap();
    let frames = FRAMES.to_string();
    let key_s = key.to_str().unwrap();
    let viewer = Viewer::start(
        &[
            "--headless",
            "--secret",
            key_s,
            "--save-dir",
            saved.to_str().unwrap(),
            "--frames",
            &frames,
        ],
        &[],
    );
    let (relay, seen) = relay(&viewer.addr, tamper);
    let streamer = Background::start(
        "streamer",
        &[
            &relay,
            "--source",
            jpeg_path.to_str().unwrap(),
            "--fps",
            "30",
            "--secret",
            key_s,
        ],
    );
    if tamper != Tamper::ForgeAnswer {
        let lines = wait_said(&viewer, "sealed message failed authentication", 1);
        assert!(
            lines[0].starts_with("127.0.0.1:") && lines[0].ends_with(", closing"),
            "one line naming the peer: {lines:?}"
        );
    }
    // The streamer reconnects and frames flow again, up to the viewer's limit.
    let stderr = viewer.stderr.clone();
    let (status, vout) = viewer.wait(Duration::from_secs(90));
    assert!(status.success(), "{:?}", stderr.lock().unwrap());
    assert_eq!(summary(&vout)["frames"], frames);
    let (_, _, err) = streamer.stop("TERM", Duration::from_secs(20));
    if tamper == Tamper::ForgeAnswer {
        assert!(
            err.lines()
                .any(|l| l.contains("sealed message failed authentication")
                    && l.ends_with("; reconnecting")),
            "{err}"
        );
    }
    assert!(
        err.matches("streamer: connected to").count() >= 2,
        "it reconnected: {err}"
    );
    // Nothing altered was saved: every saved frame is the picture, byte for byte.
    let files: Vec<_> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len() as u64, FRAMES, "{files:?}");
    for file in &files {
        assert!(
            std::fs::read(file).unwrap() == jpeg,
            "{file:?} is not the picture"
        );
    }
    no_picture_on_the_wire(&seen.lock().unwrap(), &jpeg);
}

/// What crossed the relay: no sealed body starts as a JPEG does, `FF D8 FF` is no more
/// frequent than chance, and no run of 32 bytes of the picture appears anywhere.
fn no_picture_on_the_wire(seen: &Seen, jpeg: &[u8]) {
    assert!(seen.starts.len() > AT, "{} frames seen", seen.starts.len());
    assert!(seen.bytes.len() > AT * jpeg.len());
    for start in &seen.starts {
        assert_ne!(start, &[0xFF, 0xD8, 0xFF], "a JPEG start in the clear");
    }
    let marker = seen
        .bytes
        .windows(3)
        .filter(|w| w == &[0xFF, 0xD8, 0xFF])
        .count();
    assert!(marker < seen.starts.len() / 2, "{marker} JPEG markers");
    for at in (0..jpeg.len() - 32).step_by(16) {
        let run = &jpeg[at..at + 32];
        assert!(
            !seen.bytes.windows(32).any(|w| w == run),
            "picture bytes at {at} visible on the wire"
        );
    }
}

#[test]
fn a_flipped_byte_closes_the_connection_and_nothing_altered_is_saved() {
    tampered(Tamper::Flip);
}

#[test]
fn a_replayed_frame_closes_the_connection() {
    tampered(Tamper::Replay);
}

#[test]
fn a_dropped_frame_closes_the_connection() {
    tampered(Tamper::Drop);
}

#[test]
fn an_injected_frame_closes_the_connection() {
    tampered(Tamper::Inject);
}

#[test]
fn a_forged_answer_closes_the_streamers_connection() {
    tampered(Tamper::ForgeAnswer);
}

/// Through an untouched relay the frames flow, none fails, and the relay sees no picture.
#[test]
fn an_untouched_relay_sees_no_picture() {
    let _lock = heavy();
    let dir = TempDir::new("tamper-none");
    let key = secret_file(&dir, "key", b"untouched relay secret", 0o600);
    let key_s = key.to_str().unwrap();
    let jpeg_path = dir.path("still.jpg");
    let jpeg = crate::dialects::write_jpeg(&jpeg_path, (320, 240));
    let viewer = Viewer::start(&["--headless", "--secret", key_s, "--frames", "12"], &[]);
    let (relay, seen) = relay(&viewer.addr, Tamper::None);
    let source = jpeg_path.to_str().unwrap();
    let streamer = Background::start("streamer", &[&relay, "--source", source, "--secret", key_s]);
    let stderr = viewer.stderr.clone();
    let (status, vout) = viewer.wait(Duration::from_secs(60));
    let lines = stderr.lock().unwrap().clone();
    assert!(status.success(), "{lines:?}");
    assert_eq!(summary(&vout)["frames"], "12");
    let (_, _, err) = streamer.stop("TERM", Duration::from_secs(20));
    assert!(
        err.contains("every frame and answer sealed (--secret)"),
        "{err}"
    );
    let failed = |l: &String| l.contains("failed authentication");
    assert!(!lines.iter().any(failed), "{lines:?}");
    no_picture_on_the_wire(&seen.lock().unwrap(), &jpeg);
}
