//! `--secret FILE` on both programs: the extension exchange proves the shared secret both ways
//! before any frame is accepted. Right, wrong and missing secrets, a reference streamer, a
//! replayed hello, and a secret file others may read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use shared::wire::ext::Hello;
use shared::wire::proof::{self, Prover};
use shared::wire::protocol::FlagBytes;
use shared::wire::seal::{self, Role, Session};

use crate::dialects::reference_peer;
use crate::support::{
    bin, heavy, read_some, summary, Background, TempDir, Viewer, Within, TOOL_LIMIT,
};

pub(crate) fn secret_file(dir: &TempDir, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The viewer's stderr lines so far that contain `what`.
fn said(viewer: &Viewer, what: &str) -> Vec<String> {
    let lines = viewer.stderr.lock().unwrap();
    lines.iter().filter(|l| l.contains(what)).cloned().collect()
}

/// Waits (bounded) until the viewer has said `what` at least `n` times.
pub(crate) fn wait_said(viewer: &Viewer, what: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = said(viewer, what);
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "viewer did not say {what:?} {n} times: {:?}",
            viewer.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_right_secret_streams_and_a_wrong_or_missing_one_is_refused() {
    let _lock = heavy();
    let dir = TempDir::new("secret");
    let key = secret_file(&dir, "key", b"correct horse battery staple\n", 0o600);
    let wrong = secret_file(&dir, "wrong", b"incorrect horse battery\n", 0o600);
    let key_s = key.to_str().unwrap();
    let viewer = Viewer::start(&["--headless", "--secret", key_s], &[]);
    // Wrong secret: refused, and the streamer hears why and keeps trying calmly.
    let bad = Background::start(
        "streamer",
        &[
            &viewer.addr,
            "--source",
            "test",
            "--size",
            "320x240",
            "--secret",
            wrong.to_str().unwrap(),
        ],
    );
    wait_said(
        &viewer,
        "refused: the streamer's proof of the shared secret is wrong",
        1,
    );
    let (_, out, err) = bad.stop("TERM", Duration::from_secs(10));
    let s = summary(&out);
    assert_eq!(s["frames"], "0", "{err}");
    // No frame was answered: no latency figure, not 0.00.
    assert_eq!(s["latency_p50_ms"], "unknown", "{out}");
    assert_eq!(s["latency_max_ms"], "unknown", "{out}");
    assert!(err.contains("refused: the viewer says:"), "{err}");
    assert_eq!(
        err.matches("retrying every second").count(),
        1,
        "said once: {err}"
    );
    // No secret: refused.
    let none = Background::start(
        "streamer",
        &[&viewer.addr, "--source", "test", "--size", "320x240"],
    );
    wait_said(&viewer, "the streamer gave no proof", 1);
    let (_, out, _) = none.stop("TERM", Duration::from_secs(10));
    assert_eq!(summary(&out)["frames"], "0");
    // A reference flag sender: refused with one line.
    let jpeg = dir.path("f.jpg");
    crate::dialects::write_jpeg(&jpeg, (64, 48));
    let port = viewer.addr.rsplit(':').next().unwrap();
    let reference = Command::new("python3")
        .arg(reference_peer())
        .args(["send-flag", "127.0.0.1", port, jpeg.to_str().unwrap()])
        .output_within(TOOL_LIMIT)
        .unwrap();
    assert!(
        !reference.status.success(),
        "a reference streamer must not get through"
    );
    wait_said(&viewer, "which the reference flag dialect cannot prove", 1);
    // The right secret streams.
    let good = Background::start(
        "streamer",
        &[
            &viewer.addr,
            "--source",
            "test",
            "--size",
            "320x240",
            "--frames",
            "20",
            "--secret",
            key_s,
        ],
    );
    let (status, out, err) = good.finish(Duration::from_secs(60));
    assert!(status.success(), "{err}");
    assert_eq!(summary(&out)["frames"], "20", "{err}");
    let (_, vout) = viewer.terminate(Duration::from_secs(10));
    assert_eq!(summary(&vout)["frames"], "20");
}

/// A streamer with a secret sends nothing to a viewer that cannot prove it.
#[test]
fn a_streamer_with_a_secret_sends_nothing_to_a_viewer_without_it() {
    let _lock = heavy();
    let dir = TempDir::new("secret-streamer");
    let key = secret_file(&dir, "key", b"s3cret s3cret s3cret", 0o600);
    let viewer = Viewer::start(&["--headless"], &[]);
    let s = Background::start(
        "streamer",
        &[
            &viewer.addr,
            "--source",
            "test",
            "--size",
            "320x240",
            "--secret",
            key.to_str().unwrap(),
        ],
    );
    // The viewer says nothing of a connection until its first frame or its failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !said(&viewer, "127.0.0.1:")
        .iter()
        .any(|l| l.starts_with("127.0.0.1:"))
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, out, err) = s.stop("TERM", Duration::from_secs(10));
    assert_eq!(summary(&out)["frames"], "0", "{err}");
    assert!(
        err.contains("the viewer did not prove the shared secret"),
        "{err}"
    );
    let (_, vout) = viewer.terminate(Duration::from_secs(10));
    assert_eq!(summary(&vout)["frames"], "0");
}

/// Reads one hello from a raw socket (bytes after it stay in `buf`).
pub(crate) fn read_hello(s: &mut TcpStream, buf: &mut Vec<u8>) -> Hello {
    read_hello_raw(s, buf).0
}

/// Reads one hello from a raw socket, with its bytes as they came (for the transcript).
pub(crate) fn read_hello_raw(s: &mut TcpStream, buf: &mut Vec<u8>) -> (Hello, Vec<u8>) {
    let mut chunk = [0u8; 512];
    loop {
        if let Some((hello, used)) = Hello::parse(buf).unwrap() {
            let raw = buf.drain(..used).collect();
            return (hello, raw);
        }
        let n = read_some(s, &mut chunk).unwrap();
        assert!(n > 0, "closed before a hello");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A streamer's hello recorded on one connection (with its valid proof, over that
/// connection's transcript) and replayed on the next: the viewer's nonce and hello are new, so
/// the proof no longer holds. The recorded connection itself runs the whole version 2 exchange
/// by hand: the first frame sealed, its answer sealed.
#[test]
fn a_replayed_hello_is_refused() {
    let _lock = heavy();
    let dir = TempDir::new("secret-replay");
    let secret = b"s3cret s3cret s3cret";
    let key = secret_file(&dir, "key", secret, 0o600);
    let viewer = Viewer::start(&["--headless", "--secret", key.to_str().unwrap()], &[]);
    let jpeg_path = dir.path("f.jpg");
    let jpeg = crate::dialects::write_jpeg(&jpeg_path, (64, 48));
    // First connection: a proper exchange, recorded.
    let mut s = TcpStream::connect(&viewer.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&FlagBytes::extended(jpeg.len())).unwrap();
    let mut buf = Vec::new();
    let (first, first_raw) = read_hello_raw(&mut s, &mut buf);
    assert!(first.auth_required);
    assert_eq!(first.version, 2);
    let mut ours = Hello {
        version: 2,
        name: Some("cam".into()),
        nonce: Some([9; 16]),
        proof: Some([0; 32]),
        ..Hello::default()
    };
    let mut blank = Vec::new();
    ours.encode(&mut blank);
    let t = proof::transcript(&[&first_raw, &blank]);
    ours.proof = Some(proof::prove(secret, Prover::Streamer, &t));
    let mut recorded = Vec::new();
    ours.encode(&mut recorded);
    s.write_all(&recorded).unwrap();
    let (second, second_raw) = read_hello_raw(&mut s, &mut buf);
    assert!(
        second.refuse.is_none() && second.proof.is_some(),
        "{second:?}"
    );
    let nonces = (&first.nonce.unwrap(), &[9u8; 16]);
    let t = proof::transcript(&[&first_raw, &recorded, &second_raw]);
    let mut session = Session::derive(secret, Role::Streamer, nonces, &t);
    let mut body = jpeg.clone();
    body.resize(jpeg.len() + seal::TAG_BYTES, 0);
    let head = session.seal_frame(&mut body, jpeg.len(), 0).unwrap();
    s.write_all(&[&head[..], &body].concat()).unwrap();
    let mut answer = [0u8; seal::ANSWER_LEN];
    s.read_exact(&mut answer).unwrap();
    assert!(session.open_answer(&answer).unwrap().is_some());
    drop(s);
    // Second connection: the recorded hello replayed.
    let mut s = TcpStream::connect(&viewer.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&FlagBytes::extended(jpeg.len())).unwrap();
    let mut buf = Vec::new();
    let fresh = read_hello(&mut s, &mut buf);
    assert_ne!(fresh.nonce, first.nonce, "a new challenge each connection");
    s.write_all(&recorded).unwrap();
    let refused = read_hello(&mut s, &mut buf);
    assert!(refused.refuse.is_some(), "{refused:?}");
    wait_said(&viewer, "proof of the shared secret is wrong", 1);
    let (_, vout) = viewer.terminate(Duration::from_secs(10));
    assert_eq!(summary(&vout)["frames"], "1");
}

/// Secret files others may read are refused at start, with one line naming the file.
#[test]
fn a_secret_file_readable_by_others_is_refused() {
    let dir = TempDir::new("secret-mode");
    let key = secret_file(&dir, "key", b"s3cret s3cret s3cret", 0o644);
    for program in ["viewer", "streamer"] {
        let out = Command::new(bin(program))
            .args(["--secret", key.to_str().unwrap()])
            .args(if program == "viewer" {
                vec!["--headless"]
            } else {
                vec!["--source", "test"]
            })
            .output_within(TOOL_LIMIT)
            .unwrap();
        assert!(!out.status.success(), "{program}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("readable by group or others (mode 0644), refusing it: chmod 600"),
            "{program}: {err}"
        );
        assert!(err.contains(key.to_str().unwrap()), "{program}: {err}");
    }
}

/// Starts `program` with `args` and the arguments it needs to get going, and expects it to
/// stop with an error within 30 s (killed otherwise, failing the test); returns its stderr.
fn refused_at_start(program: &str, args: &[&str]) -> String {
    let mut child = Command::new(bin(program))
        .args(args)
        .args(if program == "viewer" {
            vec!["--headless", "--listen", "127.0.0.1:0"]
        } else {
            vec!["--source", "test"]
        })
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} {args:?} did not stop: blocked?");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{program} {args:?}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

/// Weak keys are refused at start: an empty or short secret (an HMAC with an empty key
/// proves nothing), a FIFO in place of the file (refused at once, not waited on), and an
/// `--http-auth` line with an empty password.
#[test]
fn weak_secrets_fifos_and_empty_passwords_are_refused_at_start() {
    let dir = TempDir::new("secret-weak");
    for (name, bytes) in [("empty", &b""[..]), ("eight", b"12345678\n")] {
        let key = secret_file(&dir, name, bytes, 0o600);
        for program in ["viewer", "streamer"] {
            let err = refused_at_start(program, &["--secret", key.to_str().unwrap()]);
            assert!(err.contains("too short"), "{program} {name}: {err}");
            assert!(err.contains("head -c 32 /dev/urandom"), "{program}: {err}");
            assert!(err.contains(key.to_str().unwrap()), "{program}: {err}");
        }
    }
    let fifo = dir.path("fifo");
    let made = Command::new("mkfifo")
        .args(["-m", "600"])
        .arg(&fifo)
        .status();
    assert!(made.unwrap().success());
    // A program that opened the FIFO for reading would block there (no writer comes).
    for program in ["viewer", "streamer"] {
        let err = refused_at_start(program, &["--secret", fifo.to_str().unwrap()]);
        assert!(err.contains("not a regular file"), "{program}: {err}");
    }
    let auth = secret_file(&dir, "auth", b"alice:\n", 0o600);
    let err = refused_at_start(
        "viewer",
        &[
            "--http",
            "127.0.0.1:0",
            "--http-auth",
            auth.to_str().unwrap(),
        ],
    );
    assert!(err.contains("line 1 has an empty password"), "{err}");
}
