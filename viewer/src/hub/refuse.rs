//! Turning HTTP clients away: `403` outside `--allow`, `503` with `Retry-After: 1` when the
//! hub or the client's address has no connection left. At most [`MAX_REFUSALS`] answers are
//! written at once; past that bound a connection is closed unanswered and counted. Every
//! outcome is counted, and logged at most once per kind per second. With `--http-cert` the
//! answer goes over TLS, its handshake within the same time bound.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use shared::runtime::accept::{Refusal, Task};
use shared::runtime::log_limit::LogLimit;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::tls::Tls;

/// Refusals being answered at once. Each holds a socket and a small task for at most
/// [`ANSWER_TIME`]: 256 of them answer a flood of 128 connections a second, which is far
/// beyond any real client, while bounding the sockets a flood can hold open.
pub const MAX_REFUSALS: usize = 256;
/// Time to write a refusal and see the client close; then the connection is closed anyway.
const ANSWER_TIME: Duration = Duration::from_secs(2);

/// The refusals so far, for `/metrics`.
#[derive(Default)]
pub struct Counts {
    /// Answered `403` (not in `--allow`).
    pub forbidden: AtomicU64,
    /// Answered `503` (no connection left for the hub or for the client's address).
    pub unavailable: AtomicU64,
    /// Closed without an answer: [`MAX_REFUSALS`] answers were being written already.
    pub unanswered: AtomicU64,
    /// Requests answered `421`: their `Host` named another server.
    pub misdirected: AtomicU64,
    /// Requests answered `429`: too many wrong credentials from their address.
    pub throttled: AtomicU64,
    /// Connections closed to make room before they made a request with credentials
    /// (`--http-auth`).
    pub evicted: AtomicU64,
}

/// Answers refusals within the bound, counts and logs them.
pub struct Refuser {
    answering: Arc<Semaphore>,
    pub counts: Counts,
    /// Also used for the hub's other diagnostics, so that no flood floods the log.
    pub log: LogLimit,
}

impl Default for Refuser {
    fn default() -> Refuser {
        Refuser {
            answering: Arc::new(Semaphore::new(MAX_REFUSALS)),
            counts: Counts::default(),
            log: LogLimit::default(),
        }
    }
}

impl Refuser {
    /// Turns `stream` away for `why`: the answer as a task, or `None` when it is closed
    /// unanswered (dropping it). `max_clients` and `per_client` are the limits, for the log;
    /// with `tls` the answer is sent over TLS.
    pub fn refuse(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        why: Refusal,
        (max_clients, per_client): (usize, usize),
        tls: Option<Tls>,
    ) -> Option<Task> {
        let (status, body) = match why {
            Refusal::NotAllowed => (StatusCode::FORBIDDEN, "not in the --allow list"),
            Refusal::Full => (StatusCode::SERVICE_UNAVAILABLE, "too many clients"),
            Refusal::PerClient => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections from your address",
            ),
        };
        let reason = match why {
            Refusal::NotAllowed => "HTTP client not in the --allow list".to_string(),
            Refusal::Full => format!("{max_clients} HTTP clients already connected"),
            Refusal::PerClient => {
                format!("{per_client} HTTP connections already open from this address")
            }
        };
        let Ok(permit) = self.answering.clone().try_acquire_owned() else {
            self.counts.unanswered.fetch_add(1, Ordering::Relaxed);
            self.log.line("unanswered", || {
                format!(
                    "{peer}: {reason} and {MAX_REFUSALS} refusals being answered, closing without an answer"
                )
            });
            return None;
        };
        let (count, kind) = match status {
            StatusCode::FORBIDDEN => (&self.counts.forbidden, "403"),
            _ => (&self.counts.unavailable, "503"),
        };
        count.fetch_add(1, Ordering::Relaxed);
        self.log.line(kind, || {
            format!("{peer}: {reason}, answering {}", status.as_u16())
        });
        Some(Box::pin(async move {
            let _ = tokio::time::timeout(ANSWER_TIME, async {
                match tls {
                    None => answer(stream, status, body).await,
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => answer(stream, status, body).await,
                        Err(_) => Ok(()),
                    },
                }
            })
            .await;
            drop(permit);
        }))
    }
}

/// The whole answer to a refused client: the status, `Retry-After` with a `503`, the reason.
fn response(status: StatusCode, body: &str) -> String {
    let reason = status.canonical_reason().unwrap_or("");
    let retry = if status == StatusCode::SERVICE_UNAVAILABLE {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {} {reason}\r\n{retry}Content-Type: text/plain\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        status.as_u16(),
        body.len() + 1
    )
}

/// Writes the answer without reading the request, then waits for the client to close.
async fn answer<S>(mut stream: S, status: StatusCode, body: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(response(status, body).as_bytes()).await?;
    stream.shutdown().await?;
    // Read what the client sent before closing, so that the close is not a reset that could
    // destroy the answer before the client reads it.
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_says_when_to_retry_and_a_403_does_not() {
        let busy = response(StatusCode::SERVICE_UNAVAILABLE, "too many clients");
        assert_eq!(
            busy,
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 17\r\nConnection: close\r\n\r\ntoo many clients\n"
        );
        let forbidden = response(StatusCode::FORBIDDEN, "not in the --allow list");
        assert!(forbidden.starts_with("HTTP/1.1 403 Forbidden\r\nContent-Type"));
    }
}
