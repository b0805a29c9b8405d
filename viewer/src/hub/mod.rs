//! The HTTP hub (`--http ADDR`): every stream's payloads re-served untouched to browsers,
//! ffmpeg, OpenCV and Prometheus, on a thread and runtime of its own, so that no HTTP client
//! can ever delay a streamer's answers, the decoders or the window.
//!
//! Endpoints: `/` (the page), `/api/streams`, `/stream/ID` (MJPEG), `/snapshot/ID`,
//! `/metrics`, and mjpg-streamer's `/?action=stream` and `/?action=snapshot`.

mod metrics;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use shared::accept::{self, Gate, Refusal, Service, Task};
use shared::cli::Cidr;
use shared::sniff::Kind;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::stats::streams::{Payload, StreamInfo};
use crate::stats::Counters;

/// HTTP connections served at once; more are answered `503` and closed.
pub const MAX_CLIENTS: usize = 64;
/// Largest request head (request line and headers) read; larger ones are answered `431`.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// A client must send a whole request head within this time, also between requests on a
/// kept-alive connection; otherwise it is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// An MJPEG client that takes no bytes for this long is closed (its frames were being
/// skipped meanwhile, never queued).
const STALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Refusals (`403`, `503`) being written at once; beyond this, connections are just closed.
const MAX_REFUSALS: usize = 64;
/// The MJPEG part boundary.
const BOUNDARY: &str = "frame";

type Body = BoxBody<Bytes, io::Error>;

/// What the hub serves from.
pub struct Hub {
    pub counters: Arc<Counters>,
    /// Who may connect (`--allow`), and the HTTP connections open.
    gate: Gate,
}

impl Hub {
    /// A hub over the viewer's counters and streams. The streams must publish their payloads
    /// ([`crate::stats::streams::Streams::publish_payloads`]).
    pub fn new(counters: Arc<Counters>, allow: Arc<Vec<Cidr>>) -> Hub {
        Hub {
            counters,
            gate: Gate::new(allow, MAX_CLIENTS),
        }
    }

    /// HTTP connections open now.
    pub fn clients(&self) -> usize {
        MAX_CLIENTS - self.gate.permits.available_permits()
    }
}

/// Binds the HTTP address and says where it serves (a port of 0 picks a free one).
pub fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
    listener.set_nonblocking(true)?;
    eprintln!("viewer: serving HTTP on {}", listener.local_addr()?);
    Ok(listener)
}

/// Starts the hub on a thread of its own, serving until `stop` turns true; from now on each
/// stream that connects keeps its newest payload for the hub.
pub fn spawn(
    listener: std::net::TcpListener,
    counters: &Arc<Counters>,
    allow: &Arc<Vec<Cidr>>,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<JoinHandle<io::Result<()>>> {
    counters.streams.publish_payloads();
    let hub = Hub::new(counters.clone(), allow.clone());
    let stop = stop.subscribe();
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || run(listener, hub, stop))
        .context("cannot start the HTTP thread")
}

/// Waits for the hub's thread (after the stop flag was set) and reports how it ended.
pub fn join(thread: JoinHandle<io::Result<()>>) {
    match thread.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("viewer: HTTP: {e}"),
        Err(_) => eprintln!("viewer: HTTP thread panicked"),
    }
}

/// Serves HTTP on `listener` until `stop` turns true; runs its own single-threaded runtime,
/// so call it on a thread of its own.
pub fn run(
    listener: std::net::TcpListener,
    hub: Hub,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        serve(listener, Arc::new(hub), stop).await;
        Ok(())
    })
}

async fn serve(listener: TcpListener, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let gate = hub.gate.clone();
    let clients = Clients {
        hub,
        stop: stop.clone(),
        refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
    };
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Open streams end with the runtime; nothing waits for a client.
    drop(accept::serve(listener, &gate, stopped, clients).await);
}

/// The hub's side of the accept loop: a task per client; refused clients are answered.
struct Clients {
    hub: Arc<Hub>,
    stop: watch::Receiver<bool>,
    /// Refusals being written at once.
    refusals: Arc<Semaphore>,
}

impl Service for Clients {
    fn serve(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static {
        serve_client(stream, peer, self.hub.clone(), self.stop.clone())
    }

    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr, why: Refusal) -> Option<Task> {
        let (status, why) = match why {
            Refusal::NotAllowed => {
                eprintln!("{peer}: HTTP client not in the --allow list, answering 403");
                (StatusCode::FORBIDDEN, "not in the --allow list")
            }
            Refusal::Full => {
                eprintln!("{peer}: {MAX_CLIENTS} HTTP clients already connected, answering 503");
                (StatusCode::SERVICE_UNAVAILABLE, "too many clients")
            }
        };
        refuse(stream, &self.refusals, status, why)
    }

    fn accept_failed(&mut self, e: &io::Error) {
        eprintln!("viewer: HTTP accept failed: {e}");
    }
}

/// Answers `status` and closes, without reading the request; at most [`MAX_REFUSALS`] at once.
fn refuse(
    mut stream: TcpStream,
    refusals: &Arc<Semaphore>,
    status: StatusCode,
    why: &'static str,
) -> Option<Task> {
    let permit = refusals.clone().try_acquire_owned().ok()?;
    Some(Box::pin(async move {
        let reason = status.canonical_reason().unwrap_or("");
        let response = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}\n",
            status.as_u16(),
            why.len() + 1
        );
        let answer = async {
            stream.write_all(response.as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent before closing, so that the close is not a reset
            // that could destroy the answer before the client reads it.
            let mut sink = [0u8; 4096];
            while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
            io::Result::Ok(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
        drop(permit);
    }))
}

async fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    hub: Arc<Hub>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let hub = hub.clone();
        async move { Ok::<_, Infallible>(respond(&hub, &request)) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(64);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                // A client going away mid-response is normal; bad or missing requests get one line.
                if e.is_parse() || e.is_parse_too_large() || e.is_timeout() {
                    eprintln!("{peer}: HTTP: {e}, closing");
                }
            }
        }
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// Routes one request.
fn respond(hub: &Hub, request: &Request<Incoming>) -> Response<Body> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    let streams = &hub.counters.streams;
    // `None` is the first live stream.
    let find = |id: Option<&str>| match id {
        None => streams.list().into_iter().next(),
        Some(id) => id.parse::<u64>().ok().and_then(|id| streams.get(id)),
    };
    let live = |id: Option<&str>, serve: fn(Arc<StreamInfo>) -> Response<Body>| match find(id) {
        Some(stream) => serve(stream),
        None => text(StatusCode::NOT_FOUND, "no such live stream\n"),
    };
    let id = |prefix: &str| path.strip_prefix(prefix).filter(|rest| !rest.is_empty());
    match path {
        "/" if query == "action=stream" => live(None, mjpeg),
        "/" if query == "action=snapshot" => live(None, snapshot),
        "/" => page(),
        "/api/streams" => json(&metrics::streams_json(hub)),
        "/metrics" => with_type(
            Response::new(full(metrics::exposition(hub))),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        "/stream" => live(None, mjpeg),
        "/snapshot" => live(None, snapshot),
        _ => match (id("/stream/"), id("/snapshot/")) {
            (Some(id), _) => live(Some(id), mjpeg),
            (_, Some(id)) => live(Some(id), snapshot),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn with_type(mut response: Response<Body>, content_type: &'static str) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = with_type(Response::new(full(body)), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}

fn json(value: &serde_json::Value) -> Response<Body> {
    with_type(Response::new(full(value.to_string())), "application/json")
}

fn page() -> Response<Body> {
    with_type(
        Response::new(full(include_str!("page.html"))),
        "text/html; charset=utf-8",
    )
}

/// A payload's bytes for hyper, without copying them.
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn payload_bytes(p: &Payload) -> Bytes {
    Bytes::from_owner(Shared(p.bytes.clone()))
}

/// Unix seconds with microseconds, as mjpg-streamer writes `X-Timestamp`.
fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn snapshot(stream: Arc<StreamInfo>) -> Response<Body> {
    let Some(p) = stream.latest() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "no frame yet\n");
    };
    let mut response = with_type(
        Response::new(full(payload_bytes(&p))),
        p.kind.content_type(),
    );
    if let Ok(stamp) = HeaderValue::from_str(&unix_seconds(p.arrived)) {
        response.headers_mut().insert("x-timestamp", stamp);
    }
    response
}

/// The head of one MJPEG part (the boundary line first, the blank line last).
fn part_head(p: &Payload) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}\r\n\r\n",
        p.bytes.len(),
        unix_seconds(p.arrived)
    )
}

/// `multipart/x-mixed-replace` of the stream's JPEG payloads: the newest at once, then each
/// newer one when the client has taken the last; frames in between are skipped, never queued.
fn mjpeg(stream: Arc<StreamInfo>) -> Response<Body> {
    let mut newest = stream.subscribe();
    // Room for one part (head, payload, tail); the task waits for the client beyond that.
    let (mut tx, body) = Channel::<Bytes, io::Error>::new(3);
    tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let next = {
                let current = newest.borrow_and_update();
                if stream.has_ended() {
                    break;
                }
                current
                    .as_ref()
                    .filter(|p| p.seq > sent && p.kind == Kind::Jpeg)
                    .cloned()
            };
            let Some(p) = next else {
                if newest.changed().await.is_err() {
                    break;
                }
                continue;
            };
            sent = p.seq;
            let part = [
                Bytes::from(part_head(&p)),
                payload_bytes(&p),
                Bytes::from_static(b"\r\n"),
            ];
            drop(p);
            for chunk in part {
                match tokio::time::timeout(STALL_TIMEOUT, tx.send_data(chunk)).await {
                    Ok(Ok(())) => {}
                    // The client went away.
                    Ok(Err(_)) => return,
                    Err(_) => {
                        eprintln!(
                            "HTTP: a client of stream {} took nothing for {}s, closing it",
                            stream.id,
                            STALL_TIMEOUT.as_secs()
                        );
                        tx.abort(io::Error::new(io::ErrorKind::TimedOut, "client stalled"));
                        return;
                    }
                }
            }
        }
        // The stream ended: the response ends normally.
    });
    let mut response = Response::new(body.boxed());
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("multipart/x-mixed-replace; boundary=frame"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // When the stream ends, so does the connection: players take that as the end of the video.
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_heads_carry_length_type_and_timestamp() {
        let p = Payload {
            bytes: Arc::new(vec![0xFF, 0xD8, 1, 2, 3]),
            arrived: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            kind: Kind::Jpeg,
            seq: 1,
        };
        assert_eq!(
            part_head(&p),
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\nX-Timestamp: 1700000000.123456\r\n\r\n"
        );
        assert_eq!(&payload_bytes(&p)[..], &p.bytes[..]);
    }
}
