//! One streamer's connection, in its own task: each frame is read (the protocol answers as
//! soon as it has arrived), counted, offered to the recorder, queued for saving and handed
//! to the stream's decoder thread, which starts with the first frame.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use shared::cli::Cidr;
use shared::runtime::stats::StreamStats;
use shared::wire::connection::{Extension, InBand};
use shared::{ConnError, Connection, Dialect, Limits, Slot};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::board::Board;
use crate::decode::{decoder, Received};
use crate::output::recorder::Recorder;
use crate::output::save::Saver;
use crate::stats::streams::StreamInfo;
use crate::stats::Counters;

/// What every connection task needs.
#[derive(Clone)]
pub struct Shared {
    pub limits: Limits,
    /// What this viewer says in the extension exchange: its window, the shared secret.
    pub ext: Arc<Extension>,
    /// Networks allowed to connect; empty allows everyone.
    pub allow: Arc<Vec<Cidr>>,
    /// Where every payload goes to be saved (`--save-dir`), if anywhere.
    pub saver: Option<Saver>,
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

/// Serves streamer `id` at `peer` until it leaves, fails, or the viewer stops.
pub async fn serve(id: u64, stream: TcpStream, peer: SocketAddr, shared: Shared) {
    // Answers are tiny and awaited: no Nagle. Keepalive finds peers that vanished.
    if let Err(e) = shared::runtime::net::tune(&stream) {
        eprintln!("{peer}: cannot set socket options: {e}");
    }
    eprintln!("{peer}: streamer connected");
    let mut streamer = Streamer::join(id, peer, shared);
    let mut conn =
        Connection::new(stream, streamer.shared.limits).with_extension(streamer.shared.ext.clone());
    let mut stop = streamer.shared.stop.subscribe();
    loop {
        let mut payload = streamer.payloads.spare().unwrap_or_default().bytes;
        let read = tokio::select! {
            r = conn.read_frame(&mut payload) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let next = match read {
            Ok(true) => {
                let heard = Heard {
                    dialect: conn.dialect(),
                    overlapping: conn.overlapping(),
                    extended: conn.extended(),
                    name: conn.stream_name(),
                    in_band: conn.in_band(),
                };
                streamer.frame(payload, heard).await
            }
            Ok(false) => {
                eprintln!("{peer}: streamer disconnected");
                ControlFlow::Break(())
            }
            Err(e) => streamer.failed(&e),
        };
        if next.is_break() {
            break;
        }
    }
    drop(conn);
    streamer.leave().await;
}

/// What the connection has learnt about its streamer by the latest frame.
struct Heard<'a> {
    dialect: Option<Dialect>,
    overlapping: bool,
    /// The extension exchange is in use.
    extended: bool,
    /// The stream's name, from the streamer's hello.
    name: Option<&'a str>,
    /// The latest frame's in-band times.
    in_band: Option<InBand>,
}

/// One connected streamer: its entries on the board and in the registry, and the slot its
/// decoder takes payloads from.
struct Streamer {
    id: u64,
    peer: SocketAddr,
    shared: Shared,
    info: Arc<StreamInfo>,
    payloads: Arc<Slot<Received>>,
    /// Started with the first frame: idle connections cost no thread.
    decoder: Option<JoinHandle<()>>,
}

impl Streamer {
    /// Registers a streamer that just connected with the board and the registry (the recorder
    /// hears of it with its first frame: a connection that sends nothing records nothing).
    fn join(id: u64, peer: SocketAddr, shared: Shared) -> Streamer {
        shared.board.add(id, peer);
        let info = shared.counters.streams.add(id, peer);
        Streamer {
            id,
            peer,
            shared,
            info,
            payloads: Arc::new(Slot::new()),
            decoder: None,
        }
    }

    /// One frame received in full (and already answered): counted, recorded, saved, handed
    /// over. `Break` closes the connection.
    async fn frame(&mut self, payload: Vec<u8>, heard: Heard<'_>) -> ControlFlow<()> {
        let now = Instant::now();
        let total = self.count(now, &payload, heard.dialect);
        // Named first, so a recording that starts with this frame is named after the stream.
        if self.decoder.is_none() {
            self.announce(&heard);
        }
        let who = (self.peer, self.info.name());
        let times = (now, heard.in_band);
        self.shared
            .recorder
            .offer_timed(self.id, who, &payload, times);
        if let Some(saver) = &self.shared.saver {
            // Copied into the saver's queue; the file is written on the saver thread.
            saver.save(total, self.peer.ip(), &payload).await;
        }
        self.hand_over(
            Received {
                bytes: payload,
                in_band: heard.in_band,
            },
            total,
        )
    }

    /// Counts the frame in the run's and the stream's figures; returns its number in the run.
    fn count(&self, now: Instant, payload: &[u8], dialect: Option<Dialect>) -> u64 {
        let counters = &self.shared.counters;
        let total = counters.received.fetch_add(1, Ordering::Relaxed) + 1;
        self.info.received(now, payload, dialect);
        counters
            .lock_rate()
            .get_or_insert_with(|| StreamStats::new(now))
            .frame(now, None);
        total
    }

    /// Says, on the first frame, how the streamer speaks.
    fn announce(&self, heard: &Heard) {
        let peer = self.peer;
        if let Some(d) = heard.dialect.filter(|d| *d != Dialect::Flag) {
            eprintln!("{peer}: speaks the {d} dialect");
        }
        if heard.extended {
            let wanted = heard.name.unwrap_or("unnamed");
            let name = self.shared.counters.streams.name(self.id, wanted);
            eprintln!("{peer}: stream {name}: extension exchange (capture times in-band)");
        } else if heard.overlapping {
            eprintln!("{peer}: overlapping frames (the streamer asked, see --window)");
        }
    }

    /// Puts the payload in the decoder's slot (replacing one it has not taken yet), starting
    /// the decoder first if need be; stops the viewer at the frame limit.
    fn hand_over(&mut self, payload: Received, total: u64) -> ControlFlow<()> {
        if self.decoder.is_none() {
            self.decoder = spawn_decoder(self.id, self.peer, &self.payloads, &self.shared);
            if self.decoder.is_none() {
                return ControlFlow::Break(());
            }
        }
        if self.payloads.put(payload).is_err() {
            return ControlFlow::Break(());
        }
        self.info.set_dropped(self.payloads.dropped());
        let frames = self.shared.frames;
        if frames > 0 && total >= frames {
            self.shared.stop.send_replace(true);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Counts a connection that failed: cut off mid-frame, or a protocol error.
    fn failed(&self, e: &ConnError) -> ControlFlow<()> {
        let counters = &self.shared.counters;
        if e.is_truncated() {
            counters.truncated.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            self.info.error();
        }
        eprintln!("{}: {e}, closing", self.peer);
        ControlFlow::Break(())
    }

    /// The connection is closed: lets the decoder finish the frame it holds, then leaves the
    /// board, the registry and the recorder.
    async fn leave(self) {
        self.payloads.close();
        if let Some(handle) = self.decoder {
            // Joining blocks, so not on the async thread.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        let shared = &self.shared;
        shared
            .counters
            .dropped
            .fetch_add(self.payloads.dropped(), Ordering::Relaxed);
        shared.board.remove(self.id);
        shared.counters.streams.remove(self.id);
        shared.recorder.left(self.id);
    }
}

/// Starts stream `id`'s decoder thread, taking payloads from `payloads`; `None` (said on
/// stderr) when no thread can be had.
fn spawn_decoder(
    id: u64,
    peer: SocketAddr,
    payloads: &Arc<Slot<Received>>,
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
