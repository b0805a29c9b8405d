//! The live figures of every connected stream, shared by the receiver (counts, rate), the
//! decoders (picture size, decode time), the glass-to-glass measurement and the readers: the
//! HTTP hub and the window. Writers touch only atomics and short locks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use shared::files::mcap::topic_token;
use shared::media::ros_image::Latency;
use shared::media::sniff::{picture_size, Kind};
use shared::runtime::stats::{Histogram, Timings};
use shared::wire::connection::InBand;
use shared::Dialect;
use tokio::sync::watch;

use super::glass::{arrival_figures, StageFigures, Stages, Unknown};
use super::optical::OpticalFigures;
use super::rate::Rate;

/// Payload buffers kept for reuse per stream (in flight to HTTP clients, or spare).
const PAYLOAD_POOL: usize = 4;

/// Every live stream, by id (ids are given in order of connection).
#[derive(Default)]
pub struct Streams {
    live: Mutex<BTreeMap<u64, Arc<StreamInfo>>>,
    /// Whether each stream's newest payload is kept for readers ([`StreamInfo::subscribe`]).
    publishing: AtomicBool,
}

impl Streams {
    /// Keeps a copy of each newest payload for [`StreamInfo::subscribe`] in streams added from
    /// now on (one copy a frame, into a pooled buffer); call it before streams connect.
    pub fn publish_payloads(&self) {
        self.publishing.store(true, Ordering::Relaxed);
    }

    /// Registers a stream that just connected.
    pub fn add(&self, id: u64, peer: SocketAddr) -> Arc<StreamInfo> {
        let info = Arc::new(StreamInfo::new(
            id,
            peer,
            self.publishing.load(Ordering::Relaxed),
        ));
        self.lock().insert(id, info.clone());
        info
    }

    /// Forgets a stream that ended; its payload subscribers see the end.
    pub fn remove(&self, id: u64) {
        if let Some(info) = self.lock().remove(&id) {
            info.end();
        }
    }

    /// Names stream `id` `wanted`, or `wanted#2`, `#3`... when a live stream has that name
    /// already or one whose topic it would share (`front cam` and `front-cam` both make
    /// `front_cam`); returns the name given (the caller says a renaming, naming the peer). The
    /// stream's topic is its name's token ([`topic_token`]).
    pub fn name(&self, id: u64, wanted: &str) -> String {
        let live = self.lock();
        let taken = |n: &str| {
            let token = topic_token(n);
            live.values()
                .any(|s| s.id != id && (s.name() == Some(n) || s.topic() == Some(&token)))
        };
        let name = first_free(wanted, "#", taken);
        if let Some(s) = live.get(&id) {
            s.set_name(name.clone());
            s.set_topic(topic_token(&name));
        }
        name
    }

    /// Gives stream `id`, which has no name (a reference streamer), its host's address as its
    /// topic (`s192_168_1_5`, the same across reconnects), with `_2`, `_3`... when a live
    /// stream has that topic already (two cameras of one board).
    pub fn untitled(&self, id: u64) {
        let live = self.lock();
        let Some(stream) = live.get(&id) else {
            return;
        };
        let base = topic_token(&stream.peer.ip().to_string());
        let taken = |t: &str| live.values().any(|s| s.id != id && s.topic() == Some(t));
        stream.set_topic(first_free(&base, "_", taken));
    }

    /// A live stream by id written in digits, else by name (as given by [`Streams::name`]).
    /// Digits always mean the id: a streamer that names itself `1` must not take over
    /// `/stream/1` from stream 1 (a name made of digits is reached by its id).
    pub fn find(&self, key: &str) -> Option<Arc<StreamInfo>> {
        let live = self.lock();
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            return key.parse().ok().and_then(|id| live.get(&id).cloned());
        }
        live.values().find(|s| s.name() == Some(key)).cloned()
    }

    /// A live stream by id.
    pub fn get(&self, id: u64) -> Option<Arc<StreamInfo>> {
        self.lock().get(&id).cloned()
    }

    /// A live stream by peer address (the glass-to-glass measurement knows only the peer).
    pub fn by_peer(&self, peer: SocketAddr) -> Option<Arc<StreamInfo>> {
        self.lock().values().find(|s| s.peer == peer).cloned()
    }

    /// Every live stream, in id order.
    pub fn list(&self) -> Vec<Arc<StreamInfo>> {
        self.lock().values().cloned().collect()
    }

    /// How many streams are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no stream is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<StreamInfo>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A stream's newest payload, exactly as received.
#[derive(Debug, Clone)]
pub struct Payload {
    pub bytes: Arc<Vec<u8>>,
    /// When its last byte arrived (wall clock, for `X-Timestamp`).
    pub arrived: SystemTime,
    pub kind: Kind,
    /// Its number in this stream (1, 2, ...), so readers can tell a newer one.
    pub seq: u64,
    /// Its capture time on this clock, ns since the Unix epoch, and where its time went up to
    /// its arrival; `None` without in-band times or a clock estimate.
    pub timed: Option<(u64, Latency)>,
}

/// `base`, or else `base` then `sep` and 2, 3, ...: the first that is not `taken`.
fn first_free(base: &str, sep: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut name = base.to_string();
    let mut k = 1;
    while taken(&name) {
        k += 1;
        name = format!("{base}{sep}{k}");
    }
    name
}

/// One stream's live figures.
pub struct StreamInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub connected_at: Instant,
    dialect: OnceLock<Dialect>,
    frames: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    decoded: AtomicU64,
    /// Full picture size, width << 32 | height; 0 before the first decoded picture.
    size: AtomicU64,
    /// Decoding and glass-to-glass times: the whole stream's and the last few seconds'.
    decode: Mutex<Timings>,
    glass: Mutex<Timings>,
    /// Stage times of frames measured in-band, and why others were not.
    stages: Mutex<StageFigures>,
    /// The optical loop's figures (`--optical`).
    optical: Mutex<OpticalFigures>,
    /// Reasons a frame had no glass figure, each said once on stderr.
    said_unknown: Mutex<Vec<Unknown>>,
    /// The stream's name from its hello (our streamers), set once.
    name: OnceLock<String>,
    /// Its topic token in the live outputs (ROS 2, Foxglove), unique among the live streams;
    /// set once, on its first frame ([`Streams::name`], [`Streams::untitled`]).
    topic: OnceLock<String>,
    rate: Mutex<Rate>,
    /// Payloads for readers; `None` until the first one (and always when not publishing).
    latest: watch::Sender<Option<Payload>>,
    publishing: bool,
    pool: Mutex<Vec<Arc<Vec<u8>>>>,
    ended: AtomicBool,
}

/// A stream's figures at one moment, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: u64,
    pub peer: SocketAddr,
    /// `None` until the first frame shows which dialect the streamer speaks.
    pub dialect: Option<Dialect>,
    /// Frames received in full and acknowledged.
    pub frames: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Frames that did not decode, and a protocol error that closed the connection.
    pub errors: u64,
    /// Received frames replaced by a newer one before the decoder got to them.
    pub dropped: u64,
    /// Frames decoded into pictures.
    pub decoded: u64,
    /// Frames received per second, over about the last second.
    pub fps: f64,
    /// Payload kilobits received per second, over about the last second.
    pub kbit_s: f64,
    /// Mean payload size over the stream.
    pub bytes_per_frame: u64,
    /// Full picture size (0 before the first decoded picture).
    pub width: u32,
    pub height: u32,
    /// Decoding time's median over the last few seconds; `None` before the first decoded
    /// picture.
    pub decode_p50_ms: Option<f64>,
    /// Glass-to-glass median over the last few seconds, when measured (in-band times, or a
    /// time mark with `--measure`).
    pub glass_p50_ms: Option<f64>,
    /// Each stage's median over the last few seconds (see [`super::glass`]), once a frame was
    /// measured in-band.
    pub stages_p50_ms: Option<[f64; 5]>,
    /// The last clock offset (viewer − streamer) and its error bound, ms.
    pub clock_ms: Option<(f64, f64)>,
    /// The stream's name, when its streamer told one.
    pub name: Option<String>,
    /// Optical median and frames measured (`--optical`), once a marker was read.
    pub optical_p50_ms: Option<f64>,
    pub optical_frames: u64,
    /// Frames per optical bin (see [`super::optical::BINS_MS`]).
    pub optical_bins: [u64; super::optical::BINS_MS.len() + 1],
    pub connected_for: Duration,
}

impl StreamInfo {
    fn new(id: u64, peer: SocketAddr, publishing: bool) -> StreamInfo {
        let now = Instant::now();
        StreamInfo {
            id,
            peer,
            connected_at: now,
            dialect: OnceLock::new(),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            size: AtomicU64::new(0),
            decode: Mutex::new(Timings::default()),
            glass: Mutex::new(Timings::default()),
            stages: Mutex::new(StageFigures::default()),
            optical: Mutex::new(OpticalFigures::default()),
            said_unknown: Mutex::new(Vec::new()),
            name: OnceLock::new(),
            topic: OnceLock::new(),
            rate: Mutex::new(Rate::new(now)),
            latest: watch::Sender::new(None),
            publishing,
            pool: Mutex::new(Vec::new()),
            ended: AtomicBool::new(false),
        }
    }

    /// Counts one frame received in full at `now`, and keeps a copy of it for readers when
    /// publishing. Called by the receiver after the answer has gone out.
    /// `in_band`: its capture and sending times, when the streamer sent them.
    pub fn received(
        &self,
        now: Instant,
        payload: &[u8],
        dialect: Option<Dialect>,
        in_band: Option<&InBand>,
    ) {
        if let Some(d) = dialect {
            let _ = self.dialect.set(d);
        }
        let seq = self.frames.fetch_add(1, Ordering::Relaxed) + 1;
        self.bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        lock(&self.rate).frame(now, payload.len());
        if self.publishing {
            let timed = arrival_figures(in_band).map(|(l, capture_us)| (capture_us * 1000, l));
            self.publish(payload, seq, timed);
        }
    }

    /// Counts a frame that did not decode, or the protocol error that ends the connection.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the count of frames dropped so far (the stream's slot keeps the count).
    pub fn set_dropped(&self, dropped: u64) {
        self.dropped.store(dropped, Ordering::Relaxed);
    }

    /// Records one decoded picture: how long decoding took and the payload it came from (its
    /// header gives the full size, whatever scale it was decoded at).
    pub fn decoded(&self, took: Duration, payload: &[u8]) {
        self.decoded.fetch_add(1, Ordering::Relaxed);
        lock(&self.decode).record_ms(took.as_secs_f64() * 1e3);
        if let Some((w, h)) = picture_size(payload) {
            self.size
                .store(u64::from(w) << 32 | u64::from(h), Ordering::Relaxed);
        }
    }

    /// Records one glass-to-glass time.
    pub fn glass(&self, ms: f64) {
        lock(&self.glass).record_ms(ms);
    }

    /// Records one frame measured in-band: glass and its stages.
    pub fn timed(&self, s: &Stages) {
        self.glass(s.glass);
        lock(&self.stages).record(s);
    }

    /// Counts a frame with in-band times but no figure; says each reason once, except the
    /// first frames' wait for a clock estimate, which is expected.
    pub fn unknown(&self, why: Unknown) {
        lock(&self.stages).unknown += 1;
        let mut said = lock(&self.said_unknown);
        if why != Unknown::NoClock && !said.contains(&why) {
            said.push(why);
            eprintln!(
                "{}: glass unknown: {} (said once; such frames are counted, not measured)",
                self.peer,
                why.describe()
            );
        }
    }

    /// Runs `f` on the optical figures, under their lock.
    pub fn with_optical<R>(&self, f: impl FnOnce(&mut OpticalFigures) -> R) -> R {
        f(&mut lock(&self.optical))
    }

    /// Runs `f` on the stage figures, under their lock.
    pub fn with_stages<R>(&self, f: impl FnOnce(&StageFigures) -> R) -> R {
        f(&lock(&self.stages))
    }

    /// Names the stream (see [`Streams::name`]); the first name stays.
    fn set_name(&self, name: String) {
        let _ = self.name.set(name);
    }

    /// The stream's name, if its streamer told one.
    pub fn name(&self) -> Option<&str> {
        self.name.get().map(String::as_str)
    }

    fn set_topic(&self, topic: String) {
        let _ = self.topic.set(topic);
    }

    /// The stream's topic token (see [`Streams::name`]); `None` before its first frame.
    pub fn topic(&self) -> Option<&str> {
        self.topic.get().map(String::as_str)
    }

    /// The figures now.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let (frames, bytes) = (load(&self.frames), load(&self.bytes));
        let (fps, kbit_s) = lock(&self.rate).at(now);
        let size = load(&self.size);
        let decode_p50_ms = lock(&self.decode).recent.median_ms(now);
        let glass_p50_ms = lock(&self.glass).recent.median_ms(now);
        let (stages_p50_ms, clock_ms) = {
            let stages = lock(&self.stages);
            (stages.recent_p50s(now), stages.clock)
        };
        let optical = {
            let o = lock(&self.optical);
            (o.p50(), o.optical.count(), o.bins())
        };
        Snapshot {
            id: self.id,
            peer: self.peer,
            dialect: self.dialect.get().copied(),
            frames,
            bytes,
            errors: load(&self.errors),
            dropped: load(&self.dropped),
            decoded: load(&self.decoded),
            fps,
            kbit_s,
            bytes_per_frame: bytes.checked_div(frames).unwrap_or(0),
            width: (size >> 32) as u32,
            height: size as u32,
            decode_p50_ms,
            glass_p50_ms,
            stages_p50_ms,
            clock_ms,
            name: self.name.get().cloned(),
            optical_p50_ms: optical.0,
            optical_frames: optical.1,
            optical_bins: optical.2,
            connected_for: now.saturating_duration_since(self.connected_at),
        }
    }

    /// Runs `f` on the decode-time histogram (milliseconds), under its lock.
    pub fn with_decode_times<R>(&self, f: impl FnOnce(&Histogram) -> R) -> R {
        f(&lock(&self.decode).whole)
    }

    /// Runs `f` on the glass-to-glass histogram (milliseconds), under its lock.
    pub fn with_glass_times<R>(&self, f: impl FnOnce(&Histogram) -> R) -> R {
        f(&lock(&self.glass).whole)
    }

    /// The newest payload and every newer one as it arrives (only when publishing; see
    /// [`Streams::publish_payloads`]). A reader that is slow skips payloads, never queues them.
    pub fn subscribe(&self) -> watch::Receiver<Option<Payload>> {
        self.latest.subscribe()
    }

    /// How many readers hold a subscription.
    #[cfg(test)]
    pub fn subscribers(&self) -> usize {
        self.latest.receiver_count()
    }

    /// The newest payload, if any was published.
    pub fn latest(&self) -> Option<Payload> {
        self.latest.borrow().clone()
    }

    /// Whether the stream has ended (its subscribers are then woken one last time).
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        self.latest.send_modify(|_| {});
    }

    /// Copies `payload` into a pooled buffer no reader holds any more, and makes it the newest.
    fn publish(&self, payload: &[u8], seq: u64, timed: Option<(u64, Latency)>) {
        let Some(kind) = Kind::of(payload) else {
            return;
        };
        let bytes = {
            let mut pool = lock(&self.pool);
            let free = pool.iter_mut().position(|b| Arc::get_mut(b).is_some());
            match free {
                Some(i) => {
                    let mut buf = pool.swap_remove(i);
                    if let Some(v) = Arc::get_mut(&mut buf) {
                        v.clear();
                        v.extend_from_slice(payload);
                    }
                    pool.push(buf.clone());
                    buf
                }
                None => {
                    let buf = Arc::new(payload.to_vec());
                    if pool.len() >= PAYLOAD_POOL {
                        // Every pooled buffer is still being sent somewhere: let the oldest
                        // go with its last reader.
                        pool.remove(0);
                    }
                    pool.push(buf.clone());
                    buf
                }
            }
        };
        self.latest.send_replace(Some(Payload {
            bytes,
            arrived: SystemTime::now(),
            kind,
            seq,
            timed,
        }));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn jpeg(w: usize, h: usize) -> Vec<u8> {
        let pixels = vec![128u8; w * h * 3];
        let image = turbojpeg::Image {
            pixels: &pixels[..],
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        };
        turbojpeg::compress(image, 50, turbojpeg::Subsamp::Sub2x2)
            .unwrap()
            .to_vec()
    }

    /// Two live streams never share a topic: names that make one token, a renamed stream's
    /// `#2` against a stream really named `front_2`, unnamed streams of one host.
    #[test]
    fn live_streams_get_topics_of_their_own() {
        let streams = Streams::default();
        for id in 1..=7 {
            streams.add(id, peer(id as u16));
        }
        assert_eq!(streams.name(1, "front cam"), "front cam");
        assert_eq!(streams.name(2, "front-cam"), "front-cam#2");
        assert_eq!(streams.name(3, "front_cam_2"), "front_cam_2#2");
        streams.untitled(4);
        streams.untitled(5);
        assert_eq!(streams.name(6, "/cam/image"), "/cam/image");
        let topics: Vec<String> = (1..=6)
            .map(|id| streams.get(id).unwrap().topic().unwrap().to_string())
            .collect();
        assert_eq!(
            topics,
            [
                "front_cam",
                "front_cam_2",
                "front_cam_2_2",
                "s127_0_0_1",
                "s127_0_0_1_2",
                "cam_image"
            ]
        );
        assert_eq!(
            streams.get(7).unwrap().topic(),
            None,
            "not before its first frame"
        );
        // A topic is free again once its stream left.
        streams.remove(1);
        assert_eq!(streams.name(7, "front.cam"), "front.cam");
        assert_eq!(streams.get(7).unwrap().topic(), Some("front_cam"));
    }

    #[test]
    fn registry_adds_lists_in_id_order_and_removes() {
        let streams = Streams::default();
        streams.add(2, peer(2));
        streams.add(1, peer(1));
        let ids: Vec<u64> = streams.list().iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(streams.get(2).unwrap().peer, peer(2));
        assert_eq!(streams.by_peer(peer(1)).unwrap().id, 1);
        let info = streams.get(1).unwrap();
        streams.remove(1);
        assert!(info.has_ended());
        assert!(streams.get(1).is_none());
        assert_eq!(streams.len(), 1);
    }

    #[test]
    fn digits_find_the_id_even_when_another_stream_is_named_so() {
        let streams = Streams::default();
        streams.add(1, peer(1));
        streams.add(2, peer(2));
        assert_eq!(streams.name(2, "1"), "1");
        streams.name(1, "gripper");
        assert_eq!(streams.find("1").unwrap().id, 1, "digits are an id");
        assert_eq!(streams.find("2").unwrap().id, 2);
        assert_eq!(streams.find("gripper").unwrap().id, 1);
        assert!(
            streams.find("3").is_none(),
            "no stream 3, whatever is named so"
        );
        assert!(streams.find("").is_none());
    }

    #[test]
    fn counts_rates_and_sizes() {
        let streams = Streams::default();
        let info = streams.add(1, peer(1));
        let t0 = info.connected_at;
        let payload = jpeg(64, 48);
        // 10 frames a second for two seconds.
        for i in 0..=20u64 {
            info.received(
                t0 + Duration::from_millis(100 * i),
                &payload,
                Some(Dialect::Size),
                None,
            );
        }
        info.decoded(Duration::from_micros(1500), &payload);
        info.error();
        info.set_dropped(3);
        let s = info.snapshot();
        assert_eq!((s.frames, s.errors, s.dropped, s.decoded), (21, 1, 3, 1));
        assert_eq!(s.bytes, 21 * payload.len() as u64);
        assert_eq!(s.bytes_per_frame, payload.len() as u64);
        assert_eq!(s.dialect, Some(Dialect::Size));
        assert_eq!((s.width, s.height), (64, 48));
        assert!((s.decode_p50_ms.unwrap() - 1.5).abs() < 0.011);
        assert_eq!(s.glass_p50_ms, None);
        info.glass(6.0);
        assert!((info.snapshot().glass_p50_ms.unwrap() - 6.0).abs() < 0.011);
        // Nothing is published unless asked.
        assert!(info.latest().is_none());
    }

    #[test]
    fn live_medians_follow_the_newest_frames_while_the_whole_run_is_kept() {
        let info = Streams::default().add(1, peer(1));
        for ms in [10.0, 40.0] {
            for _ in 0..300 {
                info.glass(ms);
            }
        }
        // 600 in all, the newest 256 (at most, within 5 s) are at 40 ms.
        assert_eq!(info.snapshot().glass_p50_ms, Some(40.0));
        let whole = info.with_glass_times(|h| (h.count(), h.percentile_ms(50.0)));
        assert_eq!(whole.0, 600);
        assert!((whole.1 - 10.0).abs() < 0.011, "{whole:?}");
    }

    #[test]
    fn publishes_the_newest_payload_and_reuses_buffers() {
        let streams = Streams::default();
        streams.publish_payloads();
        let info = streams.add(1, peer(1));
        let mut rx = info.subscribe();
        let a = jpeg(16, 16);
        let now = Instant::now();
        info.received(now, &a, None, None);
        let first = info.latest().unwrap();
        assert_eq!(
            (first.kind, first.seq, &first.bytes[..]),
            (Kind::Jpeg, 1, &a[..])
        );
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        drop(first);
        // Not PNG nor JPEG: counted, not published.
        info.received(now, b"garbage", None, None);
        assert!(!rx.has_changed().unwrap());
        // Once no reader holds it, a buffer is reused for the next payload.
        let b = jpeg(32, 16);
        info.received(now, &b, None, None);
        info.received(now, &b, None, None);
        let newest = info.latest().unwrap();
        assert_eq!((newest.seq, &newest.bytes[..]), (4, &b[..]));
        assert!(lock(&info.pool).len() <= 2, "buffers were not reused");
        streams.remove(1);
        assert!(rx.has_changed().unwrap());
    }

    #[test]
    fn pool_stays_bounded_while_readers_hold_every_buffer() {
        let streams = Streams::default();
        streams.publish_payloads();
        let info = streams.add(1, peer(1));
        let a = jpeg(16, 16);
        let held: Vec<Payload> = (0..10)
            .map(|_| {
                info.received(Instant::now(), &a, None, None);
                info.latest().unwrap()
            })
            .collect();
        assert_eq!(held.len(), 10);
        assert!(lock(&info.pool).len() <= PAYLOAD_POOL);
    }
}
