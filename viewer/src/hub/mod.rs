//! The HTTP hub (`--http ADDR`): every stream's payloads re-served untouched to browsers,
//! ffmpeg, OpenCV and Prometheus, on a thread and runtime of its own, so that no HTTP client
//! can ever delay a streamer's answers, the decoders or the window.
//!
//! Endpoints: `/` (the page), `/api/streams`, `/stream/ID` (MJPEG), `/snapshot/ID`,
//! `/metrics`, and mjpg-streamer's `/?action=stream` and `/?action=snapshot`.
//!
//! - this module: the server: its thread and runtime, the accept loop's hub side, one hyper
//!   connection per client.
//! - [`refuse`]: the `403` and `503` answers to clients turned away, counted and logged.
//! - [`tls`]: `--http-cert`, `--http-key`: every connection wrapped in TLS before HTTP.
//! - [`stall`]: under TLS, a write deadline: a client that takes nothing for 20 s is closed.
//! - [`checks`]: what every request passes before its route: [`host`] (the `Host` check,
//!   `--http-host`), [`guesses`] (wrong passwords slowed per address), [`auth`] (`--http-auth`,
//!   HTTP Basic credentials).
//! - [`routes`]: which request gets what; [`reply`]: response bodies and headers.
//! - [`mjpeg`]: the payloads re-served, as MJPEG and snapshots.
//! - [`metrics`]: `/api/streams` (JSON) and `/metrics` (Prometheus).
//! - [`ws`]: the WebSocket at `/` (Foxglove's protocol, [`foxglove`]; each client served by
//!   [`fanout`]), after the same checks and [`origin`] (only the hub's own page and
//!   `--http-origin` pages may open it).
//! - `page.html`: the page, built in.

pub mod auth;
mod checks;
mod fanout;
mod foxglove;
mod guesses;
pub mod host;
mod metrics;
mod mjpeg;
pub mod origin;
mod refuse;
mod reply;
mod routes;
mod stall;
pub mod tls;
mod ws;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, X_CONTENT_TYPE_OPTIONS};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use shared::cli::Cidr;
use shared::runtime::accept::{self, Gate, Refusal, Service, Task};
use shared::runtime::unproven::{Ticket, Unproven};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::stats::Counters;
use auth::Auth;
use guesses::Guesses;
use host::Hosts;
use refuse::Refuser;
use reply::Body;

/// HTTP connections served at once; more are answered `503` and closed.
pub const MAX_CLIENTS: usize = 64;
/// HTTP connections one address may hold at once by default (`--http-max-per-client`).
pub const DEFAULT_PER_CLIENT: usize = 16;
/// Largest request head (request line and headers) read; larger ones are answered `431`.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// A client must send a whole request head within this time, also between requests on a
/// kept-alive connection; otherwise it is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Who may use the hub, and how: `--allow`, `--http-max-per-client`, `--http-auth`,
/// `--http-host`, `--http-cert` and `--http-key`.
pub struct Access {
    pub allow: Arc<Vec<Cidr>>,
    /// HTTP connections one address may hold at once.
    pub per_client: usize,
    /// The credentials every request must carry, if any.
    pub auth: Option<Auth>,
    /// Host names the hub answers to besides its own (`--http-host`).
    pub hosts: Vec<String>,
    /// Web pages' origins that may open the WebSocket besides the hub's own (`--http-origin`).
    pub origins: Vec<String>,
    /// The largest payload a stream may carry (`--max-frame-bytes`): the WebSocket's bound on
    /// what it holds unsent for one client is one such frame and more.
    pub max_frame_bytes: usize,
    /// With `--http-cert`: TLS around every connection.
    pub tls: Option<tls::Tls>,
}

/// What the hub serves from.
pub struct Hub {
    pub counters: Arc<Counters>,
    /// Who may connect (`--allow`), and the HTTP connections open, in all and per address.
    gate: Gate,
    per_client: usize,
    auth: Option<Auth>,
    /// Wrong credentials per address, to slow guessing.
    guesses: Guesses,
    /// The names requests may give in `Host`.
    hosts: Hosts,
    /// Origins whose pages may open the WebSocket besides the hub's own (`--http-origin`).
    origins: Vec<String>,
    max_frame_bytes: usize,
    tls: Option<tls::Tls>,
    /// The clients turned away, and the hub's rate-limited log.
    refuser: Refuser,
    /// The WebSocket clients' figures.
    fanout: fanout::FanOut,
    /// With `--http-auth`, the connections not yet let through, evicted oldest first when
    /// places run short.
    unproven: Unproven,
}

impl Hub {
    /// A hub over the viewer's counters and streams. The streams must publish their payloads
    /// ([`crate::stats::streams::Streams::publish_payloads`]).
    pub fn new(counters: Arc<Counters>, access: Access) -> Hub {
        Hub {
            counters,
            gate: Gate::new(access.allow, MAX_CLIENTS).per_client(access.per_client),
            per_client: access.per_client,
            auth: access.auth,
            guesses: Guesses::default(),
            hosts: Hosts::new(&access.hosts),
            origins: access.origins,
            max_frame_bytes: access.max_frame_bytes,
            tls: access.tls,
            refuser: Refuser::default(),
            fanout: fanout::FanOut::default(),
            unproven: Unproven::default(),
        }
    }

    /// HTTP connections open now.
    pub fn clients(&self) -> usize {
        MAX_CLIENTS - self.gate.permits.available_permits()
    }
}

/// Binds the HTTP address and says where it serves (a port of 0 picks a free one), and how
/// (`https` with `tls`).
pub fn bind(addr: SocketAddr, tls: bool) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
    listener.set_nonblocking(true)?;
    let how = if tls { "HTTPS" } else { "HTTP" };
    eprintln!("viewer: serving {how} on {}", listener.local_addr()?);
    Ok(listener)
}

/// Starts the hub on a thread of its own, serving until `stop` turns true; from now on each
/// stream that connects keeps its newest payload for the hub.
pub fn spawn(
    listener: std::net::TcpListener,
    counters: &Arc<Counters>,
    access: Access,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<JoinHandle<io::Result<()>>> {
    counters.streams.publish_payloads();
    let hub = Hub::new(counters.clone(), access);
    eprintln!(
        "viewer: HTTP requests must name this hub: its address, {}",
        hub.hosts.names().join(", ")
    );
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

/// Accepts clients until `stop` turns true.
async fn serve(listener: TcpListener, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let gate = hub.gate.clone();
    let clients = Clients {
        hub: hub.clone(),
        stop: stop.clone(),
    };
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Open streams end with the runtime; nothing waits for a client but the WebSocket ones,
    // for their close frame (`going away`): their tasks were woken by the stop, but this
    // single-threaded runtime returns from `block_on` before it runs them. At most a second
    // (a client that takes nothing cannot hold the viewer's exit).
    drop(accept::serve(listener, &gate, stopped, clients).await);
    let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
    while hub.fanout.clients.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long the WebSocket clients get to be sent their close frame when the hub stops.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The hub's side of the accept loop: a task per client; refused clients are answered.
struct Clients {
    hub: Arc<Hub>,
    stop: watch::Receiver<bool>,
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
        let limits = (MAX_CLIENTS, self.hub.per_client);
        self.hub
            .refuser
            .refuse(stream, peer, why, limits, self.hub.tls.clone())
    }

    fn accept_failed(&mut self, e: &io::Error) {
        let log = &self.hub.refuser.log;
        log.line("accept", || format!("viewer: HTTP accept failed: {e}"));
    }
}

/// A WebSocket upgraded from a client's connection: its task, awaited by the connection's
/// own task so that the client keeps its place under the hub's connection limits.
type Upgraded = Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>;

/// Answers one request: the checks every request passes ([`checks`]), then its route, or a
/// WebSocket upgrade at `/` ([`ws`]). A refused request closes its connection (an unproven
/// one must not stay by asking again and again); one let through with `--http-auth` proves
/// its connection (`ticket`).
fn answer(
    hub: &Arc<Hub>,
    (peer, local): (SocketAddr, SocketAddr),
    request: &mut Request<Incoming>,
    (upgraded, stop, ticket): (&Upgraded, &watch::Receiver<bool>, Option<&Ticket>),
) -> Response<Body> {
    let refused = checks::refusal(hub, peer, local, request);
    if let (None, Some(ticket)) = (&refused, ticket) {
        ticket.proven();
    }
    let closing = refused.is_some();
    let mut response = refused.unwrap_or_else(|| {
        if ws::is_upgrade(request) {
            let (response, task) = ws::accept(hub, peer, request, stop.clone());
            *upgraded.lock().unwrap_or_else(|e| e.into_inner()) = task;
            return response;
        }
        let figures = (hub.clients(), &hub.refuser.counts, &hub.fanout);
        routes::respond(&hub.counters, figures, request)
    });
    // No browser may guess another type than the one given (a payload is not a page).
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if closing {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves one client until it leaves or the hub stops: the TLS handshake first with
/// `--http-cert` (on the connection's permit, so a slow one counts in its address's share),
/// then its HTTP requests.
async fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    hub: Arc<Hub>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let stream = stall::WriteDeadline::new(stream, stall::STALL_TIMEOUT);
    let ticket = hub.auth.is_some().then(|| Arc::new(make_room(&hub, peer)));
    let Some(tls) = hub.tls.clone() else {
        return serve_http(stream, (peer, local), hub, stop, ticket).await;
    };
    let handshake = tokio::select! {
        result = tls.accept(stream) => result,
        _ = stop.wait_for(|s| *s) => return,
        () = evicted(ticket.as_deref()) => return,
    };
    match handshake {
        Ok(stream) => serve_http(stream, (peer, local), hub, stop, ticket).await,
        Err(why) => {
            let log = &hub.refuser.log;
            log.line("tls", || format!("{peer}: HTTP: {why}, closing"));
        }
    }
}

/// Counts a new connection (from `peer`) as unproven and, when places run short, closes the
/// oldest unproven one ([`shared::runtime::unproven`]).
fn make_room(hub: &Hub, peer: SocketAddr) -> Ticket {
    let (ticket, evicted) = hub.unproven.enter_making_room(hub.clients(), MAX_CLIENTS);
    if evicted {
        hub.refuser.counts.evicted.fetch_add(1, Ordering::Relaxed);
        hub.refuser.log.line("evict", || {
            format!(
                "{peer}: HTTP: {} places taken; closing the oldest connection that has made \
                 no request with credentials",
                hub.clients()
            )
        });
    }
    ticket
}

/// Resolves when the connection holding `ticket` was evicted; never without one.
async fn evicted(ticket: Option<&Ticket>) {
    match ticket {
        Some(t) => t.evicted().await,
        None => std::future::pending().await,
    }
}

/// One line (rate-limited) for a connection that ended badly: a request bad or missing, or a
/// client that took nothing for [`stall::STALL_TIMEOUT`]; a client going away mid-response is
/// normal and says nothing.
fn connection_failed(hub: &Hub, peer: SocketAddr, e: &hyper::Error) {
    let log = &hub.refuser.log;
    let io = std::error::Error::source(e).and_then(|s| s.downcast_ref::<io::Error>());
    if io.is_some_and(|io| io.kind() == io::ErrorKind::TimedOut) {
        let secs = stall::STALL_TIMEOUT.as_secs();
        log.line("stalled", || {
            format!("{peer}: HTTP: took nothing for {secs} s, closing")
        });
    } else if e.is_parse() || e.is_parse_too_large() || e.is_timeout() {
        log.line("request", || format!("{peer}: HTTP: {e}, closing"));
    }
}

/// Serves one client's requests (HTTP/1.1, kept alive) on `io`, plain or TLS, until it
/// leaves or the hub stops; `ends` are the client's address and the hub's.
async fn serve_http<I>(
    io: I,
    ends: (SocketAddr, SocketAddr),
    hub: Arc<Hub>,
    mut stop: watch::Receiver<bool>,
    ticket: Option<Arc<Ticket>>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let log_hub = hub.clone();
    let upgraded = Upgraded::default();
    let service = {
        let (upgraded, stop, ticket) = (upgraded.clone(), stop.clone(), ticket.clone());
        service_fn(move |mut request| {
            let hub = hub.clone();
            let with = (&upgraded, &stop, ticket.as_deref());
            let response = answer(&hub, ends, &mut request, with);
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(64)
        // A client that sends its request and shuts down its side still gets the answer,
        // and its whole MJPEG stream: the end of its requests is not the end of the client.
        .half_close(true);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                connection_failed(&log_hub, ends.0, &e);
            }
        }
        _ = stop.wait_for(|s| *s) => {}
        () = evicted(ticket.as_deref()) => {}
    }
    // An upgraded connection lives on as a WebSocket (which ends when the hub stops).
    let task = upgraded.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(task) = task {
        let _ = task.await;
    }
}
