//! The payloads re-served untouched: `/snapshot` (the newest, JPEG or PNG) and `/stream`
//! (MJPEG, `multipart/x-mixed-replace`), without a copy: hyper sends the published buffers.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Channel};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use shared::media::sniff::Kind;

use super::reply::{full, text, with_type, Body};
use crate::stats::streams::{Payload, StreamInfo};

/// The MJPEG part boundary when no random one can be had.
const FIXED_BOUNDARY: &str = "frame";

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

/// The stream's newest payload, as received.
pub fn snapshot(stream: Arc<StreamInfo>) -> Response<Body> {
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

/// A fresh boundary for one response, 24 random hex digits, so that no payload can contain
/// it by chance or by design; falls back to the clock's nanoseconds without a random source.
fn boundary() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        bytes.copy_from_slice(&t.as_nanos().to_le_bytes()[..12]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The head of one MJPEG part (the boundary line first, the blank line last).
fn part_head(boundary: &str, p: &Payload) -> String {
    format!(
        "--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}\r\n\r\n",
        p.bytes.len(),
        unix_seconds(p.arrived)
    )
}

/// One MJPEG client's body: when hyper drops it (the client left), the task feeding it stops
/// at once. Otherwise it would notice only at its next JPEG: a paused stream, or one sending
/// PNG, kept a task, a channel and a subscription per client that came and went.
struct Fed {
    body: Channel<Bytes, io::Error>,
    task: tokio::task::AbortHandle,
}

impl hyper::body::Body for Fed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }
}

impl Drop for Fed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `multipart/x-mixed-replace` of the stream's JPEG payloads: the newest at once, then each
/// newer one when the client has taken the last; frames in between are skipped, never queued.
pub fn mjpeg(stream: Arc<StreamInfo>) -> Response<Body> {
    let mut newest = stream.subscribe();
    let (boundary, content_type) = {
        let random = boundary();
        let header = format!("multipart/x-mixed-replace; boundary={random}");
        match HeaderValue::from_str(&header) {
            Ok(value) => (random, value),
            Err(_) => (
                FIXED_BOUNDARY.to_string(),
                HeaderValue::from_static("multipart/x-mixed-replace; boundary=frame"),
            ),
        }
    };
    // Room for one part (head, payload, tail); the task waits for the client beyond that.
    let (mut tx, body) = Channel::<Bytes, io::Error>::new(3);
    let task = tokio::spawn(async move {
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
                Bytes::from(part_head(&boundary, &p)),
                payload_bytes(&p),
                Bytes::from_static(b"\r\n"),
            ];
            drop(p);
            for chunk in part {
                // Waits while the client takes nothing (its frames skipped meanwhile); one
                // that takes nothing for 20 s has its connection closed under hyper
                // ([`super::stall`]), and this ends with it.
                if tx.send_data(chunk).await.is_err() {
                    return;
                }
            }
        }
        // The stream ended: the response ends normally.
    });
    let body = Fed {
        body,
        task: task.abort_handle(),
    };
    let mut response = Response::new(body.boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // When the stream ends, so does the connection: players take that as the end of the video.
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn part_heads_carry_length_type_and_timestamp() {
        let p = Payload {
            bytes: Arc::new(vec![0xFF, 0xD8, 1, 2, 3]),
            arrived: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            kind: Kind::Jpeg,
            seq: 1,
            timed: None,
        };
        assert_eq!(
            part_head("frame", &p),
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\nX-Timestamp: 1700000000.123456\r\n\r\n"
        );
        assert_eq!(&payload_bytes(&p)[..], &p.bytes[..]);
    }

    #[test]
    fn a_client_that_leaves_stops_its_feed_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let streams = crate::stats::streams::Streams::default();
            streams.publish_payloads();
            // A stream with no picture yet (or a paused one): nothing wakes the feed.
            let stream = streams.add(1, "127.0.0.1:5000".parse().unwrap());
            let response = mjpeg(stream.clone());
            tokio::task::yield_now().await;
            assert_eq!(stream.subscribers(), 1);
            drop(response);
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert_eq!(stream.subscribers(), 0, "the feed outlived its client");
        });
    }

    #[test]
    fn each_response_has_a_boundary_of_its_own() {
        let (a, b) = (boundary(), boundary());
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
