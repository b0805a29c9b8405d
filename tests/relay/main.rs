//! `link-relay`: a test tool, not part of the product. A TCP relay on loopback that makes a
//! link like Wi-Fi or LTE, since this kernel has no `netem`: in each direction, bytes leave at
//! a capped rate (queueing behind each other, up to `--queue-ms` of backlog before the sender
//! is held back), then wait out a one-way delay with uniform jitter, in order, and reach the
//! other end a packet (1448 bytes) at a time, or with `--burst BYTES` in bursts as Wi-Fi
//! aggregation delivers them; the delay may differ per direction (`--delay-up-ms`,
//! `--delay-down-ms`); optionally the link stalls now and then (`--stalls`) or once at a set
//! moment (`--stall-at`). It stops by itself after `--max-seconds`.
//!
//!   link-relay --to 127.0.0.1:8080 --rate-mbit 20 --delay-ms 5 --jitter-ms 2
//!
//! It prints `link-relay: listening on ADDR` on stderr, then serves any number of connections.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// An emulated network link between a TCP client and a server, for tests and benchmarks.
#[derive(Parser, Debug, Clone)]
#[command(name = "link-relay")]
struct Args {
    /// Address to listen on (port 0: any free port, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where each connection is relayed to.
    #[arg(long)]
    to: String,
    /// One-way delay of each direction, milliseconds.
    #[arg(long, default_value_t = 0.0)]
    delay_ms: f64,
    /// One-way delay from the client to the server (streamer to viewer), instead of
    /// --delay-ms.
    #[arg(long)]
    delay_up_ms: Option<f64>,
    /// One-way delay from the server back to the client (the answers), instead of --delay-ms.
    #[arg(long)]
    delay_down_ms: Option<f64>,
    /// Deliver in bursts of this many bytes (e.g. 32768, as Wi-Fi aggregation): bytes that
    /// have crossed wait until a burst is full or the link has nothing more on its way
    /// (0: a packet at a time).
    #[arg(long, default_value_t = 0)]
    burst: usize,
    /// Uniform jitter added to the delay, plus or minus this many milliseconds.
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Rate cap of each direction, megabits per second (0: no cap).
    #[arg(long, default_value_t = 0.0)]
    rate_mbit: f64,
    /// Backlog the link holds before the sender must wait, milliseconds of link time.
    #[arg(long, default_value_t = 200.0)]
    queue_ms: f64,
    /// Stalls: PERCENT:MS, the link is down PERCENT % of the time in stalls of MS each
    /// (e.g. 1:100), at random moments.
    #[arg(long, value_parser = parse_stalls)]
    stalls: Option<(f64, f64)>,
    /// One stall at a set moment: AT_MS:MS, the link is down for MS milliseconds from AT_MS
    /// after each connection starts (e.g. 3000:500).
    #[arg(long, value_parser = parse_stall_at)]
    stall_at: Option<(f64, f64)>,
    /// Seed of the random jitter and stalls, so that runs repeat.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Exit after this many seconds whatever is going on.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
}

fn parse_stalls(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{s:?} is not PERCENT:MS, e.g. 1:100");
    let (pct, ms) = s.split_once(':').ok_or_else(bad)?;
    let (pct, ms): (f64, f64) = (
        pct.parse().map_err(|_| bad())?,
        ms.parse().map_err(|_| bad())?,
    );
    if !(pct > 0.0 && pct < 100.0 && ms > 0.0) {
        return Err(bad());
    }
    Ok((pct, ms))
}

fn parse_stall_at(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{s:?} is not AT_MS:MS, e.g. 3000:500");
    let (at, ms) = s.split_once(':').ok_or_else(bad)?;
    let (at, ms): (f64, f64) = (
        at.parse().map_err(|_| bad())?,
        ms.parse().map_err(|_| bad())?,
    );
    if !(at >= 0.0 && ms > 0.0 && at.is_finite() && ms.is_finite()) {
        return Err(bad());
    }
    Ok((at, ms))
}

/// The largest piece scheduled as one: a TCP segment's payload on Ethernet.
const PACKET: usize = 1448;
/// Pieces in the pipe between a direction's reader and writer (time bounds it before this).
const PIPE: usize = 4096;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("link-relay: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("link-relay: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!("link-relay: listening on {}", listener.local_addr()?);
    let deadline = tokio::time::sleep(Duration::from_secs(args.max_seconds));
    tokio::pin!(deadline);
    let mut connection = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (client, peer) = accepted?;
                connection += 1;
                let args = args.clone();
                tokio::spawn(async move {
                    if let Err(e) = relay(client, &args, connection).await {
                        eprintln!("link-relay: {peer}: {e:#}");
                    }
                });
            }
            _ = &mut deadline => {
                eprintln!("link-relay: {} s are up, exiting", args.max_seconds);
                return Ok(());
            }
        }
    }
}

async fn relay(client: TcpStream, args: &Args, connection: u64) -> Result<()> {
    let server = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(&args.to))
        .await
        .with_context(|| format!("{}: no answer within 3 s", args.to))?
        .with_context(|| format!("cannot connect to {}", args.to))?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
    }
    let (client_rd, client_wr) = client.into_split();
    let (server_rd, server_wr) = server.into_split();
    // Each direction draws its own random numbers, from its own seed.
    let up = Link::new(args, args.delay_up_ms, args.seed ^ (connection << 1));
    let down = Link::new(args, args.delay_down_ms, args.seed ^ (connection << 1 | 1));
    let (a, b) = tokio::join!(
        direction(client_rd, server_wr, up),
        direction(server_rd, client_wr, down)
    );
    a.and(b)
}

/// One direction of the link: its parameters and state.
struct Link {
    bytes_per_sec: Option<f64>,
    delay: Duration,
    jitter: f64,
    queue: Duration,
    /// (mean gap between stalls, stall length), seconds.
    stalls: Option<(f64, f64)>,
    rng: SplitMix,
    /// When the link has sent everything scheduled so far.
    free_at: Instant,
    /// When the last piece is delivered (later pieces never overtake it).
    last_delivery: Instant,
    next_stall: Option<Instant>,
    /// The one stall of `--stall-at`: (start, end).
    stall_at: Option<(Instant, Instant)>,
    /// `--burst`: bytes delivered at once (0: a packet at a time).
    burst: usize,
}

impl Link {
    /// One direction, with its own delay if given (else --delay-ms).
    fn new(args: &Args, delay_ms: Option<f64>, seed: u64) -> Link {
        let now = Instant::now();
        let delay_ms = delay_ms.unwrap_or(args.delay_ms);
        let stall_at = args.stall_at.map(|(at, ms)| {
            let start = now + Duration::from_secs_f64(at / 1e3);
            (start, start + Duration::from_secs_f64(ms / 1e3))
        });
        let stalls = args.stalls.map(|(pct, ms)| {
            let stall = ms / 1e3;
            (stall * (100.0 - pct) / pct, stall)
        });
        let mut link = Link {
            bytes_per_sec: (args.rate_mbit > 0.0).then_some(args.rate_mbit * 1e6 / 8.0),
            delay: Duration::from_secs_f64(delay_ms.clamp(0.0, 1e6) / 1e3),
            jitter: args.jitter_ms.max(0.0) / 1e3,
            queue: Duration::from_secs_f64(args.queue_ms.max(1.0) / 1e3),
            stalls,
            rng: SplitMix(seed),
            free_at: now,
            last_delivery: now,
            next_stall: None,
            stall_at,
            burst: args.burst,
        };
        link.next_stall = link.stalls.map(|(gap, _)| now + link.rng.exponential(gap));
        link
    }

    /// How long the sender must wait before the link takes more (its backlog is full).
    fn backlog_wait(&self, now: Instant) -> Option<Instant> {
        (self.free_at > now + self.queue).then(|| self.free_at - self.queue)
    }

    /// Schedules `len` bytes arriving now; returns when they come out at the other end.
    fn schedule(&mut self, len: usize, now: Instant) -> Instant {
        let mut start = self.free_at.max(now);
        if let (Some((gap, stall)), Some(next)) = (self.stalls, self.next_stall) {
            if start >= next {
                let end = next + Duration::from_secs_f64(stall);
                start = start.max(end);
                self.next_stall = Some(end + self.rng.exponential(gap));
            }
        }
        if let Some((from, until)) = self.stall_at {
            if start >= from && start < until {
                start = until;
            }
        }
        let send = self
            .bytes_per_sec
            .map_or(Duration::ZERO, |r| Duration::from_secs_f64(len as f64 / r));
        self.free_at = start + send;
        let jitter = (self.rng.unit() * 2.0 - 1.0) * self.jitter;
        let delay = (self.delay.as_secs_f64() + jitter).max(0.0);
        let delivery = (self.free_at + Duration::from_secs_f64(delay)).max(self.last_delivery);
        self.last_delivery = delivery;
        delivery
    }
}

/// Reads from `from`, schedules each piece on the link and hands it to a writer that delivers
/// it to `to` on time; ends both when `from` ends.
async fn direction(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin + Send + 'static,
    mut link: Link,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(PIPE);
    let burst = link.burst;
    let writer = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut next: Option<(Instant, Vec<u8>)> = None;
        loop {
            let item = match next.take() {
                Some(p) => p,
                None => match rx.recv().await {
                    Some(p) => p,
                    None => break,
                },
            };
            let (at, piece) = item;
            tokio::time::sleep_until(at).await;
            out.clear();
            out.extend_from_slice(&piece);
            if burst > 0 {
                // A burst: wait for what is on its way until it is full.
                while out.len() < burst {
                    let Ok((at, piece)) = rx.try_recv() else {
                        break;
                    };
                    tokio::time::sleep_until(at).await;
                    out.extend_from_slice(&piece);
                }
            } else {
                // Everything else already due goes out in the same write.
                let now = Instant::now();
                while let Ok((at, piece)) = rx.try_recv() {
                    if at > now {
                        next = Some((at, piece));
                        break;
                    }
                    out.extend_from_slice(&piece);
                }
            }
            to.write_all(&out).await?;
        }
        to.shutdown().await
    });
    // Paced links are scheduled a segment at a time; an uncapped one in larger pieces.
    let piece = if link.bytes_per_sec.is_some() {
        PACKET
    } else {
        64 * 1024
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        for chunk in buf[..n].chunks(piece) {
            if let Some(until) = link.backlog_wait(Instant::now()) {
                tokio::time::sleep_until(until).await;
            }
            let at = link.schedule(chunk.len(), Instant::now());
            if tx.send((at, chunk.to_vec())).await.is_err() {
                // The writer failed: its error is the one to report.
                break;
            }
        }
    }
    drop(tx);
    writer.await.context("relay writer")??;
    Ok(())
}

/// A small, seeded random source (SplitMix64): jitter and stalls repeat from run to run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with this mean, in seconds.
    fn exponential(&mut self, mean: f64) -> Duration {
        Duration::from_secs_f64(-mean * (1.0 - self.unit()).ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["link-relay", "--to", "127.0.0.1:1"];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn bytes_leave_at_the_rate_then_wait_out_the_delay() {
        // 8 Mbit/s is 1 MB/s: 1000 bytes take 1 ms; 10 ms delay, no jitter.
        let mut link = Link::new(&args(&["--rate-mbit", "8", "--delay-ms", "10"]), None, 1);
        let t = Instant::now();
        let first = link.schedule(1000, t);
        assert_eq!(first - t, Duration::from_millis(11));
        // A second piece at the same moment queues behind the first.
        let second = link.schedule(1000, t);
        assert_eq!(second - t, Duration::from_millis(12));
        // The backlog limit holds the sender back (200 ms of link time by default).
        for _ in 0..300 {
            link.schedule(1000, t);
        }
        assert!(link.backlog_wait(t).is_some());
    }

    #[test]
    fn jitter_never_reorders() {
        let mut link = Link::new(&args(&["--delay-ms", "5", "--jitter-ms", "4"]), None, 7);
        let t = Instant::now();
        let mut last = t;
        for i in 0..1000u64 {
            let at = link.schedule(100, t + Duration::from_micros(100 * i));
            assert!(at >= last);
            let d = at - (t + Duration::from_micros(100 * i));
            assert!(d <= Duration::from_millis(9), "{d:?}");
            last = at;
        }
    }

    #[test]
    fn stalls_take_about_their_share_of_the_time() {
        let mut link = Link::new(&args(&["--stalls", "10:100"]), None, 3);
        let t = Instant::now();
        // One small piece every millisecond for 100 s: those inside a stall wait for its end.
        let mut waited = Duration::ZERO;
        for i in 0..100_000u64 {
            let now = t + Duration::from_millis(i);
            waited += link.schedule(1, now).saturating_duration_since(now);
        }
        // About 10 % of the time stalled, each waiting half a stall on average: ~5 ms each.
        let mean_ms = waited.as_secs_f64() * 1e3 / 100_000.0;
        assert!((2.0..10.0).contains(&mean_ms), "{mean_ms}");
        assert!(parse_stalls("1:100").is_ok() && parse_stalls("0:100").is_err());
    }

    #[test]
    fn per_direction_delays_and_a_stall_at_a_set_moment() {
        let a = args(&[
            "--delay-ms",
            "5",
            "--delay-up-ms",
            "30",
            "--stall-at",
            "100:50",
        ]);
        let (mut up, mut down) = (
            Link::new(&a, a.delay_up_ms, 1),
            Link::new(&a, a.delay_down_ms, 2),
        );
        let t = Instant::now();
        assert_eq!(up.schedule(0, t) - t, Duration::from_millis(30));
        assert_eq!(down.schedule(0, t) - t, Duration::from_millis(5));
        // Inside the stall: nothing leaves before its end (150 ms).
        let at = t + Duration::from_millis(120);
        let out = down.schedule(0, at);
        assert!(
            out >= t + Duration::from_millis(155) - Duration::from_millis(1),
            "{:?}",
            out - t
        );
        assert!(parse_stall_at("3000:500").is_ok() && parse_stall_at("x:1").is_err());
    }
}
