//! Building the hub's responses: bodies hyper can send (whole, or streamed through a
//! channel), with their content type and `Cache-Control: no-store`.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// Every response's body: whole, or streamed.
pub type Body = BoxBody<Bytes, io::Error>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Sets the content type, and no caching: every answer is live.
pub fn with_type(mut response: Response<Body>, content_type: &'static str) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A short plain-text answer with `status`.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = with_type(Response::new(full(body)), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}

/// A JSON answer.
pub fn json(value: &serde_json::Value) -> Response<Body> {
    with_type(Response::new(full(value.to_string())), "application/json")
}
