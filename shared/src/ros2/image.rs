//! Image messages over DDS: a subscription that hands over the newest image (its pixels
//! copied once, out of the DDS reader's buffer, after the size check), counts the ones it
//! never handed over and says when publishers come and go, and publications of ready CDR
//! messages (sent without another copy).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use rustdds::bytes::Bytes;
use rustdds::dds::result::ReadError;
use rustdds::mio1::{Events, Interest, Poll, Token};
use rustdds::no_key::SimpleDataReader;
use rustdds::no_key::{DataWriter, Decode, DeserializerAdapter, SerializerAdapter};
use rustdds::policy::{Durability, History, Reliability};
use rustdds::{
    DataReaderStatus, DomainParticipant, QosPolicies, QosPolicyBuilder, RepresentationIdentifier,
    StatusEvented, TopicKind, GUID,
};

use super::domain::{dds_topic, dds_type, Domain};
use crate::media::ros_image;

/// Which image type a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// `sensor_msgs/msg/CompressedImage`.
    Compressed,
    /// `sensor_msgs/msg/Image`.
    Raw,
}

impl ImageKind {
    /// By image_transport's naming: a topic whose last part is `compressed` carries
    /// `CompressedImage`, any other `Image`.
    pub fn of_topic(topic: &str) -> ImageKind {
        if topic.rsplit('/').next() == Some("compressed") {
            ImageKind::Compressed
        } else {
            ImageKind::Raw
        }
    }

    /// The ROS 2 type name.
    pub fn ros_type(self) -> &'static str {
        match self {
            ImageKind::Compressed => ros_image::IMAGE_TYPE,
            ImageKind::Raw => ros_image::RAW_IMAGE_TYPE,
        }
    }
}

/// What a received image is, beside its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    /// Compressed, in this `format` (`jpeg`, `png`, `bgr8; jpeg compressed bgr8`, ...).
    Compressed { format: String },
    /// Raw pixels.
    Raw {
        width: u32,
        height: u32,
        encoding: String,
        step: u32,
        big_endian: bool,
    },
}

/// A received image: its `header.stamp` (ns since the epoch, the publisher's clock), what it is
/// and its data's bytes.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub stamp_ns: u64,
    pub meta: Meta,
    pub data: Vec<u8>,
}

/// What one wait brought.
#[derive(Debug)]
pub enum Event {
    Image(Incoming),
    /// A message that could not be read, with why.
    Bad(String),
    /// The number of publishers matched changed to this.
    Publishers(i32),
}

/// Reads a message's body into an [`Incoming`] (untrusted bytes); larger data than
/// `max_bytes` is refused before it is copied.
#[derive(Debug, Clone, Copy)]
struct Decoder {
    kind: ImageKind,
    max_bytes: usize,
}

impl Decoder {
    fn decode(self, body: &[u8], little: bool) -> Result<Incoming, String> {
        let (stamp_ns, meta, range) = match self.kind {
            ImageKind::Compressed => {
                let v = ros_image::read_image_body(body, little)?;
                (v.stamp_ns, Meta::Compressed { format: v.format }, v.data)
            }
            ImageKind::Raw => {
                let v = ros_image::read_raw_image_body(body, little)?;
                let meta = Meta::Raw {
                    width: v.width,
                    height: v.height,
                    encoding: v.encoding,
                    step: v.step,
                    big_endian: v.big_endian,
                };
                (v.stamp_ns, meta, v.data)
            }
        };
        if range.len() > self.max_bytes {
            return Err(format!(
                "{} bytes of image data, over the limit of {} (--max-frame-bytes)",
                range.len(),
                self.max_bytes
            ));
        }
        let data = body.get(range).ok_or("the data lies outside the message")?;
        Ok(Incoming {
            stamp_ns,
            meta,
            data: data.to_vec(),
        })
    }
}

impl Decode<'_, Result<Incoming, String>> for Decoder {
    type Error = Infallible;
    fn decode_bytes(
        self,
        body: &[u8],
        encoding: RepresentationIdentifier,
    ) -> Result<Result<Incoming, String>, Infallible> {
        Ok(self.decode(body, encoding == RepresentationIdentifier::CDR_LE))
    }
}

/// The adapter between rustdds and [`Decoder`]: plain CDR either way round; an unreadable
/// message still arrives (as its error) so that it can be said.
struct ImageAdapter;

impl DeserializerAdapter<Result<Incoming, String>> for ImageAdapter {
    type Error = Infallible;
    type Decoded = Result<Incoming, String>;
    fn supported_encodings() -> &'static [RepresentationIdentifier] {
        &[
            RepresentationIdentifier::CDR_LE,
            RepresentationIdentifier::CDR_BE,
        ]
    }
    fn transform_decoded(decoded: Self::Decoded) -> Result<Incoming, String> {
        decoded
    }
}

const DATA: Token = Token(0);
const STATUS: Token = Token(1);

/// Writers followed for sequence gaps at most; more (publishers restarting for days) start
/// the following afresh, which only forgets the gap of a writer's next message.
const MAX_WRITERS: usize = 64;
/// The largest jump in a writer's sequence numbers counted as messages missed.
const MAX_GAP: u64 = 1 << 24;

/// A subscription to one image topic. Best effort, so it matches best-effort and reliable
/// publishers alike; history of one, so a late reader only ever finds the newest image.
pub struct Subscription {
    // Declared before the participant, so dropped first.
    reader: SimpleDataReader<Result<Incoming, String>, ImageAdapter>,
    poll: Poll,
    events: Events,
    decoder: Decoder,
    /// Messages never handed over; see [`Subscription::dropped`].
    dropped: Dropped,
    /// Why a message DDS itself could not decode was skipped, said with the next call when
    /// a newer image came in the same take.
    undecodable: Option<String>,
    _participant: DomainParticipant,
}

/// What a subscription never handed over, counted from each writer's sequence numbers.
#[derive(Debug, Default)]
struct Dropped {
    /// Taken together with a newer one, which replaced it.
    replaced: u64,
    /// Never taken: a gap in its writer's sequence numbers (lost on the way, or replaced in
    /// the DDS reader's history of one before it was taken).
    missed: u64,
    /// The last sequence number taken from each writer.
    last: HashMap<GUID, i64>,
}

impl Dropped {
    /// Message `sn` of `writer` was taken: the ones between it and the last taken are missed.
    fn taken(&mut self, writer: GUID, sn: i64) {
        if self.last.len() >= MAX_WRITERS && !self.last.contains_key(&writer) {
            self.last.clear();
        }
        let last = self.last.entry(writer).or_insert(sn);
        // The numbers are the writer's (untrusted): one older than the last (out of order)
        // counts nothing, and so does a jump past MAX_GAP, which no live writer makes (days of
        // messages at 30 Hz): a restarted or broken writer, whose gap says nothing.
        let gap = sn.saturating_sub(*last).saturating_sub(1);
        let gap = u64::try_from(gap).unwrap_or(0);
        if gap <= MAX_GAP {
            self.missed = self.missed.saturating_add(gap);
        }
        *last = (*last).max(sn);
    }
}

impl Subscription {
    /// Subscribes to the ROS 2 topic `topic` carrying `kind`.
    pub fn new(
        domain: &Domain,
        topic: &str,
        kind: ImageKind,
        max_bytes: usize,
    ) -> Result<Subscription, String> {
        let name = dds_topic(topic)?;
        let participant = domain.participant()?;
        let qos = qos(Reliability::BestEffort);
        let dds = |e: &dyn std::fmt::Display| format!("{topic}: DDS: {e}");
        let t = participant
            .create_topic(name, dds_type(kind.ros_type()), &qos, TopicKind::NoKey)
            .map_err(|e| dds(&e))?;
        let subscriber = participant.create_subscriber(&qos).map_err(|e| dds(&e))?;
        let mut reader = subscriber
            .create_simple_datareader_no_key::<_, ImageAdapter>(&t, Some(qos))
            .map_err(|e| dds(&e))?;
        let poll = Poll::new().map_err(|e| dds(&e))?;
        poll.registry()
            .register(&mut reader, DATA, Interest::READABLE)
            .map_err(|e| dds(&e))?;
        poll.registry()
            .register(reader.as_status_source_mio1(), STATUS, Interest::READABLE)
            .map_err(|e| dds(&e))?;
        Ok(Subscription {
            reader,
            poll,
            events: Events::with_capacity(4),
            decoder: Decoder { kind, max_bytes },
            dropped: Dropped::default(),
            undecodable: None,
            _participant: participant,
        })
    }

    /// Messages published to this subscription (after the first it got from each writer) that
    /// it never handed over: replaced by a newer one waiting with them, or never seen (a gap
    /// in their writer's sequence numbers: lost on the way or replaced in the DDS reader's
    /// history). Nothing tells a best-effort reader of what it lost before a writer's first
    /// message or after its last.
    pub fn dropped(&self) -> u64 {
        self.dropped.replaced.saturating_add(self.dropped.missed)
    }

    /// The next event, waiting up to `timeout` for one (`None`: nothing came). Of several
    /// images waiting, only the newest is handed over (the others count in [`Self::dropped`]).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>, String> {
        let mut waited = false;
        if let Some(why) = self.undecodable.take() {
            return Ok(Some(Event::Bad(why)));
        }
        loop {
            while let Some(status) = self.reader.try_recv_status() {
                if let DataReaderStatus::SubscriptionMatched { current, .. } = status {
                    return Ok(Some(Event::Publishers(current.count())));
                }
            }
            self.reader.drain_read_notifications();
            let mut newest = None;
            loop {
                let change = match self.reader.try_take_one_with(self.decoder) {
                    Ok(Some(change)) => change,
                    Ok(None) => break,
                    // One message in a representation rustdds does not read (XCDR2, PL_CDR)
                    // is skipped like a bad image: the reader has moved past it, and its
                    // sequence number's gap counts it as dropped.
                    Err(ReadError::Deserialization { reason }) => {
                        self.undecodable =
                            Some(format!("a message DDS could not decode ({reason})"));
                        continue;
                    }
                    Err(e) => return Err(format!("DDS: {e}")),
                };
                let sn = i64::from(change.sequence_number);
                self.dropped.taken(change.writer_guid, sn);
                if newest.replace(change.sample).is_some() {
                    self.dropped.replaced += 1;
                }
            }
            if newest.is_none() {
                if let Some(why) = self.undecodable.take() {
                    return Ok(Some(Event::Bad(why)));
                }
            }
            match newest {
                Some(Ok(image)) => return Ok(Some(Event::Image(image))),
                Some(Err(why)) => return Ok(Some(Event::Bad(why))),
                None if waited => return Ok(None),
                None => {}
            }
            if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(format!("DDS: {e}"));
                }
            }
            waited = true;
        }
    }
}

/// Volatile, newest only, with this reliability.
fn qos(reliability: Reliability) -> QosPolicies {
    QosPolicyBuilder::new()
        .reliability(reliability)
        .history(History::KeepLast { depth: 1 })
        .durability(Durability::Volatile)
        .build()
}

/// Hands a ready CDR body to rustdds as it is.
struct BytesAdapter;

impl SerializerAdapter<Bytes> for BytesAdapter {
    type Error = Infallible;
    fn output_encoding() -> RepresentationIdentifier {
        RepresentationIdentifier::CDR_LE
    }
    fn to_bytes(value: &Bytes) -> Result<Bytes, Infallible> {
        Ok(value.clone())
    }
}

/// A participant that publishes on any number of topics.
pub struct Node {
    publisher: rustdds::Publisher,
    participant: DomainParticipant,
}

impl Node {
    pub fn new(domain: &Domain) -> Result<Node, String> {
        let participant = domain.participant()?;
        let publisher = participant
            .create_publisher(&qos(reliable()))
            .map_err(|e| format!("DDS: {e}"))?;
        Ok(Node {
            publisher,
            participant,
        })
    }

    /// A publication on the ROS 2 topic `topic` of type `ros_type`. Reliable, so it matches
    /// reliable subscribers (rviz2's default) and best-effort ones; history of one, so a slow
    /// subscriber gets the newest message, never a queue.
    pub fn publication(&self, topic: &str, ros_type: &str) -> Result<Publication, String> {
        let qos = qos(reliable());
        let t = self
            .participant
            .create_topic(
                dds_topic(topic)?,
                dds_type(ros_type),
                &qos,
                TopicKind::NoKey,
            )
            .map_err(|e| format!("{topic}: DDS: {e}"))?;
        let writer = self
            .publisher
            .create_datawriter_no_key::<Bytes, BytesAdapter>(&t, Some(qos))
            .map_err(|e| format!("{topic}: DDS: {e}"))?;
        Ok(Publication { writer })
    }
}

/// Reliable, never blocking the writer for long (history of one replaces what is unsent).
fn reliable() -> Reliability {
    Reliability::Reliable {
        max_blocking_time: rustdds::Duration::from_millis(5),
    }
}

/// One topic being published.
pub struct Publication {
    writer: DataWriter<Bytes, BytesAdapter>,
}

impl Publication {
    /// Publishes `msg`, a whole little-endian CDR message as [`ros_image`] writes it (its
    /// encapsulation header is DDS's own and is not sent twice).
    pub fn write(&self, msg: Bytes) -> Result<(), String> {
        if msg.len() < 4 {
            return Err("a message shorter than its CDR header".into());
        }
        self.writer
            .write(msg.slice(4..), None)
            .map_err(|e| format!("DDS: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_count_per_writer_from_its_first_message() {
        let (a, b) = (GUID::from_bytes([1; 16]), GUID::from_bytes([2; 16]));
        let mut d = Dropped::default();
        // Each writer's first message is where counting starts.
        d.taken(a, 5);
        d.taken(b, 1);
        d.taken(a, 6);
        assert_eq!(d.missed, 0);
        d.taken(a, 10);
        d.taken(b, 3);
        assert_eq!(d.missed, 3 + 1);
        // Out of order, a repeat, and an absurd jump from an untrusted writer.
        d.taken(a, 8);
        d.taken(a, 10);
        assert_eq!(d.missed, 4);
        d.taken(b, i64::MAX);
        d.taken(b, i64::MIN);
        assert_eq!(d.missed, 4);
        // A jump up to the limit counts; one past it is a restart and counts nothing, the
        // gaps after it count again.
        d.taken(a, 11 + MAX_GAP as i64);
        assert_eq!(d.missed, 4 + MAX_GAP);
        d.taken(a, 13 + 2 * MAX_GAP as i64);
        d.taken(a, 15 + 2 * MAX_GAP as i64);
        assert_eq!(d.missed, 4 + MAX_GAP + 1);
        // Past the limit of writers followed, the map starts afresh instead of growing.
        for i in 0..200u8 {
            d.taken(GUID::from_bytes([i; 16]), 1);
        }
        assert!(d.last.len() <= MAX_WRITERS);
    }
}
