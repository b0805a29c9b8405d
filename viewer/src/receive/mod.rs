//! The network stage: accepts streamers, runs the protocol on each connection in its own task
//! and hands every payload to that stream's decoder. Acknowledgements never wait for decoding
//! or display; a bad peer is closed with a one-line error while the others go on.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use shared::accept::{self, Gate, Refusal, Service, Task};
use shared::cli::Cidr;
use shared::stats::StreamStats;
use shared::{Connection, Dialect, Limits, Slot};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::board::Board;
use crate::decode::decoder;
use crate::output::recorder::Recorder;
use crate::output::save;
use crate::stats::Counters;

/// Connections served at once; more are closed as they arrive.
pub const MAX_CONNECTIONS: usize = 1024;

/// What every connection task needs.
#[derive(Clone)]
pub struct Shared {
    pub limits: Limits,
    /// Networks allowed to connect; empty allows everyone.
    pub allow: Arc<Vec<Cidr>>,
    /// Where to save every payload, if anywhere.
    pub save_dir: Option<Arc<PathBuf>>,
    /// Stop once this many frames were received in all (0: never).
    pub frames: u64,
    /// Read the test pattern's timestamp marks (`--measure`).
    pub measure: bool,
    /// Record glass-to-glass times when a picture is decoded (no window to show it).
    pub glass_at_decode: bool,
    pub board: Arc<Board>,
    pub counters: Arc<Counters>,
    /// Recordings (`R`, `--record`), fed with every payload of a stream being recorded.
    pub recorder: Arc<Recorder>,
    pub stop: watch::Sender<bool>,
}

/// Accepts and serves connections until `shared.stop` is set (by the window, the frame
/// limit, or Ctrl-C/SIGTERM here); returns once every connection has wound down.
pub async fn serve(listener: TcpListener, shared: Shared) {
    let gate = Gate::new(shared.allow.clone(), MAX_CONNECTIONS);
    let mut stop = shared.stop.subscribe();
    let stopped = async {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            () = shared::signals::shutdown() => {
                shared.stop.send_replace(true);
            }
        }
    };
    let streamers = Streamers {
        shared: shared.clone(),
        next_id: 0,
    };
    let mut connections = accept::serve(listener, &gate, stopped, streamers).await;
    while connections.join_next().await.is_some() {}
}

/// The streamer port's side of the accept loop: one task per streamer, numbered in order.
struct Streamers {
    shared: Shared,
    next_id: u64,
}

impl Service for Streamers {
    fn serve(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static {
        self.next_id += 1;
        serve_connection(self.next_id, stream, peer, self.shared.clone())
    }

    fn refuse(&mut self, _stream: TcpStream, peer: SocketAddr, why: Refusal) -> Option<Task> {
        match why {
            Refusal::NotAllowed => eprintln!("{peer}: not in the --allow list, closing"),
            Refusal::Full => {
                eprintln!("{peer}: {MAX_CONNECTIONS} connections already open, closing")
            }
        }
        None
    }

    fn accept_failed(&mut self, e: &std::io::Error) {
        eprintln!("viewer: accept failed: {e}");
    }
}

async fn serve_connection(id: u64, stream: TcpStream, peer: SocketAddr, shared: Shared) {
    // Answers are tiny and awaited: no Nagle. Keepalive finds peers that vanished.
    if let Err(e) = shared::net::tune(&stream) {
        eprintln!("{peer}: cannot set socket options: {e}");
    }
    eprintln!("{peer}: streamer connected");
    shared.board.add(id, peer);
    let info = shared.counters.streams.add(id, peer);
    shared.recorder.connected(id, peer);
    let payloads: Arc<Slot<Vec<u8>>> = Arc::new(Slot::new());
    let mut decode_thread: Option<JoinHandle<()>> = None;
    let mut conn = Connection::new(stream, shared.limits);
    let mut stop = shared.stop.subscribe();
    let counters = &shared.counters;
    loop {
        let mut payload = payloads.spare().unwrap_or_default();
        let result = tokio::select! {
            r = conn.read_frame(&mut payload) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match result {
            Ok(true) => {
                let now = Instant::now();
                let total = counters.received.fetch_add(1, Ordering::Relaxed) + 1;
                info.received(now, &payload, conn.dialect());
                shared.recorder.offer(id, &payload, now);
                if decode_thread.is_none() {
                    if let Some(d) = conn.dialect().filter(|d| *d != Dialect::Flag) {
                        eprintln!("{peer}: speaks the {d} dialect");
                    }
                    if conn.overlapping() {
                        eprintln!("{peer}: overlapping frames (the streamer asked, see --window)");
                    }
                }
                if let Some(dir) = &shared.save_dir {
                    // A small write to the page cache, after the answer has gone out; the next
                    // frame's header can wait for it.
                    match save::save(dir, total, peer.ip(), &payload) {
                        Ok(_) => {
                            counters.saved.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => eprintln!("{}: cannot save frame {total}: {e}", dir.display()),
                    }
                }
                counters
                    .lock_rate()
                    .get_or_insert_with(|| StreamStats::new(now))
                    .frame(now, None);
                // The decoder thread starts with the first frame: idle connections cost no thread.
                if decode_thread.is_none() {
                    decode_thread = spawn_decoder(id, peer, &payloads, &shared);
                    if decode_thread.is_none() {
                        break;
                    }
                }
                if payloads.put(payload).is_err() {
                    break;
                }
                info.set_dropped(payloads.dropped());
                if shared.frames > 0 && total >= shared.frames {
                    shared.stop.send_replace(true);
                    break;
                }
            }
            Ok(false) => {
                eprintln!("{peer}: streamer disconnected");
                break;
            }
            Err(e) => {
                if e.is_truncated() {
                    counters.truncated.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    info.error();
                }
                eprintln!("{peer}: {e}, closing");
                break;
            }
        }
    }
    drop(conn);
    payloads.close();
    if let Some(handle) = decode_thread {
        // The decoder finishes the frame it holds; joining blocks, so not on the async thread.
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
    counters
        .dropped
        .fetch_add(payloads.dropped(), Ordering::Relaxed);
    shared.board.remove(id);
    counters.streams.remove(id);
    shared.recorder.stop(id);
}

fn spawn_decoder(
    id: u64,
    peer: SocketAddr,
    payloads: &Arc<Slot<Vec<u8>>>,
    shared: &Shared,
) -> Option<JoinHandle<()>> {
    let (payloads, board, counters) = (
        payloads.clone(),
        shared.board.clone(),
        shared.counters.clone(),
    );
    let measure = decoder::Measure {
        read_marks: shared.measure,
        record_at_decode: shared.glass_at_decode,
    };
    let spawned = std::thread::Builder::new()
        .name(format!("decode-{id}"))
        .spawn(move || decoder::run(id, peer, payloads, board, counters, measure));
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            eprintln!("{peer}: cannot start a decoder thread ({e}), closing");
            None
        }
    }
}
