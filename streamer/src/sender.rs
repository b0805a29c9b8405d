//! The network stage: connects to the viewer (and reconnects when it goes away), sends the
//! newest encoded frame in the chosen dialect and measures each frame's latency (in `len32`,
//! which has no answers, only its send time).

use std::time::{Duration, Instant};

use shared::cli::{print_line, PeerAddr};
use shared::stats::StreamStats;
use shared::{Connection, Dialect, Limits, Slot};
use tokio::net::TcpStream;

use crate::encoder::EncodedFrame;

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A connection attempt that has not succeeded by then is abandoned and retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the sender needs to know.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub viewer: PeerAddr,
    pub dialect: Dialect,
    /// Stop after this many acknowledged frames (0: never).
    pub frames: u64,
    pub quiet: bool,
    pub ack_timeout: Duration,
}

/// Results of a run, over every connection.
#[derive(Default)]
pub struct SenderStats {
    /// Acknowledged frames and their latency (`send_ms` in `len32`); `None` until the first.
    pub latency: Option<StreamStats>,
    pub bytes: u64,
}

/// Sends frames from `frames` until it closes, the frame limit is reached or `stop` resolves.
pub async fn run(
    config: &SenderConfig,
    frames: &Slot<EncodedFrame>,
    stats: &mut SenderStats,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let limits = Limits {
        ack_timeout: config.ack_timeout,
        ..Limits::default()
    };
    let mut sent = 0u64;
    let measure = if config.dialect == Dialect::Len32 {
        eprintln!(
            "streamer: the len32 dialect has no acknowledgements, so latency cannot be measured; \
             printing send_ms (capture start to the last byte handed to the socket) instead"
        );
        "send_ms"
    } else {
        "latency_ms"
    };
    'connect: loop {
        let stream = tokio::select! {
            s = connect(&config.viewer) => s,
            _ = &mut stop => break,
        };
        let mut conn = Connection::with_dialect(stream, limits, config.dialect);
        loop {
            if config.frames > 0 && sent >= config.frames {
                let _ = conn.finish().await;
                break 'connect;
            }
            let frame = tokio::select! {
                f = frames.take() => f,
                _ = &mut stop => None,
            };
            let Some(frame) = frame else {
                let _ = conn.finish().await;
                break 'connect;
            };
            // Not raced against `stop`: a frame in flight finishes (bounded by the ack timeout),
            // so the viewer never sees a truncated frame from a clean shutdown.
            let result = conn.send_frame(frame.jpeg()).await;
            let done = Instant::now();
            match result {
                Ok(()) => {
                    sent += 1;
                    let latency = done.duration_since(frame.captured_at);
                    stats
                        .latency
                        .get_or_insert_with(|| StreamStats::new(frame.captured_at))
                        .frame(done, Some(latency));
                    stats.bytes += frame.jpeg().len() as u64;
                    if !config.quiet {
                        print_line(format_args!(
                            "frame={sent} bytes={} {measure}={:.2}",
                            frame.jpeg().len(),
                            latency.as_secs_f64() * 1e3
                        ));
                    }
                    frames.recycle(frame);
                }
                Err(e) => {
                    eprintln!("streamer: {}: {e}; reconnecting", config.viewer);
                    frames.recycle(frame);
                    continue 'connect;
                }
            }
        }
    }
}

/// Connects to the viewer, retrying with a backoff capped at one second. Says once that it is
/// waiting rather than printing every failed attempt.
async fn connect(viewer: &PeerAddr) -> TcpStream {
    let mut delay = Duration::from_millis(50);
    let mut waiting = false;
    loop {
        let attempt = TcpStream::connect((viewer.host.as_str(), viewer.port));
        let error = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(stream)) => {
                // Headers and answers are tiny and awaited: no Nagle. Keepalive finds a viewer
                // that vanished without closing.
                if let Err(e) = shared::net::tune(&stream) {
                    eprintln!("streamer: {viewer}: cannot set socket options: {e}");
                }
                eprintln!("streamer: connected to {viewer}");
                return stream;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        };
        if !waiting {
            eprintln!("streamer: {viewer}: {error}; waiting for the viewer");
            waiting = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}
