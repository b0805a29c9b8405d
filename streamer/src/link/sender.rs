//! The network stage: connects to the viewer (and reconnects when it goes away), sends the
//! newest encoded frame in the chosen dialect and measures each frame's latency (in `len32`,
//! which has no answers, only its send time). In the `flag` dialect the first frame of each
//! connection offers the extension exchange (and, to older viewers, overlapping frames); when
//! the viewer takes either up, the connection goes on in [`crate::link::overlap`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use shared::cli::PeerAddr;
use shared::runtime::log_limit::LogLimit;
use shared::wire::connection::Negotiated;
use shared::{ConnError, Connection, Dialect, Limits, Slot};
use tokio::net::TcpStream;

use crate::encode::encoder::EncodedFrame;
use crate::link::config::SenderConfig;
use crate::link::overlap::{self, Form};
use crate::link::tally::{Delivery, Tally};
use crate::link::times;

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// First wait after a failed connection; it doubles with every failure up to [`MAX_BACKOFF`]
/// and starts over once a frame was acknowledged.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// A connection that acknowledged frames for this long starts the backoff over.
const STEADY: Duration = Duration::from_secs(1);
/// The lines about connecting and reconnecting, a few a second at most (a viewer failing every
/// connection at once would otherwise fill the robot's journal).
static LINES: LazyLock<LogLimit> = LazyLock::new(|| LogLimit::with_burst(3));
/// A connection attempt that has not succeeded by then is abandoned and retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long looking up the viewer's name may take (a slow or unreachable DNS server on an LTE
/// modem takes 5 s a try).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long frames a source left when it ended are offered to a viewer not connected yet.
const LEFT_GRACE: Duration = Duration::from_secs(5);

/// Sends frames from `frames` until it closes, the frame limit is reached or `stop` resolves.
/// `source` is the capture stage's slot: once it closes (the source ended or failed) with no
/// viewer connected, what it left is offered for [`LEFT_GRACE`], then the sender ends.
pub async fn run<R>(
    config: &SenderConfig,
    (frames, source): (&Slot<EncodedFrame>, &Slot<R>),
    tally: &mut Tally<'_>,
    stop: impl Future<Output = ()>,
) {
    // Once, before any connection: a configuration that can never succeed is not retried.
    if let Err(e) = refuse_clear(config) {
        eprintln!("streamer: {e}");
        return;
    }
    tokio::pin!(stop);
    let limits = Limits {
        ack_timeout: config.ack_timeout,
        ..Limits::default()
    };
    // Set once `stop` has resolved (in the overlapping loop): it must not be polled again.
    let mut stopped = false;
    // The last reason a viewer refused this streamer, said once.
    let mut refused: Option<String> = None;
    let mut backoff = Backoff::default();
    // When the source was first seen to have ended while no viewer was connected.
    let gone_at = OnceLock::new();
    // The viewer's address that answered last, tried first on a reconnect.
    let mut worked = None;
    loop {
        let stream = tokio::select! {
            s = connect(&config.viewer, &mut worked) => s,
            _ = &mut stop => break,
            _ = source_gone(frames, source, &gone_at) => break source_ended(config),
        };
        let conn = Connection::with_dialect(stream, limits, config.dialect);
        tally.connected();
        let (acknowledged, began) = (tally.acknowledged_frames(), Instant::now());
        let served = serve(config, conn, frames, tally, stop.as_mut(), &mut stopped).await;
        let acked = tally.acknowledged_frames() - acknowledged;
        let wait = backoff.failed(progressed(acked, began.elapsed()));
        match served {
            Ok(()) => break,
            Err(ConnError::Refused(why)) => {
                // Said once per reason; retried calmly, as the viewer may be restarted with
                // the right secret.
                if refused.as_deref() != Some(why.as_str()) {
                    eprintln!(
                        "streamer: {}: refused: {why}; retrying every second",
                        config.viewer
                    );
                    refused = Some(why);
                }
                tokio::select! {
                    _ = tokio::time::sleep(MAX_BACKOFF) => {}
                    _ = &mut stop => break,
                    _ = source_gone(frames, source, &gone_at) => break source_ended(config),
                }
            }
            // Not at once: a viewer that closes every connection (full, or taken by a flood)
            // must not be hammered.
            Err(e) => {
                LINES.line("reconnecting", || {
                    format!("streamer: {}: {e}; reconnecting", config.viewer)
                });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = &mut stop => break,
                    _ = source_gone(frames, source, &gone_at) => break source_ended(config),
                }
            }
        }
    }
}

/// Resolves once the source has ended or failed (`source`, the capture stage's slot, closed)
/// and what it left cannot be delivered: at once when nothing is left, else [`LEFT_GRACE`]
/// after the end was first seen (`gone_at`), so that a short pipe's frames still reach a
/// viewer being connected to. Waiting on for good would keep a finished or broken streamer
/// alive, hiding the failure from whoever restarts it (a unit's `Restart=on-failure`). The
/// capture's slot, not `frames`: a source whose frames each wait to be taken (a pipe or file
/// at --fps 0) leaves the encoder waiting on a full `frames` that never closes.
async fn source_gone<R>(
    frames: &Slot<EncodedFrame>,
    source: &Slot<R>,
    gone_at: &OnceLock<tokio::time::Instant>,
) {
    source.closed().await;
    let at = *gone_at.get_or_init(tokio::time::Instant::now);
    if !(frames.is_closed() && frames.is_empty()) {
        tokio::time::sleep_until(at + LEFT_GRACE).await;
    }
}

fn source_ended(config: &SenderConfig) {
    eprintln!(
        "streamer: {}: the source ended and no viewer took what it left; not waiting for one",
        config.viewer
    );
}

/// The wait before the next connection after one failed.
#[derive(Debug, Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    /// A connection failed, after at least one acknowledged frame (`progressed`) or none:
    /// how long to wait before the next. Doubles from [`MIN_BACKOFF`] to [`MAX_BACKOFF`];
    /// progress starts it over.
    fn failed(&mut self, progressed: bool) -> Duration {
        let wait = match self.next {
            Some(last) if !progressed => (last * 2).min(MAX_BACKOFF),
            _ => MIN_BACKOFF,
        };
        self.next = Some(wait);
        wait
    }
}

/// Whether a connection that ended made progress: frames acknowledged over a connection that
/// held for [`STEADY`]. A viewer that takes one frame and fails, every time, must not be
/// reconnected to 20 times a second.
fn progressed(acknowledged: u64, lasted: Duration) -> bool {
    acknowledged > 0 && lasted >= STEADY
}

/// The most frames in flight: `--window`'s `cap`, and the viewer's in the exchange (one at
/// least: a viewer saying 0 would hold every frame, idle, for ever).
fn most_in_flight(form: Negotiated, cap: usize) -> usize {
    match form {
        Negotiated::Extended { window } => cap.min(window.into()).max(1),
        _ => cap,
    }
}

/// A second guard behind the flags' check: with a secret, only the flag dialect (the one with
/// the exchange that proves the viewer and seals the frames), never a frame in clear.
fn refuse_clear(config: &SenderConfig) -> Result<(), ConnError> {
    if config.ext.secret.is_some() && config.dialect != Dialect::Flag {
        let why = "the shared secret (--secret) needs the flag dialect";
        return Err(ConnError::Refused(why.into()));
    }
    Ok(())
}

/// Sends frames on one connection, strictly one at a time, or, once the viewer takes up the
/// offer (the extension exchange, or an older viewer's overlapping frames), on in
/// [`overlap::run`]. `Ok` when there is nothing more to send (the frames ended, the limit was
/// reached or `stop` resolved); an error when the connection failed and another one is wanted.
async fn serve<F: Future<Output = ()>>(
    config: &SenderConfig,
    mut conn: Connection<TcpStream>,
    frames: &Slot<EncodedFrame>,
    tally: &mut Tally<'_>,
    mut stop: Pin<&mut F>,
    stopped: &mut bool,
) -> Result<(), ConnError> {
    let mut first = config.dialect == Dialect::Flag;
    loop {
        let frame = match tally.wants_more(0) {
            true => tokio::select! {
                f = frames.take() => f,
                _ = stop.as_mut() => None,
            },
            false => None,
        };
        let Some(frame) = frame else {
            let _ = conn.finish().await;
            return Ok(());
        };
        config.black_box.keep(&frame);
        // Not raced against `stop`: a frame in flight finishes (bounded by the ack timeout;
        // a connection's first, with the handshake, by three), so the viewer never sees a
        // truncated frame from a clean shutdown.
        let sent_at = Instant::now();
        tally.sending(1, frame.jpeg().len(), sent_at);
        let mut delivery = Delivery::of(&frame, sent_at, false);
        let result = if first {
            let meta = times::frame_meta(&frame, sent_at, None);
            delivery.sent_wall_us = times::sent_wall(&meta);
            let clock = &mut tally.clock;
            // Each handshake sample's round trip, flag written to this moment, measured here.
            let mut sink = |s| clock.sample_measured(s, sent_at.elapsed());
            conn.send_first_frame_negotiating(frame.jpeg(), meta, &config.ext, &mut sink)
                .await
                .map(|(form, times)| {
                    delivery.payload_sent = Some(times.payload_sent);
                    (form, Some(times.answered))
                })
        } else {
            conn.send_frame(frame.jpeg())
                .await
                .map(|answered| (Negotiated::Strict, answered))
        };
        let done = Instant::now();
        frames.recycle(frame);
        // A frame taken from the slot and not delivered is dropped, as overlap's in flight.
        let (form, header_answered) = result.inspect_err(|_| tally.lost(1))?;
        tally.acknowledged(Delivery {
            header_answered,
            done,
            ..delivery
        });
        let cap = most_in_flight(form, config.window.cap());
        if first {
            tally.negotiated(form, cap);
        }
        first = false;
        let form = match (form, conn.take_session()) {
            (Negotiated::Extended { .. }, Some(session)) => Form::Sealed(session),
            (Negotiated::Extended { .. }, None) => Form::Extended,
            (Negotiated::Overlap, _) if cap > 1 => Form::Flags,
            // Plain flags go on strictly (an older viewer answers them as the reference does).
            _ => continue,
        };
        let (stream, unread) = conn.into_parts();
        let run = overlap::run(stream, (form, cap), unread, frames, tally, stop, stopped);
        return match run.await {
            Err(e) if *stopped => {
                eprintln!("streamer: {}: {e}", config.viewer);
                Ok(())
            }
            result => result,
        };
    }
}

/// Connects to the viewer (the address that `worked` last first, set to the one that works),
/// retrying with a backoff capped at one second. Says once that it is
/// waiting rather than printing every failed attempt.
async fn connect(viewer: &PeerAddr, worked: &mut Option<SocketAddr>) -> TcpStream {
    let mut delay = MIN_BACKOFF;
    let mut waiting = false;
    loop {
        let error = match connect_once(viewer, *worked).await {
            Ok((stream, addr)) => {
                *worked = Some(addr);
                // Headers and answers are tiny and awaited: no Nagle. Keepalive finds a viewer
                // that vanished without closing.
                if let Err(e) = shared::runtime::net::tune(&stream) {
                    eprintln!("streamer: {viewer}: cannot set socket options: {e}");
                }
                LINES.line("connected", || format!("streamer: connected to {viewer}"));
                return stream;
            }
            Err(e) => e,
        };
        if !waiting {
            eprintln!("streamer: {viewer}: {error}; waiting for the viewer");
            waiting = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// One attempt: the viewer's name looked up within [`LOOKUP_TIMEOUT`], then each of its
/// addresses in turn (the one that `worked` last first), each within [`CONNECT_TIMEOUT`]. One
/// timeout over both, as tokio's `connect(host)` has, spent itself on a slow DNS server or on
/// a first address (often IPv6) that drops the attempt silently, and the next address was
/// never tried.
async fn connect_once(
    viewer: &PeerAddr,
    worked: Option<SocketAddr>,
) -> Result<(TcpStream, SocketAddr), String> {
    let lookup = tokio::net::lookup_host((viewer.host.as_str(), viewer.port));
    let addrs = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => in_order(addrs.collect(), worked),
        Ok(Err(e)) => return Err(format!("cannot look up {}: {e}", viewer.host)),
        Err(_) => {
            let secs = LOOKUP_TIMEOUT.as_secs();
            return Err(format!("no address for {} within {secs} s", viewer.host));
        }
    };
    let mut error = format!("no address for {}", viewer.host);
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => error = format!("{addr}: {e}"),
            Err(_) => error = format!("{addr}: no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        }
    }
    Err(error)
}

/// `addrs` as looked up, but the one that `worked` last first.
fn in_order(mut addrs: Vec<SocketAddr>, worked: Option<SocketAddr>) -> Vec<SocketAddr> {
    if let Some(i) = worked.and_then(|w| addrs.iter().position(|&a| a == w)) {
        let addr = addrs.remove(i);
        addrs.insert(0, addr);
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_starts_over_after_progress() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..7).map(|_| b.failed(false).as_millis() as u64).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.failed(true), MIN_BACKOFF);
        assert_eq!(b.failed(false), MIN_BACKOFF * 2);
    }

    #[test]
    fn a_viewer_window_of_zero_still_carries_frames() {
        assert_eq!(most_in_flight(Negotiated::Extended { window: 0 }, 16), 1);
        assert_eq!(most_in_flight(Negotiated::Extended { window: 4 }, 16), 4);
        assert_eq!(most_in_flight(Negotiated::Overlap, 3), 3);
    }

    #[test]
    fn the_address_that_worked_is_tried_first() {
        let (v6, v4): (SocketAddr, SocketAddr) = (
            "[::1]:8080".parse().unwrap(),
            "127.0.0.1:8080".parse().unwrap(),
        );
        assert_eq!(in_order(vec![v6, v4], None), [v6, v4]);
        assert_eq!(in_order(vec![v6, v4], Some(v4)), [v4, v6]);
        let gone: SocketAddr = "10.0.0.9:8080".parse().unwrap();
        assert_eq!(in_order(vec![v6, v4], Some(gone)), [v6, v4]);
    }

    #[test]
    fn one_frame_then_a_failure_is_no_progress() {
        assert!(!progressed(1, Duration::from_millis(20)));
        assert!(!progressed(0, Duration::from_secs(10)));
        assert!(progressed(1, STEADY));
    }
}
