//! One Foxglove WebSocket client served: streams advertised as they come and go, and per
//! subscription a newest-value slot (the stream's watch): a slow client skips frames (counted),
//! never delays another client or the stream. A client pinged and silent for [`SILENCE`] (gone
//! off the Wi-Fi, or never reading) is closed, so it does not hold one of the hub's places.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use shared::media::ros_image::Latency;
use shared::media::sniff::Kind;
use shared::runtime::log_limit::LogLimit;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::foxglove::{self, Ask, What};
use super::stall::STALL_TIMEOUT;
use super::Hub;
use crate::stats::streams::{Payload, StreamInfo};

/// How often the stream list is looked at for streams come and gone.
const REFRESH: Duration = Duration::from_millis(250);
/// How often a client is pinged; every WebSocket client answers a ping by itself.
const PING_EVERY: Duration = Duration::from_secs(5);
/// A client that answered no ping for this long (nor sent anything else) is closed.
const SILENCE: Duration = Duration::from_secs(15);

/// The hub's WebSocket figures, over all clients (for `/metrics`).
#[derive(Default)]
pub struct FanOut {
    pub clients: AtomicU64,
    /// Messages sent (`messageData`).
    pub sent: AtomicU64,
    /// Frames a client's subscription skipped because it had not taken the one before.
    pub skipped: AtomicU64,
}

/// One subscription: its channel's stream and the newest payload slot.
struct Sub {
    what: What,
    stream: Arc<StreamInfo>,
    token: String,
    newest: watch::Receiver<Option<Payload>>,
    /// The last payload number sent (0: none yet).
    sent: u64,
}

/// One client's state.
struct Client {
    peer: SocketAddr,
    hub: Arc<Hub>,
    /// Advertised streams: id to topic token.
    advertised: BTreeMap<u64, String>,
    subs: BTreeMap<u32, Sub>,
    /// The reused CDR prefix of image messages.
    prefix: Vec<u8>,
    sent: u64,
    skipped: u64,
}

/// What woke the client's loop.
enum Event {
    Incoming(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Frames,
    Refresh,
    Ping,
    Stop,
}

fn now_ms() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    d.as_secs_f64() * 1000.0
}

/// Sends `message`. A client that takes nothing for [`STALL_TIMEOUT`] fails the write (the
/// socket's [`super::stall::WriteDeadline`]); one that keeps taking bytes may take as long as
/// a large frame needs on its link (a deadline on the whole message closed a client reading
/// a 200 KB frame at 80 kbit/s).
async fn send<S>(ws: &mut WebSocketStream<S>, message: Message, peer: SocketAddr) -> ControlFlow<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match ws.send(message).await {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            CLIENT_LINES.line("send", || {
                format!("viewer: {peer}: WebSocket: {e}, closing")
            });
            ControlFlow::Break(())
        }
    }
}

/// Lines a second of each kind about WebSocket clients (came, left, failed): a few clients
/// are each named, while one reconnecting in a loop cannot flood the log.
static CLIENT_LINES: LazyLock<LogLimit> = LazyLock::new(|| LogLimit::with_burst(20));

/// Says a client's arrival (with the subprotocol it chose), rate-limited.
pub fn say_arrived(peer: SocketAddr, protocol: &str) {
    CLIENT_LINES.line("came", || {
        format!("viewer: {peer}: WebSocket client ({protocol})")
    });
}

/// Waits until any subscription's stream has a newer payload (never, without subscriptions).
async fn any_changed(subs: &mut BTreeMap<u32, Sub>) {
    if subs.is_empty() {
        return std::future::pending().await;
    }
    let waits = subs.values_mut().map(|s| Box::pin(s.newest.changed()));
    let (result, _, _) = futures_util::future::select_all(waits).await;
    if result.is_err() {
        // Cannot happen while the subscription holds its stream; never spin.
        std::future::pending::<()>().await;
    }
}

/// Closes the client as the viewer stops: 1001, going away.
async fn going_away<S>(ws: &mut WebSocketStream<S>) -> ControlFlow<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reason = "the viewer stops".into();
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason,
        }))
        .await;
    ControlFlow::Break(())
}

/// The stream list's refresh and the ping, each a tick at a time after a long send (not a
/// burst of the ticks missed).
fn timers() -> (Interval, Interval) {
    let mut tick = tokio::time::interval(REFRESH);
    let start = tokio::time::Instant::now();
    let mut ping = tokio::time::interval_at(start + PING_EVERY, PING_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    (tick, ping)
}

/// Serves one client on `ws` until it leaves, misbehaves, stalls, or the hub stops.
pub async fn serve<S>(
    mut ws: WebSocketStream<S>,
    peer: SocketAddr,
    hub: Arc<Hub>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    hub.fanout.clients.fetch_add(1, Ordering::Relaxed);
    let mut client = Client {
        peer,
        hub: hub.clone(),
        advertised: BTreeMap::new(),
        subs: BTreeMap::new(),
        prefix: Vec::new(),
        sent: 0,
        skipped: 0,
    };
    let session = format!("{peer}-{}", now_ms() as u64);
    let mut flow = send(
        &mut ws,
        Message::text(foxglove::server_info(&session)),
        peer,
    )
    .await;
    let (mut tick, mut ping) = timers();
    // When the oldest ping not answered (by anything the client sent since) went out: time
    // spent in a long send, while the client is reading, is not silence.
    let mut unanswered: Option<tokio::time::Instant> = None;
    while flow.is_continue() {
        // In this order: the client's messages (a pong that came during a long send is read
        // before the silence check), the stop, the ping, the refresh, and the frames last,
        // which a slow client always has waiting and would otherwise starve the others.
        let event = tokio::select! {
            biased;
            m = ws.next() => Event::Incoming(m),
            _ = stop.wait_for(|s| *s) => Event::Stop,
            _ = ping.tick() => Event::Ping,
            _ = tick.tick() => Event::Refresh,
            () = any_changed(&mut client.subs) => Event::Frames,
        };
        flow = match event {
            Event::Incoming(Some(Ok(message))) => {
                unanswered = None;
                client.incoming(&mut ws, message).await
            }
            Event::Incoming(Some(Err(e))) => {
                CLIENT_LINES.line("failed", || {
                    format!("viewer: {peer}: WebSocket: {e}, closing")
                });
                ControlFlow::Break(())
            }
            Event::Incoming(None) => ControlFlow::Break(()),
            Event::Frames => client.send_frames(&mut ws).await,
            Event::Refresh => client.refresh(&mut ws).await,
            Event::Ping if unanswered.is_some_and(|t| t.elapsed() >= SILENCE) => {
                let why = format!("no answer to a ping for {} s", SILENCE.as_secs());
                client.reject(&mut ws, &why).await
            }
            Event::Ping => {
                unanswered.get_or_insert_with(tokio::time::Instant::now);
                send(&mut ws, Message::Ping(Default::default()), peer).await
            }
            Event::Stop => going_away(&mut ws).await,
        };
    }
    hub.fanout.clients.fetch_sub(1, Ordering::Relaxed);
    CLIENT_LINES.line("left", || {
        format!(
            "viewer: {peer}: WebSocket client left: frames_sent={} frames_skipped={}",
            client.sent, client.skipped
        )
    });
}

impl Client {
    /// Advertises streams that came, unadvertises (and unsubscribes) those gone.
    async fn refresh<S>(&mut self, ws: &mut WebSocketStream<S>) -> ControlFlow<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let live: BTreeMap<u64, String> = self
            .hub
            .counters
            .streams
            .list()
            .iter()
            .filter(|s| !s.has_ended())
            // Only once its first frame named it: advertised under a placeholder, a client
            // would keep that topic for good.
            .filter_map(|s| Some((s.id, s.topic()?.to_string())))
            .collect();
        let gone: Vec<u64> = (self.advertised.keys())
            .filter(|id| !live.contains_key(id))
            .copied()
            .collect();
        let came: Vec<(u64, String)> = (live.iter())
            .filter(|(id, _)| !self.advertised.contains_key(id))
            .map(|(id, t)| (*id, t.clone()))
            .collect();
        self.subs.retain(|_, s| live.contains_key(&s.stream.id));
        self.advertised = live;
        if !gone.is_empty() {
            send(ws, Message::text(foxglove::unadvertise(&gone)), self.peer).await?;
        }
        if !came.is_empty() {
            send(ws, Message::text(foxglove::advertise(&came)), self.peer).await?;
        }
        ControlFlow::Continue(())
    }

    /// Answers one message from the client; bad ones close it with a reason and one line.
    async fn incoming<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        message: Message,
    ) -> ControlFlow<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let received_ms = now_ms();
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self
                    .reject(
                        ws,
                        "binary client messages are not served (no clientPublish)",
                    )
                    .await
            }
            // Pings are answered by tungstenite; the close handshake ends the stream.
            _ => return ControlFlow::Continue(()),
        };
        let ask = match foxglove::parse(&text) {
            Ok(ask) => ask,
            Err(why) => return self.reject(ws, &why).await,
        };
        match ask {
            Ask::Subscribe(pairs) => {
                for (id, channel) in pairs {
                    if let Some(why) = self.subscribe(id, channel) {
                        send(ws, Message::text(foxglove::status(2, &why)), self.peer).await?;
                    }
                }
                self.send_frames(ws).await
            }
            Ask::Unsubscribe(ids) => {
                ids.iter().for_each(|id| drop(self.subs.remove(id)));
                ControlFlow::Continue(())
            }
            Ask::Clock(t1) => {
                let answer = foxglove::clock(t1, received_ms, now_ms());
                send(ws, Message::text(answer), self.peer).await
            }
            Ask::Other(op) => {
                let why = format!("operation {op:?} is not served");
                send(ws, Message::text(foxglove::status(1, &why)), self.peer).await
            }
        }
    }

    /// Adds a subscription; `Some` says why not (the request is then ignored, as the
    /// ws-protocol's own server does).
    fn subscribe(&mut self, id: u32, channel: u32) -> Option<String> {
        // Ids are unique among a client's active subscriptions: a reused one moved the
        // subscription to another channel without a word.
        if self.subs.contains_key(&id) {
            return Some(format!("subscription {id}: the id is in use already"));
        }
        if self.subs.len() >= foxglove::MAX_SUBSCRIPTIONS {
            return Some(format!(
                "subscription {id}: at most {} per client",
                foxglove::MAX_SUBSCRIPTIONS
            ));
        }
        let (stream_id, what) = foxglove::of_channel(channel);
        // One subscription per channel: more would only have the hub send each frame again.
        let same = |(_, s): (&u32, &Sub)| s.stream.id == stream_id && s.what == what;
        if let Some((other, _)) = self.subs.iter().find(|&pair| same(pair)) {
            return Some(format!(
                "subscription {id}: channel {channel} is subscribed already (subscription {other})"
            ));
        }
        let unknown = || Some(format!("subscription {id}: no channel {channel}"));
        let Some(token) = self.advertised.get(&stream_id).cloned() else {
            return unknown();
        };
        let Some(stream) = self.hub.counters.streams.get(stream_id) else {
            return unknown();
        };
        let mut newest = stream.subscribe();
        newest.mark_changed();
        let sub = Sub {
            what,
            stream,
            token,
            newest,
            sent: 0,
        };
        self.subs.insert(id, sub);
        None
    }

    /// Closes the client with `why` (1008, policy) and one line naming it.
    async fn reject<S>(&mut self, ws: &mut WebSocketStream<S>, why: &str) -> ControlFlow<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let peer = self.peer;
        let log = &self.hub.refuser.log;
        log.line("websocket", || format!("{peer}: WebSocket: {why}, closing"));
        let reason: String = why.chars().take(120).collect();
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(STALL_TIMEOUT, ws.close(Some(frame))).await;
        ControlFlow::Break(())
    }

    /// Sends each subscription's newest payload it has not sent yet; payloads that came in
    /// between are skipped and counted.
    async fn send_frames<S>(&mut self, ws: &mut WebSocketStream<S>) -> ControlFlow<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ids: Vec<u32> = self.subs.keys().copied().collect();
        for id in ids {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            let newest = sub.newest.borrow_and_update().clone();
            // JPEG only: `CompressedImage` says its format, and the page decodes JPEG.
            let fresh = |p: &Payload| p.seq > sub.sent && p.kind == Kind::Jpeg;
            let Some(p) = newest.filter(fresh) else {
                continue;
            };
            if sub.sent > 0 {
                self.skipped += p.seq - sub.sent - 1;
                self.hub
                    .fanout
                    .skipped
                    .fetch_add(p.seq - sub.sent - 1, Ordering::Relaxed);
            }
            sub.sent = p.seq;
            let arrived = p.arrived.duration_since(UNIX_EPOCH).unwrap_or_default();
            let log_ns = arrived.as_nanos() as u64;
            let (stamp_ns, latency) = p.timed.unwrap_or((log_ns, Latency::UNKNOWN));
            let times = (id, log_ns, stamp_ns);
            let what = (sub.token.as_str(), &p.bytes[..], &latency);
            let frame = foxglove::frame_message(sub.what, times, what, &mut self.prefix);
            drop(p);
            send(ws, Message::binary(frame), self.peer).await?;
            self.sent += 1;
            self.hub.fanout.sent.fetch_add(1, Ordering::Relaxed);
        }
        ControlFlow::Continue(())
    }
}
