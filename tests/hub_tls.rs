//! The hub over TLS and its `Host` check (docs/hub.md, "https" and "Host names"): curl and
//! ffmpeg verify a self-signed certificate made here with the openssl CLI and get the page,
//! snapshots, MJPEG, the API and metrics over https; a key others may read, or one of another
//! certificate, stops the viewer with one line; a request naming another host is answered
//! `421` (plain and over TLS), one without `Host` `400`; MJPEG boundaries are random; a
//! pending handshake holds its address's share, has a deadline, and refusals go over TLS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::hub::{hub, paced_streamer, raw, tool, wait_for_stream};
use crate::support::*;

/// A self-signed certificate for `localhost` and 127.0.0.1 and its key (mode 600), as
/// `(cert, key)` paths in `dir`; `name` tells several apart.
pub(crate) fn self_signed(dir: &TempDir, name: &str) -> (String, String) {
    let cert = dir.path(&format!("{name}.crt"));
    let key = dir.path(&format!("{name}.key"));
    let out = tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = |p: &Path| p.to_string_lossy().into_owned();
    (text(&cert), text(&key))
}

/// `curl` with `args`, bounded in time; returns its exit code, the head and the body.
fn curl(args: &[&str]) -> (i32, String, Vec<u8>) {
    let mut all = vec!["-sS", "--max-time", "20", "-D", "/dev/stderr"];
    all.extend_from_slice(args);
    let out = tool("curl", &all);
    let head = String::from_utf8_lossy(&out.stderr).to_lowercase();
    (out.status.code().unwrap_or(-1), head, out.stdout)
}

#[test]
fn the_hub_over_tls_serves_curl_and_ffmpeg_and_verifies_as_its_certificate() {
    let _lock = heavy();
    let dir = TempDir::new("hub-tls");
    let (cert, key) = self_signed(&dir, "hub");
    let (viewer, http) = hub(&["--http-cert", &cert, "--http-key", &key]);
    let streamer = paced_streamer(&viewer, "320x240", 900);
    let port = http.rsplit(':').next().unwrap().to_string();
    let url = |host: &str, path: &str| format!("https://{host}:{port}{path}");
    wait_for("a snapshot over https", Duration::from_secs(20), || {
        let (code, head, _) = curl(&["--cacert", &cert, &url("localhost", "/snapshot/1")]);
        code == 0 && head.starts_with("http/1.1 200")
    });
    for (path, content_type, start) in [
        ("/snapshot/1", "image/jpeg", &b"\xFF\xD8"[..]),
        ("/", "text/html", b"<!"),
        ("/api/streams", "application/json", b"["),
        ("/metrics", "text/plain", b"# HELP"),
    ] {
        for host in ["localhost", "127.0.0.1"] {
            let (code, head, body) = curl(&["--cacert", &cert, &url(host, path)]);
            assert_eq!(code, 0, "{path} from {host}");
            assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
            assert!(
                head.contains(&format!("content-type: {content_type}")),
                "{head}"
            );
            assert!(head.contains("x-content-type-options: nosniff"), "{head}");
            assert!(
                body.starts_with(start),
                "{path}: {:?}",
                &body[..body.len().min(20)]
            );
        }
    }
    // Without our certificate curl refuses the server: it is this certificate it verified.
    let (code, _, _) = curl(&[&url("localhost", "/snapshot/1")]);
    assert_eq!(code, 60, "curl without --cacert");
    // The Host check is the same over TLS.
    let evil = [
        "--cacert",
        &cert,
        "-H",
        "Host: evil.example",
        &url("localhost", "/"),
    ];
    let (code, head, _) = curl(&evil);
    assert_eq!(code, 0);
    assert!(head.starts_with("http/1.1 421"), "{head}");

    // ffmpeg verifies the certificate too, and reads the MJPEG stream.
    let out = dir.path("frames.mjpeg");
    let ffmpeg = |ca: &[&str], input: &str, output: &str| {
        let mut args = vec!["-v", "error", "-y", "-tls_verify", "1"];
        args.extend_from_slice(ca);
        args.extend(["-f", "mjpeg", "-i", input, "-c:v", "copy", "-frames:v", "3"]);
        args.extend(["-f", "mjpeg", output]);
        tool("ffmpeg", &args)
    };
    let stream = url("localhost", "/stream/1");
    let read = ffmpeg(&["-ca_file", &cert], &stream, out.to_str().unwrap());
    let said = String::from_utf8_lossy(&read.stderr);
    assert!(read.status.success(), "ffmpeg over https: {said}");
    let frames = std::fs::read(&out).unwrap();
    let starts = frames.windows(3).filter(|w| w == b"\xFF\xD8\xFF").count();
    assert!(starts >= 3, "{starts} JPEGs from ffmpeg");
    let unverified = ffmpeg(&[], &stream, "-");
    assert!(
        !unverified.status.success(),
        "ffmpeg trusted an unknown certificate"
    );

    // Plain HTTP on the https port is no request: the handshake fails, with one line.
    let mut plain = TcpStream::connect(&http).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    wait_for("the handshake's line", Duration::from_secs(10), || {
        let log = viewer.stderr.lock().unwrap().join("\n");
        log.contains(": HTTP: TLS handshake failed: ")
    });
    drop(streamer);
}

/// Runs a viewer with the hub on https and `cert`, `key`; it must stop, saying `line`.
fn refused_at_start(cert: &str, key: &str) -> String {
    let args = [
        "--headless",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ];
    let mut all = args.to_vec();
    all.extend(["--http-cert", cert, "--http-key", key]);
    let out = run("viewer", &all, Duration::from_secs(10));
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

#[test]
fn a_tls_key_others_may_read_or_of_another_certificate_is_refused() {
    let dir = TempDir::new("hub-tls-key");
    let (cert, key) = self_signed(&dir, "one");
    let (_, other_key) = self_signed(&dir, "two");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        refused_at_start(&cert, &key),
        format!("viewer: --http-key: {key}: readable by group or others (mode 0644), refusing it: chmod 600 {key}")
    );
    let said = refused_at_start(&cert, &other_key);
    assert!(
        said.starts_with(&format!(
            "viewer: --http-key {other_key} with --http-cert {cert}: "
        )),
        "{said}"
    );
    assert!(!said.contains('\n'), "{said}");
    let said = refused_at_start(&key, &other_key);
    assert!(said.contains("no CERTIFICATE block"), "{said}");
}

/// `GET path` with the head `host_line` (the whole `Host:` line, or nothing) in `version`.
fn get_naming(addr: &str, path: &str, host_line: &str, version: &str) -> crate::hub::Response {
    let request = format!("GET {path} HTTP/{version}\r\n{host_line}Connection: close\r\n\r\n");
    raw(addr, request.as_bytes())
}

#[test]
fn requests_naming_another_host_are_answered_421() {
    let _lock = heavy();
    let (viewer, http) = hub(&["--http-host", "Robot.Example"]);
    let streamer = paced_streamer(&viewer, "160x120", 900);
    wait_for_stream(&http);
    let port = http.rsplit(':').next().unwrap();
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        "robot.example".to_string(),
        format!("ROBOT.example.:{port}"),
    ] {
        let r = get_naming(&http, "/snapshot/1", &format!("Host: {host}\r\n"), "1.1");
        assert_eq!(r.status, 200, "Host: {host}");
        assert!(
            r.head.contains("x-content-type-options: nosniff"),
            "{}",
            r.head
        );
    }
    for host in ["evil.example", "127.0.0.2", "robot.example.evil.example"] {
        let r = get_naming(
            &http,
            "/snapshot/1",
            &format!("Host: {host}:{port}\r\n"),
            "1.1",
        );
        assert_eq!(r.status, 421, "Host: {host}");
        assert!(
            r.head.contains("x-content-type-options: nosniff"),
            "{}",
            r.head
        );
        assert!(!r.body.starts_with(b"\xFF\xD8"));
    }
    assert_eq!(get_naming(&http, "/", "", "1.1").status, 400);
    assert_eq!(get_naming(&http, "/api/streams", "", "1.0").status, 200);
    // A name that resolves to the hub, as an attacker's page rebinds its own: still 421.
    let resolve = format!("evil.example:{port}:127.0.0.1");
    let page = format!("http://evil.example:{port}/snapshot/1");
    let out = tool(
        "curl",
        &["-sS", "--max-time", "20", "-o", "/dev/null"]
            .into_iter()
            .chain(["-w", "%{http_code}", "--resolve", &resolve, &page])
            .collect::<Vec<_>>(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "421");
    let metrics = get_naming(&http, "/metrics", "Host: localhost\r\n", "1.1");
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("viewer_http_requests_refused_total{status=\"421\"} 4\n"),
        "{text}"
    );
    let log = viewer.stderr.lock().unwrap().join("\n");
    assert!(
        log.contains(": HTTP: request for host \"evil.example:"),
        "{log}"
    );
    drop(streamer);
}

#[test]
fn each_mjpeg_response_has_a_random_boundary_of_its_own() {
    let _lock = heavy();
    let (viewer, http) = hub(&[]);
    let streamer = paced_streamer(&viewer, "160x120", 900);
    wait_for_stream(&http);
    let boundary = || {
        let mut s = TcpStream::connect(&http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /stream/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The head, and the first part's boundary line after it.
        while !got.windows(4).any(|w| w == b"\r\n\r\n") || got.len() < 400 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got).to_string();
        let lower = text.to_lowercase();
        assert!(lower.contains("x-content-type-options: nosniff"), "{text}");
        let b = lower
            .split("boundary=")
            .nth(1)
            .and_then(|r| r.split("\r\n").next())
            .unwrap()
            .to_string();
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let part = format!("--{b}\r\nContent-Type: image/jpeg\r\n");
        assert!(body.contains(&part), "{b}: {body:?}");
        b
    };
    let (a, b) = (boundary(), boundary());
    assert_eq!(a.len(), 24, "{a}");
    assert_ne!(a, b);
    drop(streamer);
}

#[test]
fn a_handshake_counts_in_its_address_share_has_a_deadline_and_refusals_go_over_tls() {
    let _lock = heavy();
    let dir = TempDir::new("hub-tls-share");
    let (cert, key) = self_signed(&dir, "hub");
    let (viewer, http) = hub(&[
        "--http-cert",
        &cert,
        "--http-key",
        &key,
        "--http-max-per-client",
        "1",
    ]);
    // A client that connects and never starts its handshake holds its address's only
    // connection...
    let mut idle = TcpStream::connect(&http).unwrap();
    let port = http.rsplit(':').next().unwrap();
    // 127.0.0.1 (in the certificate too): localhost may resolve to ::1 first, where another
    // test's program may listen on the same port number.
    let url = format!("https://127.0.0.1:{port}/api/streams");
    wait_for(
        "the idle connection to be served",
        Duration::from_secs(10),
        || {
            curl(&["--cacert", &cert, &url])
                .1
                .starts_with("http/1.1 503")
        },
    );
    // ...so the next one is answered 503, over TLS, verified by curl.
    let (code, head, _) = curl(&["--cacert", &cert, &url]);
    assert_eq!(code, 0);
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    // The idle one is closed when its 10 s for a handshake are over, with a line.
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "not closed");
    wait_for("the deadline's line", Duration::from_secs(5), || {
        let log = viewer.stderr.lock().unwrap().join("\n");
        log.contains(": HTTP: no TLS handshake within 10 s, closing")
    });
    // Its connection is free again.
    wait_for("a 200 after the deadline", Duration::from_secs(10), || {
        curl(&["--cacert", &cert, &url])
            .1
            .starts_with("http/1.1 200")
    });
}
