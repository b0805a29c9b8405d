//! The streamer port under attack (docs/security.md, "The stream port"): a flood of silent
//! sockets from one address leaves a `--secret` streamer from another streaming, listed alone,
//! with few log lines; from many addresses, under a low open-file limit, they evict each other
//! and never a streamer; a peer reconnecting in a loop with a frame each time gets few lines
//! too; JPEG headers that claim huge pictures cost no memory.
//!
//! The attacker connects from 127.0.0.2, the good streamer from 127.0.0.1 (Linux answers on
//! all of 127.0.0.0/8).

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::hub::{get, hub};
use crate::robustness::tiny_jpeg;
use crate::support::*;

/// The viewer's stderr lines so far.
fn lines(viewer: &Viewer) -> Vec<String> {
    viewer.stderr.lock().unwrap().clone()
}

#[test]
fn silent_sockets_from_one_address_leave_a_secret_streamer_alone() {
    let _lock = heavy();
    let dir = TempDir::new("port-flood");
    let key = dir.path("key");
    std::fs::write(&key, b"a flood must not keep me out\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();
    let (viewer, http) = hub(&["--secret", key, "--read-timeout", "4"]);
    let before = lines(&viewer).len();
    // 1100 sockets that never send a byte, all held open.
    let silent: Vec<TcpStream> = (0..1100)
        .map(|_| connect_from("127.0.0.2", &viewer.addr))
        .collect();
    let started = Instant::now();
    let streamer = Background::start(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            "320x240",
            "--fps",
            "30",
            "--quiet",
            "--secret",
            key,
            &viewer.addr,
        ],
    );
    wait_for("the streamer's stream", Duration::from_secs(20), || {
        lines(&viewer)
            .iter()
            .any(|l| l.starts_with("127.0.0.1:") && l.ends_with(": streamer connected"))
    });
    let took = started.elapsed();
    // One stream listed, while the silent sockets are still open (they have 4 s).
    let streams = String::from_utf8_lossy(&get(&http, "/api/streams").body).to_string();
    assert_eq!(streams.matches("\"peer\"").count(), 1, "{streams}");
    assert!(streams.contains("127.0.0.1:"), "{streams}");
    // The silent ones are closed after the handshake time, with about a line a second.
    wait_for(
        "the silent sockets' timeout",
        Duration::from_secs(30),
        || {
            lines(&viewer)
                .iter()
                .any(|l| l.contains("no first header within 4.0 s, closing"))
        },
    );
    let (_, out, err) = streamer.stop("TERM", Duration::from_secs(10));
    assert!(summary(&out)["frames"].parse::<u64>().unwrap() > 0, "{err}");
    drop(silent);
    let said = lines(&viewer)[before..].to_vec();
    assert!(
        said.len() <= 40,
        "{} lines:\n{}",
        said.len(),
        said.join("\n")
    );
    assert!(
        said.iter()
            .any(|l| l.contains("(--max-per-client), closing")),
        "{said:?}"
    );
    // Not a tile per silent socket: the loaded machine's slack, not a tuned figure.
    assert!(took < Duration::from_secs(5), "the stream took {took:?}");
}

/// A peer reconnecting in a loop, one good frame each time: every frame is taken, and the
/// viewer's lines about those streamers (connected, gone) stay at about 20 a second of each
/// kind instead of one per connection.
#[test]
fn one_frame_connections_in_a_loop_write_a_few_lines_a_second() {
    let _lock = heavy();
    let viewer = Viewer::start(&["--headless"], &[]);
    let stderr = viewer.stderr.clone();
    let frame = tiny_jpeg();
    let started = Instant::now();
    for _ in 0..400 {
        drop(send_frame(&viewer.addr, &frame));
    }
    let (status, out) = viewer.terminate(Duration::from_secs(20));
    let secs = started.elapsed().as_secs_f64();
    assert!(status.success(), "{status}");
    assert_eq!(summary(&out)["frames"], "400", "{out}");
    let connected = stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(": streamer connected"))
        .count();
    // 20 a second at most, in each second the run touched (the first line of each kind
    // opens its second).
    let bound = 20 * (secs.ceil() as usize + 1);
    assert!(
        (20..=bound).contains(&connected) && connected < 400,
        "{connected} connected lines in {secs:.1} s (bound {bound})"
    );
}

/// A JPEG whose frame header claims `width`x`height` (the rest is a 16x16 picture's).
fn claiming(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = tiny_jpeg();
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// Sends one frame in the reference `flag` dialect and waits for both answers.
fn send_frame(addr: &str, payload: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut ok = [0u8; 2];
    s.write_all(format!("{}, ", payload.len()).as_bytes())
        .unwrap();
    std::io::Read::read_exact(&mut s, &mut ok).unwrap();
    s.write_all(payload).unwrap();
    std::io::Read::read_exact(&mut s, &mut ok).unwrap();
    s
}

/// Four headers claiming 16384x16384 (1 GB of pixels each): refused from the header under
/// the default budget; with the budget raised to allow them, a headless viewer decodes them
/// no larger than its --size needs. Either way the viewer stays small.
#[test]
fn huge_picture_headers_take_no_memory() {
    let _lock = heavy();
    let huge = claiming(16384, 16384);
    for (budget, said) in [
        (None, "more than --max-pixels 33177600"),
        (Some("268435456"), "frame not displayed"),
    ] {
        let mut args = vec!["--headless"];
        args.extend(budget.iter().flat_map(|b| ["--max-pixels", b]));
        let viewer = Viewer::start(&args, &[]);
        let held: Vec<TcpStream> = (0..4).map(|_| send_frame(&viewer.addr, &huge)).collect();
        wait_for("four refusals", Duration::from_secs(30), || {
            lines(&viewer).iter().filter(|l| l.contains(said)).count() >= 4
        });
        let peak_kb = peak_rss_kb(viewer.child.id());
        drop(held);
        let (status, _) = viewer.terminate(Duration::from_secs(10));
        assert!(status.success());
        assert!(
            peak_kb < 150 * 1024,
            "budget {budget:?}: peak memory {peak_kb} kB"
        );
    }
}

/// Under a low open-file limit (600, soft and hard: a service's `LimitNOFILE`) the streamer port
/// takes what the limit leaves rather than failing every accept (the hub's and the recordings'
/// files too) once descriptors run out; and silent sockets from many addresses, each within its
/// share and far inside the handshake limit, cannot keep a streamer out: a newcomer closes the
/// oldest connection without a frame, never one that streams.
#[test]
fn a_low_open_file_limit_lowers_the_port_cap_and_squatters_cannot_fill_it() {
    let _lock = heavy();
    let mut command = Command::new(bin("viewer"));
    // A minute to send a first header: without eviction the squatters would hold the port.
    command.args([
        "--headless",
        "--listen",
        "127.0.0.1:0",
        "--read-timeout",
        "60",
        "--http",
        "127.0.0.1:0",
    ]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 600,
                rlim_max: 600,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let viewer = Viewer::spawn(&mut command);
    wait_for(
        "the viewer's line on its cap",
        Duration::from_secs(10),
        || {
            lines(&viewer).iter().any(|l| {
            l == "viewer: open files are limited to 600 (ulimit -n): the streamer port takes at \
                  most 88 connections, not 1024"
        })
        },
    );
    // 700 silent sockets from 44 addresses (16 an address at most): more than the limit.
    let squat = |n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|i| connect_from(&format!("127.0.0.{}", 2 + i / 16), &viewer.addr))
            .collect()
    };
    let _silent = squat(700);
    let evicting = |l: &String| {
        l.ends_with("connections open; closing the oldest one that has sent no frame yet")
    };
    wait_for("the port to evict", Duration::from_secs(10), || {
        lines(&viewer).iter().any(evicting)
    });
    let streamer = Background::start(
        "streamer",
        &[
            "--source",
            "test",
            "--size",
            "160x120",
            "--fps",
            "30",
            &viewer.addr,
        ],
    );
    let connected = |viewer: &Viewer| {
        (lines(viewer).iter())
            .filter(|l| l.starts_with("127.0.0.1:") && l.ends_with(": streamer connected"))
            .count()
    };
    wait_for(
        "the streamer, within the squatters' minute",
        Duration::from_secs(20),
        || connected(&viewer) == 1,
    );
    // More squatters while it streams: they evict each other, never the streamer.
    let http = (lines(&viewer).iter())
        .find_map(|l| {
            l.strip_prefix("viewer: serving HTTP on ")
                .map(str::to_string)
        })
        .unwrap();
    let evicted = || {
        let metrics = String::from_utf8_lossy(&get(&http, "/metrics").body).to_string();
        (metrics.lines())
            .find_map(|l| l.strip_prefix("viewer_port_evicted_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    let before = evicted();
    assert!(before > 0);
    let _more = squat(300);
    wait_for("the newcomers to evict", Duration::from_secs(20), || {
        evicted() >= before + 16
    });
    let (_, out, err) = streamer.stop("TERM", Duration::from_secs(10));
    assert!(summary(&out)["frames"].parse::<u64>().unwrap() > 0, "{err}");
    assert_eq!(connected(&viewer), 1, "{:?}", lines(&viewer));
    let failed: Vec<String> = (lines(&viewer).into_iter())
        .filter(|l| {
            l.contains("accept failed")
                || l.contains("127.0.0.1:") && l.contains("closed to make room")
        })
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}
