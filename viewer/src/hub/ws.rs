//! The hub's WebSocket at `/`: the RFC 6455 upgrade with one of Foxglove's subprotocols,
//! answered after the checks every request passes (TLS, `Host`, `--http-auth`) and its page's
//! `Origin` ([`super::origin`]); the upgraded connection is then served by [`super::fanout`]
//! with bounded incoming messages.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{
    HeaderName, HeaderValue, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::foxglove::SUBPROTOCOLS;
use super::reply::{full, text, Body};
use super::{fanout, origin, Hub};

/// Largest message (and frame) a client may send: subscriptions and clock probes are small.
pub const MAX_INCOMING: usize = 64 * 1024;
/// Longest `Sec-WebSocket-Key` read (a real one is 24 characters).
const MAX_KEY: usize = 64;
/// What a client may have unsent beyond one frame: messages' headers, a few text messages.
/// Pongs past the bound are not queued (only the newest waits), so a client that pings and
/// never reads cannot grow the hub's memory.
const UNSENT_SLACK: usize = 1024 * 1024;

/// Whether `request` asks for a WebSocket at `/` (anything else is an ordinary request).
pub fn is_upgrade(request: &Request<Incoming>) -> bool {
    let has = |name: HeaderName, token: &str| {
        request.headers().get_all(name).iter().any(|v| {
            let v = v.to_str().unwrap_or("");
            v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    request.uri().path() == "/" && has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// The subprotocol served to a client that offers `offered`, the hub's preference first.
fn chosen(request: &Request<Incoming>) -> Option<&'static str> {
    let offered: Vec<String> = (request.headers().get_all(SEC_WEBSOCKET_PROTOCOL).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_string()))
        .collect();
    SUBPROTOCOLS
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p))
}

/// `403` for an upgrade from a page the hub does not serve (see [`super::origin`]), with
/// one line (rate-limited) naming the peer and the page.
pub fn cross_site(
    hub: &Hub,
    peer: SocketAddr,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    let headers = request.headers();
    let page = headers.get(ORIGIN).map(HeaderValue::as_bytes);
    let host = headers.get(HOST).map(HeaderValue::as_bytes);
    if origin::allowed(page, host, hub.tls.is_some(), &hub.origins) {
        return None;
    }
    let page = String::from_utf8_lossy(page.unwrap_or_default()).into_owned();
    hub.refuser.log.line("origin", || {
        format!("{peer}: WebSocket from a page at {page:?}, not this hub's own: answering 403 (--http-origin lets a page's origin in)")
    });
    let why = "this hub's WebSocket serves its own page and --http-origin pages only\n";
    Some(text(StatusCode::FORBIDDEN, why))
}

/// An upgrade refused with `status` and `why` (its body), said in one line (rate-limited):
/// a Foxglove client asking for a subprotocol not served fails on its side only, otherwise.
fn refused(hub: &Hub, peer: SocketAddr, status: StatusCode, why: &'static str) -> Response<Body> {
    hub.refuser.log.line("websocket-upgrade", || {
        let why = why.trim_end();
        format!(
            "{peer}: WebSocket upgrade refused: {why}, answering {}",
            status.as_u16()
        )
    });
    text(status, why)
}

/// Answers a WebSocket upgrade from `peer`: `101` with the task that serves the socket once
/// hyper hands it over, or the answer saying what was wrong.
pub fn accept(
    hub: &Arc<Hub>,
    peer: SocketAddr,
    request: &mut Request<Incoming>,
    stop: watch::Receiver<bool>,
) -> (Response<Body>, Option<JoinHandle<()>>) {
    if request.method() != Method::GET {
        let why = "WebSocket upgrades are GET\n";
        return (
            refused(hub, peer, StatusCode::METHOD_NOT_ALLOWED, why),
            None,
        );
    }
    let version = request.headers().get(SEC_WEBSOCKET_VERSION);
    if version.map(HeaderValue::as_bytes) != Some(b"13") {
        let why = "WebSocket version 13 only\n";
        let mut response = refused(hub, peer, StatusCode::UPGRADE_REQUIRED, why);
        (response.headers_mut()).insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return (response, None);
    }
    let key = request.headers().get(SEC_WEBSOCKET_KEY);
    let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= MAX_KEY) else {
        let why = "no Sec-WebSocket-Key\n";
        return (refused(hub, peer, StatusCode::BAD_REQUEST, why), None);
    };
    let Some(protocol) = chosen(request) else {
        let why = "ask for subprotocol foxglove.sdk.v1 or foxglove.websocket.v1\n";
        return (refused(hub, peer, StatusCode::BAD_REQUEST, why), None);
    };
    let accept_key = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(request);
    let hub = hub.clone();
    let task = tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                let log = &hub.refuser.log;
                log.line("websocket", || {
                    format!("{peer}: WebSocket upgrade failed: {e}")
                });
                return;
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_INCOMING))
            .max_frame_size(Some(MAX_INCOMING))
            .max_write_buffer_size(hub.max_frame_bytes.saturating_add(UNSENT_SLACK));
        let io = TokioIo::new(upgraded);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        fanout::say_arrived(peer, protocol);
        fanout::serve(ws, peer, hub, stop).await;
    });
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    if let Ok(value) = HeaderValue::from_str(&accept_key) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    (response, Some(task))
}
