//! What every request passes before its route, whatever the route (the page, MJPEG,
//! snapshots, the API, metrics, the WebSocket, and any added later): its `Host`
//! ([`super::host`]), a WebSocket upgrade's `Origin` ([`super::origin`]), then with
//! `--http-auth` its address's guessing allowance ([`super::guesses`]) and its credentials.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};

use super::auth::{self, Verdict};
use super::host::Named;
use super::reply::{text, Body};
use super::Hub;

/// `None` when `request`, from `peer` to the hub's address `local`, may be routed; otherwise
/// the answer to send instead.
pub fn refusal(
    hub: &Hub,
    peer: SocketAddr,
    local: SocketAddr,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    if let Some(refused) = misnamed(hub, peer, local, request) {
        return Some(refused);
    }
    // A page of another site may open the WebSocket (browsers allow it, naming the page in
    // `Origin`): refused before its credentials count as a guess, or any site the user visits
    // could use up the user's address's guesses and lock the user out.
    if super::ws::is_upgrade(request) {
        if let Some(refused) = super::ws::cross_site(hub, peer, request) {
            return Some(refused);
        }
    }
    let credentials = hub.auth.as_ref()?;
    let log = &hub.refuser.log;
    let now = Instant::now();
    if let Some(wait) = hub.guesses.wait(peer.ip(), now) {
        hub.refuser.counts.throttled.fetch_add(1, Ordering::Relaxed);
        // Whole seconds, rounded up: a client retrying on time is let through.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        log.line("429", || {
            format!("{peer}: HTTP: too many wrong credentials, answering 429 for {secs} s")
        });
        let mut response = text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong credentials from your address\n",
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        return Some(response);
    }
    // A WebSocket may carry them as `?auth=BASE64` instead (a browser cannot set headers on one).
    let token = (request.uri().query().unwrap_or("").split('&'))
        .find_map(|pair| pair.strip_prefix("auth="))
        .filter(|_| super::ws::is_upgrade(request));
    let verdict = match token {
        Some(token) if !request.headers().contains_key(AUTHORIZATION) => {
            credentials.check_encoded(percent_decoded_token(token).as_bytes())
        }
        _ => credentials.check(request.headers()),
    };
    match verdict {
        Verdict::Admitted => None,
        Verdict::Missing => Some(auth::unauthorized()),
        Verdict::Wrong => {
            hub.guesses.failed(peer.ip(), now);
            log.line("401", || {
                format!("{peer}: HTTP: wrong credentials, answering 401")
            });
            Some(auth::unauthorized())
        }
    }
}

/// The answer to a request whose `Host` is missing, doubled or not this hub's.
fn misnamed(
    hub: &Hub,
    peer: SocketAddr,
    local: SocketAddr,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    let log = &hub.refuser.log;
    match hub
        .hosts
        .check(request.headers(), request.version(), local.ip())
    {
        Named::Hub => None,
        Named::Bad => {
            log.line("400-host", || {
                format!("{peer}: HTTP: no Host header, or more than one, answering 400")
            });
            Some(text(StatusCode::BAD_REQUEST, "one Host header needed\n"))
        }
        Named::Other => {
            hub.refuser
                .counts
                .misdirected
                .fetch_add(1, Ordering::Relaxed);
            log.line("421", || {
                let host = request.headers().get(hyper::header::HOST);
                let host = host.map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
                let host = host.unwrap_or_default();
                format!("{peer}: HTTP: request for host {host:?}, not this hub (add it with --http-host), answering 421")
            });
            Some(text(
                StatusCode::MISDIRECTED_REQUEST,
                "this hub does not serve that host name (see --http-host)\n",
            ))
        }
    }
}

/// A base64 token from a URL: `%2B`, `%2F` and `%3D` as `+`, `/` and `=`.
fn percent_decoded_token(token: &str) -> String {
    token
        .replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%3D", "=")
        .replace("%3d", "=")
}
