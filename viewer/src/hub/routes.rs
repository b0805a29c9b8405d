//! The hub's routes: which request gets what. Only GET and HEAD; the payloads are served by
//! [`super::mjpeg`], the figures by [`super::metrics`].

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Request, Response, StatusCode};

use super::fanout::FanOut;
use super::metrics;
use super::mjpeg::{mjpeg, snapshot};
use super::refuse::Counts;
use super::reply::{full, json, text, with_type, Body};
use crate::stats::streams::StreamInfo;
use crate::stats::Counters;

/// Routes one request; `http` is the number of HTTP connections open, the refusals so far
/// and the WebSocket figures, for `/metrics`.
pub fn respond(
    counters: &Counters,
    http: (usize, &Counts, &FanOut),
    request: &Request<Incoming>,
) -> Response<Body> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        // RFC 9110: a 405 says which methods the resource has.
        let allow = HeaderValue::from_static("GET, HEAD");
        response.headers_mut().insert(ALLOW, allow);
        return response;
    }
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    let streams = &counters.streams;
    // `None` is the first live stream; a key is a stream's name (`front`, `x3pi/video8`,
    // `front%232` for `front#2`) or its id.
    let find = |key: Option<&str>| match key {
        None => streams.list().into_iter().next(),
        Some(key) => streams.find(&percent_decoded(key)?),
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
        "/api/streams" => json(&metrics::streams_json(streams)),
        "/metrics" => with_type(
            Response::new(full(metrics::exposition(counters, http))),
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

/// A URL path segment with its `%XX` escapes decoded; `None` when they do not make UTF-8.
fn percent_decoded(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The page: every live stream, with its figures.
fn page() -> Response<Body> {
    with_type(
        Response::new(full(include_str!("page.html"))),
        "text/html; charset=utf-8",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_paths_are_percent_decoded() {
        assert_eq!(percent_decoded("front%232").as_deref(), Some("front#2"));
        assert_eq!(
            percent_decoded("x3pi/video8").as_deref(),
            Some("x3pi/video8")
        );
        assert_eq!(percent_decoded("a%2").as_deref(), Some("a%2"));
        assert_eq!(percent_decoded("%ff"), None);
    }
}
