//! The network stage: accepts streamers, runs the protocol on each connection in its own task
//! and hands every payload to that stream's decoder. Acknowledgements never wait for decoding,
//! saving or display; a bad peer is closed with a one-line error while the others go on.
//!
//! - this module: the streamer port's side of the accept loop ([`shared::runtime::accept`]).
//! - [`connection`]: one streamer's connection, a frame at a time: read (and answer), count,
//!   record, save, hand over to the decoder.

pub mod connection;

use std::future::Future;
use std::net::SocketAddr;

use shared::runtime::accept::{self, Gate, Refusal, Service, Task};
use shared::runtime::log_limit::LogLimit;
use tokio::net::{TcpListener, TcpStream};

pub use connection::Shared;

/// Connections served at once; more are closed as they arrive.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections one address may hold at once by default (`--max-per-client`), as the hub's:
/// one host cannot take the port from the others.
pub const DEFAULT_PER_CLIENT: usize = 16;

/// Accepts and serves connections until `shared.stop` is set (by the window, the frame
/// limit, or Ctrl-C/SIGTERM); returns once every connection has wound down.
pub async fn serve(listener: TcpListener, shared: Shared) {
    let per_client = shared.per_client;
    let gate = Gate::new(shared.allow.clone(), MAX_CONNECTIONS).per_client(per_client);
    let mut stop = shared.stop.subscribe();
    // Signals set the flag too (`signals::watch_for_life`).
    let stopped = async {
        let _ = stop.wait_for(|s| *s).await;
    };
    let streamers = Streamers {
        per_client,
        shared: shared.clone(),
        next_id: 0,
        log: LogLimit::default(),
    };
    let mut connections = accept::serve(listener, &gate, stopped, streamers).await;
    while connections.join_next().await.is_some() {}
}

/// The streamer port's side of the accept loop: one task per streamer, numbered in order.
struct Streamers {
    shared: Shared,
    per_client: usize,
    next_id: u64,
    /// Refusals and accept errors come in floods: one line per kind per second.
    log: LogLimit,
}

impl Service for Streamers {
    fn serve(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static {
        self.next_id += 1;
        connection::serve(self.next_id, stream, peer, self.shared.clone())
    }

    fn refuse(&mut self, _stream: TcpStream, peer: SocketAddr, why: Refusal) -> Option<Task> {
        match why {
            Refusal::NotAllowed => self.log.line("not allowed", || {
                format!("{peer}: not in the --allow list, closing")
            }),
            Refusal::Full => self.log.line("full", || {
                format!("{peer}: {MAX_CONNECTIONS} connections already open, closing")
            }),
            Refusal::PerClient => {
                let share = self.per_client;
                self.log.line("share", || {
                    format!(
                        "{peer}: this address holds {share} connections already \
                         (--max-per-client), closing"
                    )
                })
            }
        }
        None
    }

    fn accept_failed(&mut self, e: &std::io::Error) {
        self.log
            .line("accept", || format!("viewer: accept failed: {e}"));
    }
}
