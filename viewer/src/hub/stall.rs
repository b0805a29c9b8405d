//! A client's connection whose writes fail once the client has taken nothing for a while.
//! hyper, blocked writing to a client that stopped reading, never polls the response body
//! again, so a deadline inside a body (MJPEG's) cannot end the connection: the client would
//! keep its place under the hub's limits, and its socket, for as long as it likes. Wrapped
//! around the socket (under TLS), this ends it for every route and the WebSocket alike.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A client that takes nothing for this long is closed (its frames were skipped meanwhile,
/// never queued).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// `io` whose writes, flushes and shutdown fail with `TimedOut` after `limit` without progress.
pub struct WriteDeadline<I> {
    io: I,
    limit: Duration,
    /// When the first write still waiting began to wait, plus `limit`; armed while waiting.
    deadline: Pin<Box<Sleep>>,
    waiting: bool,
}

impl<I> WriteDeadline<I> {
    pub fn new(io: I, limit: Duration) -> WriteDeadline<I> {
        WriteDeadline {
            io,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            waiting: false,
        }
    }

    /// Passes a ready answer on (progress: the clock stops); a pending one waits for the
    /// client at most `limit` since the wait began.
    fn judge<T>(
        &mut self,
        cx: &mut Context<'_>,
        answer: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if answer.is_ready() {
            self.waiting = false;
            return answer;
        }
        if !self.waiting {
            self.waiting = true;
            self.deadline.as_mut().reset(Instant::now() + self.limit);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took nothing for {} s", self.limit.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteDeadline<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let answer = Pin::new(&mut this.io).poll_write(cx, buf);
        this.judge(cx, answer)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let answer = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.judge(cx, answer)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let answer = Pin::new(&mut this.io).poll_flush(cx);
        this.judge(cx, answer)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let answer = Pin::new(&mut this.io).poll_shutdown(cx);
        this.judge(cx, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_client_that_reads_nothing_fails_the_write_after_the_limit() {
        runtime().block_on(async {
            // A pipe of 64 bytes the far end never reads: the writer waits, then fails.
            let (near, _far) = tokio::io::duplex(64);
            let mut io = WriteDeadline::new(near, Duration::from_secs(20));
            let started = Instant::now();
            let e = io.write_all(&[0u8; 1024]).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert_eq!(started.elapsed(), Duration::from_secs(20));
        });
    }

    #[test]
    fn a_slow_client_that_keeps_taking_is_never_cut_off() {
        runtime().block_on(async {
            let (near, mut far) = tokio::io::duplex(64);
            let reader = tokio::spawn(async move {
                let mut got = 0;
                let mut buf = [0u8; 64];
                while got < 4096 {
                    // 15 s between reads: each under the limit, 64 pauses far over it in all.
                    tokio::time::sleep(Duration::from_secs(15)).await;
                    got += far.read(&mut buf).await.unwrap();
                }
                got
            });
            let mut io = WriteDeadline::new(near, Duration::from_secs(20));
            io.write_all(&[0u8; 4096]).await.unwrap();
            assert_eq!(reader.await.unwrap(), 4096);
        });
    }
}
