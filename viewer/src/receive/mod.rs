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
use std::sync::atomic::Ordering;
use std::sync::Arc;

use shared::runtime::accept::{self, Gate, Refusal, Service, Task};
use shared::runtime::log_limit::LogLimit;
use shared::runtime::unproven::Unproven;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub use connection::Shared;

/// Connections served at once; more are closed as they arrive. Fewer when the open-file limit
/// is lower ([`connection_cap`]).
pub const MAX_CONNECTIONS: usize = 1024;
/// Open files kept for everything but the streamer port: the hub's 64 places and 256
/// refusals being answered, recordings, snapshots, saved frames, the window, DDS.
const OTHER_FILES: u64 = 512;
/// Connections one address may hold at once by default (`--max-per-client`), as the hub's:
/// one host cannot take the port from the others.
pub const DEFAULT_PER_CLIENT: usize = 16;

/// Accepts and serves connections until `shared.stop` is set (by the window, the frame
/// limit, or Ctrl-C/SIGTERM); returns once every connection has wound down.
pub async fn serve(listener: TcpListener, shared: Shared) {
    let per_client = shared.per_client;
    let open_files = shared::runtime::net::raise_open_files();
    let max = connection_cap(open_files);
    if let Some(limit) = open_files.filter(|_| max < MAX_CONNECTIONS) {
        eprintln!(
            "viewer: open files are limited to {limit} (ulimit -n): the streamer port takes at \
             most {max} connections, not {MAX_CONNECTIONS}"
        );
    }
    let gate = Gate::new(shared.allow.clone(), max).per_client(per_client);
    let mut stop = shared.stop.subscribe();
    // Signals set the flag too (`signals::watch_for_life`).
    let stopped = async {
        let _ = stop.wait_for(|s| *s).await;
    };
    let streamers = Streamers {
        max,
        permits: gate.permits.clone(),
        unproven: Unproven::default(),
        per_client,
        shared: shared.clone(),
        next_id: 0,
        log: LogLimit::default(),
    };
    let mut connections = accept::serve(listener, &gate, stopped, streamers).await;
    while connections.join_next().await.is_some() {}
}

/// Connections the streamer port may serve when `open_files` may be open (the soft limit,
/// `None` when unknown): what is left after [`OTHER_FILES`], at most [`MAX_CONNECTIONS`] and at
/// least 16. Past the limit every accept would fail, the hub's and the recordings' too,
/// rather than the port refusing its newcomers cleanly.
fn connection_cap(open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => (n.saturating_sub(OTHER_FILES) as usize).clamp(16, MAX_CONNECTIONS),
        None => MAX_CONNECTIONS,
    }
}

/// The streamer port's side of the accept loop: one task per streamer, numbered in order.
struct Streamers {
    shared: Shared,
    /// Connections served at once.
    max: usize,
    /// The gate's permits: the places left.
    permits: Arc<Semaphore>,
    /// Connections without a first frame yet, evicted oldest first when places run short: a
    /// flood from many addresses, each within its share, cannot keep the robot out.
    unproven: Unproven,
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
        let open = self.max - self.permits.available_permits();
        let (ticket, evicted) = self.unproven.enter_making_room(open, self.max);
        if evicted {
            let counters = &self.shared.counters;
            counters.evicted.fetch_add(1, Ordering::Relaxed);
            self.log.line("evict", || {
                format!(
                    "{peer}: {open} connections open; closing the oldest one that has sent no \
                     frame yet"
                )
            });
        }
        connection::serve(self.next_id, stream, peer, self.shared.clone(), ticket)
    }

    fn refuse(&mut self, _stream: TcpStream, peer: SocketAddr, why: Refusal) -> Option<Task> {
        match why {
            Refusal::NotAllowed => self.log.line("not allowed", || {
                format!("{peer}: not in the --allow list, closing")
            }),
            Refusal::Full => {
                let max = self.max;
                self.log.line("full", || {
                    format!("{peer}: {max} connections already open, closing")
                })
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_takes_what_the_open_file_limit_leaves() {
        assert_eq!(connection_cap(Some(1 << 20)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1024)), 512);
        assert_eq!(connection_cap(Some(256)), 16);
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
    }
}
