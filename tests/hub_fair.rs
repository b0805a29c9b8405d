//! The hub under a hostile client (docs/hub.md, "Fairness and limits"): one address holding
//! many connections leaves room for another, every refusal below the hard bound is answered
//! `503` with `Retry-After`, past it closed and counted, a flood of bad requests writes about
//! a line a second, half-closed clients get their answers and streams, and `--http-auth`
//! asks every request for credentials (ffmpeg included).
//!
//! The attacker connects from 127.0.0.1, the good client from 127.0.0.2 (Linux answers on
//! all of 127.0.0.0/8).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::hub::{
    get, hub, paced_streamer, part_heads, raw, read_response, tool, wait_for_stream, Response,
};
use crate::support::*;

/// `GET path` from the loopback address `from`, read until the server closes.
fn get_from(from: &str, addr: &str, path: &str) -> Response {
    let mut s = connect_from(from, addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    read_response(s)
}

/// What became of a connection that sent nothing.
#[derive(Debug, PartialEq)]
enum Fate {
    /// Still open, nothing received: the hub serves it (and waits for its request).
    Held,
    /// Answered 503 with `Retry-After: 1`.
    Refused,
    /// Closed without a byte.
    Closed,
}

/// Waits until all but `held` of `conns` have been answered or closed (within `limit`),
/// then tells each one's fate. Any answer other than a 503 with `Retry-After: 1` fails.
fn fates(conns: &mut [TcpStream], held: usize, limit: Duration) -> Vec<Fate> {
    let mut fate: Vec<Option<Fate>> = conns.iter().map(|_| None).collect();
    let mut got: Vec<Vec<u8>> = conns.iter().map(|_| Vec::new()).collect();
    for s in conns.iter() {
        s.set_nonblocking(true).unwrap();
    }
    let deadline = Instant::now() + limit;
    loop {
        for (i, s) in conns.iter_mut().enumerate() {
            if fate[i].is_some() {
                continue;
            }
            let mut buf = [0u8; 1024];
            loop {
                match read_some(s, &mut buf) {
                    Ok(0) => {
                        fate[i] = Some(if got[i].is_empty() {
                            Fate::Closed
                        } else {
                            Fate::Refused
                        });
                        break;
                    }
                    Ok(n) => got[i].extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("connection {i}: {e}"),
                }
            }
            if fate[i] == Some(Fate::Refused) {
                let text = String::from_utf8_lossy(&got[i]).to_lowercase();
                assert!(
                    text.starts_with("http/1.1 503 ") && text.contains("\r\nretry-after: 1\r\n"),
                    "connection {i} got {text:?}"
                );
            }
        }
        let open = fate.iter().filter(|f| f.is_none()).count();
        if open <= held || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    fate.into_iter().map(|f| f.unwrap_or(Fate::Held)).collect()
}

fn count(fates: &[Fate], which: Fate) -> usize {
    fates.iter().filter(|f| **f == which).count()
}

/// One `name{labels} value` sample from a Prometheus text.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn one_address_holding_many_connections_leaves_room_for_another() {
    let _lock = heavy();
    let (viewer, http) = hub(&["--http-max-per-client", "10"]);
    // The attacker opens more connections than the hub has (64) and sends nothing.
    let mut attacker: Vec<TcpStream> = (0..80).map(|_| connect_from("127.0.0.1", &http)).collect();
    let fates = fates(&mut attacker, 10, Duration::from_secs(20));
    assert_eq!(count(&fates, Fate::Held), 10, "{fates:?}");
    assert_eq!(count(&fates, Fate::Refused), 70, "{fates:?}");
    // The good client is answered at once, every time, while the attacker holds its share.
    for _ in 0..20 {
        let asked = Instant::now();
        let answer = get_from("127.0.0.2", &http, "/api/streams");
        assert_eq!(answer.status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
    }
    let metrics = get_from("127.0.0.2", &http, "/metrics");
    let text = String::from_utf8_lossy(&metrics.body);
    assert_eq!(
        sample(&text, "viewer_http_refused_total{status=\"503\"}"),
        70
    );
    assert_eq!(sample(&text, "viewer_http_unanswered_total"), 0);
    let log = viewer.stderr.lock().unwrap().join("\n");
    assert!(
        log.contains("10 HTTP connections already open from this address, answering 503"),
        "{log}"
    );
}

#[test]
fn refusals_past_the_hard_bound_are_closed_and_counted() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    // 16 served, then more refusals than are answered at once (256): the attacker keeps
    // every connection open, so each answer holds its place for its 2 s.
    let mut attacker: Vec<TcpStream> = (0..16 + 256 + 150)
        .map(|_| connect_from("127.0.0.1", &http))
        .collect();
    let fates = fates(&mut attacker, 16, Duration::from_secs(30));
    let (refused, closed) = (count(&fates, Fate::Refused), count(&fates, Fate::Closed));
    assert_eq!(count(&fates, Fate::Held), 16, "{fates:?}");
    assert!(refused >= 256, "only {refused} refusals were answered");
    assert!(
        closed > 0,
        "nothing was closed unanswered ({refused} answered)"
    );
    let metrics = get_from("127.0.0.2", &http, "/metrics");
    let text = String::from_utf8_lossy(&metrics.body);
    assert_eq!(
        sample(&text, "viewer_http_refused_total{status=\"503\"}"),
        refused as u64
    );
    assert_eq!(sample(&text, "viewer_http_unanswered_total"), closed as u64);
    let log = viewer.stderr.lock().unwrap().join("\n");
    assert!(
        log.contains("256 refusals being answered, closing without an answer"),
        "{log}"
    );
}

#[test]
fn a_flood_of_bad_requests_writes_about_a_line_a_second() {
    let (viewer, http) = hub(&[]);
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < 200 || started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(raw(&http, b"HELLO THERE\r\n\r\n").status, 400);
        sent += 1;
    }
    let took = started.elapsed().as_secs() + 1;
    // One more after the limiter's second, whose line tells how many were held back.
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(raw(&http, b"HELLO THERE\r\n\r\n").status, 400);
    sent += 1;
    let bad = |l: &&String| {
        l.contains(": HTTP: ") && l.ends_with("closing")
            || l.contains(": HTTP: ") && l.contains("more like this not shown")
    };
    let tally = || {
        let log = viewer.stderr.lock().unwrap();
        let lines: Vec<&String> = log.iter().filter(bad).collect();
        let held: u64 = lines
            .iter()
            .filter_map(|l| {
                let counted = l.strip_suffix(" more like this not shown)")?;
                counted.rsplit_once(" (")?.1.parse::<u64>().ok()
            })
            .sum();
        (lines.len() as u64, held)
    };
    wait_for(
        "every bad request logged or counted",
        Duration::from_secs(10),
        || {
            let (lines, held) = tally();
            lines + held == sent
        },
    );
    let (lines, _) = tally();
    assert!(
        lines <= took + 2,
        "{lines} lines for {sent} bad requests in {took} s"
    );
    let all = viewer.stderr.lock().unwrap().len() as u64;
    assert!(all <= took + 6, "{all} stderr lines in {took} s");
}

#[test]
fn a_half_closed_client_gets_its_answer_and_its_stream() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "320x240", 300);
    wait_for_stream(&http);
    for _ in 0..30 {
        let mut s = TcpStream::connect(&http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /api/streams HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let answer = read_response(s);
        assert_eq!(answer.status, 200);
        assert!(String::from_utf8_lossy(&answer.body).contains("\"frames\""));
    }
    // An MJPEG stream goes on after the client's side is shut.
    let mut s = TcpStream::connect(&http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /stream/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let parts = |got: &[u8]| part_heads(got);
    while parts(&got) < 10 {
        match read_some(&mut s, &mut buf) {
            Ok(0) => panic!("the stream ended after {} parts", parts(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("after {} parts: {e}", parts(&got)),
        }
    }
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(streamer);
}

/// A credentials file, private unless `mode` says otherwise.
pub(crate) fn credentials(dir: &TempDir, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path("users");
    std::fs::write(&path, "# who may watch\nalice:open sesame\nbob:hunter2\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_string_lossy().into_owned()
}

fn basic(addr: &str, path: &str, user_pass_base64: &str) -> Response {
    basic_from("127.0.0.1", addr, path, user_pass_base64)
}

/// `GET path` with Basic credentials from the loopback address `from`.
fn basic_from(from: &str, addr: &str, path: &str, user_pass_base64: &str) -> Response {
    let mut s = connect_from(from, addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {user_pass_base64}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    read_response(s)
}

// alice:open sesame, bob:hunter2, alice:open sesam
const ALICE: &str = "YWxpY2U6b3BlbiBzZXNhbWU=";
const BOB: &str = "Ym9iOmh1bnRlcjI=";
const WRONG: &str = "YWxpY2U6b3BlbiBzZXNhbQ==";

#[test]
fn http_auth_asks_every_route_for_credentials() {
    let _lock = heavy();
    let dir = TempDir::new("http-auth");
    let file = credentials(&dir, 0o600);
    let (viewer, http) = hub(&["--http-auth", &file]);
    let streamer = paced_streamer(&viewer, "320x240", 600);
    let (alice, bob) = (ALICE, BOB);
    // Each path's wrong guesses come from an address of their own: past five in a row, an
    // address must wait (the next test).
    let guesser = |n: usize| format!("127.0.0.{}", 10 + n);
    wait_for("the stream", Duration::from_secs(10), || {
        basic(&http, "/snapshot/1", alice).status == 200
    });
    for (n, path) in [
        "/",
        "/api/streams",
        "/metrics",
        "/stream/1",
        "/snapshot/1",
        "/?action=snapshot",
    ]
    .into_iter()
    .enumerate()
    {
        let none = get(&http, path);
        assert_eq!(none.status, 401, "{path}");
        assert!(
            none.head
                .contains("\r\nwww-authenticate: basic realm=\"viewer\"\r\n"),
            "{path}: {}",
            none.head
        );
        let from = guesser(n);
        assert_eq!(basic_from(&from, &http, path, WRONG).status, 401, "{path}");
        let unreadable = basic_from(&from, &http, path, "not base64!");
        assert_eq!(unreadable.status, 401, "{path}");
    }
    for path in ["/", "/api/streams", "/metrics", "/snapshot/1"] {
        assert_eq!(basic(&http, path, alice).status, 200, "{path}");
        assert_eq!(basic(&http, path, bob).status, 200, "{path}");
    }
    let log = viewer.stderr.lock().unwrap().join("\n");
    assert!(
        log.contains(": HTTP: wrong credentials, answering 401"),
        "{log}"
    );

    // ffmpeg takes the credentials from the URL, after its first try gets the 401.
    let port = http.rsplit(':').next().unwrap();
    let out = dir.path("frames.mjpeg");
    let url = format!("http://bob:hunter2@127.0.0.1:{port}/stream/1");
    let ffmpeg = tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "mjpeg",
            "-i",
            &url,
            "-c:v",
            "copy",
            "-frames:v",
            "3",
            "-f",
            "mjpeg",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        ffmpeg.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&ffmpeg.stderr)
    );
    assert!(std::fs::metadata(&out).unwrap().len() > 100);
    let url = format!("http://bob:hunter3@127.0.0.1:{port}/stream/1");
    let refused = tool(
        "ffmpeg",
        &["-v", "error", "-f", "mjpeg", "-i", &url, "-f", "null", "-"],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    drop(streamer);
}

/// With `--http-auth`, connections that never give credentials cannot hold the hub from those
/// who have them: 64 idle connections (every place) leave room for alice, the oldest of them
/// closed; and a request refused for want of credentials closes its connection (asking
/// again and again must not keep it).
#[test]
fn connections_without_credentials_cannot_hold_every_place() {
    let _lock = heavy();
    let dir = TempDir::new("http-auth-squat");
    let file = credentials(&dir, 0o600);
    let (viewer, http) = hub(&["--http-auth", &file, "--http-max-per-client", "64"]);
    let mut squatters: Vec<TcpStream> = (0..64).map(|_| connect_from("127.0.0.1", &http)).collect();
    for s in &mut squatters {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    // Alice may meet a 503 while the hub is still taking the squatters in (it says to retry
    // in a second); she must get in well before they would be closed for sending nothing
    // (10 s).
    wait_for(
        "alice let in past the squatters",
        Duration::from_secs(8),
        || basic(&http, "/api/streams", ALICE).status == 200,
    );
    assert!(viewer.stderr.lock().unwrap().iter().any(|l| {
        l.contains("closing the oldest connection that has made no request with credentials")
    }));
    // The first squatter was closed to make room.
    let mut byte = [0u8; 1];
    let closed = match squatters[0].read(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
    };
    assert!(
        closed,
        "the oldest connection without credentials is still open"
    );
    // A request without credentials: 401, and the connection closed after it.
    // (Kept alive, it would be held for the 10 s allowed between requests.)
    let mut s = connect_from("127.0.0.1", &http);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /api/streams HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let refused = read_response(s);
    assert_eq!(refused.status, 401, "{}", refused.head);
    assert!(
        refused.head.contains("connection: close"),
        "{}",
        refused.head
    );
    drop(viewer);
}

#[test]
fn http_auth_refuses_a_file_others_may_read() {
    let dir = TempDir::new("http-auth-open");
    let file = credentials(&dir, 0o644);
    let out = run(
        "viewer",
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--http-auth",
            &file,
        ],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "viewer: --http-auth: {file}: readable by group or others (mode 0644), refusing it: chmod 600 {file}"
        )
    );
}

#[test]
fn http_auth_refuses_an_empty_password_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("http-auth-empty");
    let path = dir.path("users");
    std::fs::write(&path, "alice:open sesame\nbob:\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = path.to_string_lossy().into_owned();
    let args = [
        "--headless",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ];
    let mut all = args.to_vec();
    all.extend(["--http-auth", &file]);
    let out = run("viewer", &all, Duration::from_secs(10));
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!("viewer: --http-auth: {file}: line 2 has an empty password")
    );
}

#[test]
fn password_guessing_is_slowed_per_address_and_others_are_served_at_once() {
    let _lock = heavy();
    let dir = TempDir::new("http-guess");
    let file = credentials(&dir, 0o600);
    let (viewer, http) = hub(&["--http-auth", &file]);
    // The guesser on 127.0.0.1: five wrong guesses are answered 401, then it must wait.
    let mut answers = Vec::new();
    let started = Instant::now();
    while answers.len() < 10 {
        let r = basic_from("127.0.0.1", &http, "/api/streams", WRONG);
        let status = r.status;
        answers.push(r);
        if status != 401 {
            break;
        }
    }
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    // One guess more per 12 s after the first five: a very slow machine may earn one.
    let earned = (started.elapsed().as_secs() / 12) as usize;
    let wrong = statuses.len() - 1;
    assert!((5..=5 + earned).contains(&wrong), "{statuses:?}");
    let throttled = answers.last().unwrap();
    assert_eq!(throttled.status, 429, "{statuses:?}");
    let retry: u64 = throttled
        .head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {}", throttled.head));
    assert!((1..=12).contains(&retry), "{}", throttled.head);
    // Its right password is not even looked at while it waits...
    let started = Instant::now();
    assert_eq!(
        basic_from("127.0.0.1", &http, "/api/streams", ALICE).status,
        429
    );
    // ...while another address is served on its first try, and has guesses of its own.
    assert_eq!(
        basic_from("127.0.0.2", &http, "/api/streams", BOB).status,
        200
    );
    assert!(
        started.elapsed() < Duration::from_secs(retry),
        "not at once"
    );
    assert_eq!(
        basic_from("127.0.0.2", &http, "/api/streams", WRONG).status,
        401
    );
    let metrics = basic_from("127.0.0.2", &http, "/metrics", ALICE);
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        sample(&text, "viewer_http_requests_refused_total{status=\"429\"}") >= 2,
        "{text}"
    );
    // The viewer's stderr is read by a thread of its own: wait (bounded) for the line.
    let said = crate::secret::wait_said(
        &viewer,
        ": HTTP: too many wrong credentials, answering 429 for ",
        1,
    );
    assert!(said[0].starts_with("127.0.0.1:"), "{said:?}");
}

/// A page on another site opening the hub's WebSocket with wrong `?auth=` credentials (a
/// browser names the hub truly in `Host`): refused for its origin before its credentials are
/// looked at, so it cannot use up the user's address's guesses and lock the user out.
#[test]
fn another_sites_websocket_guesses_do_not_lock_the_user_out() {
    let _lock = heavy();
    let dir = TempDir::new("http-ws-guess");
    let file = credentials(&dir, 0o600);
    let (_viewer, http) = hub(&["--http-auth", &file]);
    for _ in 0..8 {
        let mut s = connect_from("127.0.0.1", &http);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let request = format!(
            "GET /?auth={WRONG} HTTP/1.1\r\nHost: {http}\r\nOrigin: http://evil.example\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Protocol: foxglove.websocket.v1\r\n\r\n"
        );
        s.write_all(request.as_bytes()).unwrap();
        // The status line only: the connection stays open for the next request.
        let mut status = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 403 "), "{status:?}");
    }
    // The user, on the same address, with the right password: served at once.
    assert_eq!(
        basic_from("127.0.0.1", &http, "/api/streams", ALICE).status,
        200
    );
}
