//! One streamer's connection, in its own task: each frame is read (the protocol answers as
//! soon as it has arrived), counted, offered to the recorder, queued for saving and handed
//! to the stream's decoder thread, which starts with the first frame.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::Instant;

use futures_util::FutureExt;
use shared::cli::Cidr;
use shared::runtime::log_limit::LogLimit;
use shared::runtime::stats::StreamStats;
use shared::runtime::unproven::Ticket;
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
    /// `--ros2-publish`: where every payload goes to be republished.
    #[cfg(feature = "ros2")]
    pub ros2: Option<Arc<crate::output::ros2::Ros2Out>>,
    /// Connections one address may hold at once (`--max-per-client`).
    pub per_client: usize,
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
    /// `--optical`: the marker's codes, for the decoders to look up.
    pub optical: Option<Arc<crate::optical::Loop>>,
}

/// The lines about connections that never sent a header in time, one a second at most:
/// silent sockets come in floods (docs/security.md).
static SILENT: LazyLock<LogLimit> = LazyLock::new(LogLimit::default);
/// The lines about other connections that never delivered a frame (refused, bad first bytes,
/// closed at once): a few bad streamers at once are each named, while a flood (port scans,
/// health checks) cannot flood the log or stall this thread, which answers every streamer.
static UNSEEN: LazyLock<LogLimit> = LazyLock::new(|| LogLimit::with_burst(UNSEEN_BURST));
/// Lines a second of each kind about connections that never delivered a frame.
const UNSEEN_BURST: u32 = 20;
/// The lines about streamers that did deliver (connected, how they speak, gone): as many of
/// each kind a second as [`UNSEEN`], so that a peer reconnecting in a loop with one frame each
/// time cannot flood the log either, while a few real streamers are each named.
static SEEN: LazyLock<LogLimit> = LazyLock::new(|| LogLimit::with_burst(UNSEEN_BURST));

/// Serves streamer `id` at `peer` until it leaves, fails, or the viewer stops; then takes its
/// tile, registry entry and recording away, also after a panic (a bug) in serving it, which
/// would otherwise leave a frozen tile and a stream listed for good.
pub async fn serve(id: u64, stream: TcpStream, peer: SocketAddr, shared: Shared, ticket: Ticket) {
    // Answers are tiny and awaited: no Nagle. Keepalive finds peers that vanished.
    if let Err(e) = shared::runtime::net::tune(&stream) {
        eprintln!("{peer}: cannot set socket options: {e}");
    }
    let mut streamer = Streamer::join(id, peer, shared, ticket);
    let served = AssertUnwindSafe(read_frames(&mut streamer, stream))
        .catch_unwind()
        .await;
    if served.is_err() {
        eprintln!("{peer}: serving this streamer failed (a bug: the panic is above), closing");
    }
    streamer.leave().await;
}

/// Reads, answers and hands over frames until the streamer leaves, fails, or the viewer stops.
async fn read_frames(streamer: &mut Streamer, stream: TcpStream) {
    let peer = streamer.peer;
    let limits = streamer.shared.limits;
    // The first header (and a secret's proof) within the read timeout of the accept.
    let mut conn = Connection::new(stream, limits)
        .with_extension(streamer.shared.ext.clone())
        .with_handshake_limit(limits.read_timeout);
    let mut stop = streamer.shared.stop.subscribe();
    loop {
        let mut payload = streamer.payloads.spare().unwrap_or_default().bytes;
        // In this order: a first frame read in full wins over an eviction ready at once.
        let read = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            r = conn.read_frame(&mut payload) => r,
            // Only before the first frame: the ticket is proven with it.
            () = streamer.ticket.evicted(), if streamer.info.is_none() => {
                SILENT.line("evicted", || {
                    format!("{peer}: closed to make room: no frame yet")
                });
                break;
            }
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
            Ok(false) if streamer.info.is_some() => {
                SEEN.line("disconnected", || format!("{peer}: streamer disconnected"));
                ControlFlow::Break(())
            }
            Ok(false) => {
                UNSEEN.line("closed", || {
                    format!("{peer}: closed before its first frame")
                });
                ControlFlow::Break(())
            }
            Err(e) => streamer.failed(&e),
        };
        if next.is_break() {
            break;
        }
    }
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
    /// The stream's registry entry, from its first frame on (see [`Streamer::appear`]).
    info: Option<Arc<StreamInfo>>,
    payloads: Arc<Slot<Received>>,
    /// Started with the first frame: idle connections cost no thread.
    decoder: Option<JoinHandle<()>>,
    /// Its place among the connections without a frame yet, which a newcomer may close when
    /// the port runs short of places; proven by the first frame.
    ticket: Ticket,
}

impl Streamer {
    /// A streamer that just connected: nowhere to be seen until its first frame.
    fn join(id: u64, peer: SocketAddr, shared: Shared, ticket: Ticket) -> Streamer {
        Streamer {
            id,
            peer,
            shared,
            info: None,
            payloads: Arc::new(Slot::new()),
            decoder: None,
            ticket,
        }
    }

    /// The first frame is in (after the secret's proof, if one is asked for): the stream now
    /// gets its registry entry and its line, and its tile once named ([`Streamer::announce`]).
    /// A connection that never gets this far costs neither, whatever many there are.
    fn appear(&mut self) -> Arc<StreamInfo> {
        let (id, peer) = (self.id, self.peer);
        self.ticket.proven();
        SEEN.line("connected", || format!("{peer}: streamer connected"));
        let info = self.shared.counters.streams.add(id, peer);
        self.info = Some(info.clone());
        info
    }

    /// One frame received in full (and already answered): counted, recorded, saved, handed
    /// over. `Break` closes the connection.
    async fn frame(&mut self, payload: Vec<u8>, heard: Heard<'_>) -> ControlFlow<()> {
        let now = Instant::now();
        let total = self.count(now, &payload, heard.dialect, heard.in_band.as_ref());
        // Named first, so a recording that starts with this frame is named after the stream.
        if self.decoder.is_none() {
            self.announce(&heard);
        }
        let name = self.info.as_ref().and_then(|i| i.name());
        let who = (self.peer, name);
        let times = (now, heard.in_band);
        self.shared
            .recorder
            .offer_timed(self.id, who, &payload, times);
        #[cfg(feature = "ros2")]
        if let (Some(ros2), Some(topic)) = (
            &self.shared.ros2,
            self.info.as_ref().and_then(|i| i.topic()),
        ) {
            ros2.offer(topic, &payload, heard.in_band.as_ref());
        }
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
    fn count(
        &mut self,
        now: Instant,
        payload: &[u8],
        dialect: Option<Dialect>,
        in_band: Option<&InBand>,
    ) -> u64 {
        let info = match &self.info {
            Some(info) => info.clone(),
            None => self.appear(),
        };
        let counters = &self.shared.counters;
        let total = counters.received.fetch_add(1, Ordering::Relaxed) + 1;
        info.received(now, payload, dialect, in_band);
        counters
            .lock_rate()
            .get_or_insert_with(StreamStats::default)
            .frame(now, None);
        total
    }

    /// Says, on the first frame, how the streamer speaks; names the stream, gives it its
    /// topic and its tile. The tile's place is its host and the name it asked for, so that a
    /// reconnection takes the place (and the focus) of the connection it replaces.
    fn announce(&self, heard: &Heard) {
        let peer = self.peer;
        let place = format!("{}|{}", peer.ip(), heard.name.unwrap_or_default());
        self.shared.board.add(self.id, peer, place);
        if let Some(d) = heard.dialect.filter(|d| *d != Dialect::Flag) {
            SEEN.line("dialect", || format!("{peer}: speaks the {d} dialect"));
        }
        if heard.extended {
            let wanted = heard.name.unwrap_or("unnamed");
            let name = self.shared.counters.streams.name(self.id, wanted);
            if name != wanted {
                SEEN.line("renamed", || {
                    format!(
                        "{peer}: a live stream has the name {wanted} or its topic; this one is \
                         {name}"
                    )
                });
            }
            SEEN.line("extended", || {
                format!("{peer}: stream {name}: extension exchange (capture times in-band)")
            });
        } else {
            self.shared.counters.streams.untitled(self.id);
            if heard.overlapping {
                SEEN.line("overlapping", || {
                    format!("{peer}: overlapping frames (the streamer asked, see --window)")
                });
            }
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
        if let Some(info) = &self.info {
            info.set_dropped(self.payloads.dropped());
        }
        let frames = self.shared.frames;
        if frames > 0 && total >= frames {
            self.shared.stop.send_replace(true);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Counts a connection that failed: cut off mid-frame, or a protocol error. One that
    /// brought no first header in time (an idle socket, a port scan) was never a stream: its
    /// line only.
    fn failed(&self, e: &ConnError) -> ControlFlow<()> {
        let counters = &self.shared.counters;
        let handshake = ["first header", "hello and proof"];
        let silent =
            matches!(e, ConnError::Timeout { waiting_for, .. } if handshake.contains(waiting_for));
        let never_a_stream = matches!(
            e,
            ConnError::Timeout {
                waiting_for: "first header",
                ..
            }
        );
        if e.is_truncated() {
            counters.truncated.fetch_add(1, Ordering::Relaxed);
        } else if !never_a_stream {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            if let Some(info) = &self.info {
                info.error();
            }
        }
        let peer = self.peer;
        if silent {
            SILENT.line("silent", || format!("{peer}: {e}, closing"));
        } else if self.info.is_none() {
            UNSEEN.line("refused", || format!("{peer}: {e}, closing"));
        } else {
            SEEN.line("failed", || format!("{peer}: {e}, closing"));
        }
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
        if self.info.is_some() {
            shared.board.remove(self.id);
            shared.counters.streams.remove(self.id);
        }
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
        optical: shared.optical.clone(),
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
