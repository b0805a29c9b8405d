//! Overlapping frames (`--window auto|N`, negotiated on the connection's first frame): each
//! frame's header and payload go out together, as many frames are in flight as
//! [`crate::link::window`] allows, and the answers are matched to the frames in order as they
//! arrive. Two forms: an older viewer's, with plain flags answered `ok` after each flag and `ok`
//! after each payload; and the extension exchange's, with `F` headers carrying the frame's times
//! and one timestamped answer per frame, each a sample of the viewer's clock (sealed, frame and
//! answer, when the secret was proved: each frame sealed in place as it is taken). Writing and
//! reading run side by side, so an answer is timed when it arrives, not when a long write
//! happens to end.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::time::{Duration, Instant};

use shared::wire::clock::{self, Sample};
use shared::wire::ext::{self, Answer};
use shared::wire::protocol::{FlagBytes, ACK};
use shared::wire::seal::{self, Session};
use shared::{ConnError, Slot};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::encode::encoder::EncodedFrame;
use crate::link::tally::{Delivery, Tally};
use crate::link::times;
use crate::link::window::{Latest, Pacer};

/// How often a frame held back by the window looks again whether it may go.
const RECHECK: Duration = Duration::from_millis(2);

/// How frames and answers look on the connection.
#[derive(Debug)]
pub enum Form {
    /// An older viewer's: plain flags, `ok` after each flag and after each payload.
    Flags,
    /// The extension exchange's: `F` headers with the frame's times, one timestamped answer.
    Extended,
    /// The extension exchange with the secret: the same, each frame and answer sealed with
    /// this connection's session keys.
    Sealed(Session),
}

/// The frame being written: its header and payload, and how much of the two has gone out.
struct Writing {
    frame: EncodedFrame,
    header: Vec<u8>,
    written: usize,
}

impl Writing {
    /// A frame about to go out, header first, in `form` (sealed in place in its own buffer
    /// for [`Form::Sealed`]); its delivery record with it.
    fn new(
        mut frame: EncodedFrame,
        form: &mut Form,
        tally: &Tally<'_>,
    ) -> Result<(Writing, Delivery), ConnError> {
        let now = Instant::now();
        let mut delivery = Delivery::of(&frame, now, true);
        let len = frame.jpeg().len();
        let mut header = Vec::with_capacity(48);
        match form {
            Form::Flags => header.extend_from_slice(&FlagBytes::new(len)),
            Form::Extended => {
                let meta = times::frame_meta(&frame, now, tally.clock.now());
                delivery.sent_wall_us = times::sent_wall(&meta);
                // Lengths above u32 never get here: frames are bounded far below.
                let len = u32::try_from(len).unwrap_or(u32::MAX);
                ext::encode_frame_header(len, &meta, &mut header);
            }
            Form::Sealed(session) => {
                let meta = times::frame_meta(&frame, now, tally.clock.now());
                delivery.sent_wall_us = times::sent_wall(&meta);
                let mut records = Vec::with_capacity(48);
                ext::encode_records(&meta, &mut records);
                let head = frame.seal_in_place(&records, seal::TAG_BYTES, |buf| {
                    session.seal_frame(buf, len, records.len())
                })?;
                header.extend_from_slice(&head);
            }
        }
        let writing = Writing {
            frame,
            header,
            written: 0,
        };
        Ok((writing, delivery))
    }

    fn total(&self) -> usize {
        self.header.len() + self.frame.jpeg().len()
    }
}

/// Runs an accepted connection until the frames end, the frame limit is reached or `stop`
/// resolves (then every frame in flight is finished first), or until the connection fails:
/// the frames in flight are then counted as lost. `stopped` says whether `stop` has resolved
/// (it must not be polled again then), before and after.
pub async fn run<S, F>(
    stream: S,
    (mut form, cap): (Form, usize),
    unread: Vec<u8>,
    frames: &Slot<EncodedFrame>,
    tally: &mut Tally<'_>,
    mut stop: Pin<&mut F>,
    stopped: &mut bool,
) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let ack_timeout = tally.config.ack_timeout;
    let pacer = pacer(tally);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut answers = unread;
    let mut in_flight: VecDeque<Delivery> = VecDeque::with_capacity(cap);
    let mut writing: Option<Writing> = None;
    // No new frames once set: the source ended, the limit was reached or `stop` resolved.
    let mut ending = *stopped;
    // The peer must make progress (take bytes or answer) within the ack timeout.
    let mut progress = Instant::now();
    // The peer closed with nothing owed: the next frame (a failure) or the source's end tells.
    let mut peer_closed = false;
    // Once stopped, the frames in flight get one ack timeout in all (see `give_up_at`).
    let mut finish_by = stopped.then(|| Instant::now() + ack_timeout);
    let result = loop {
        let now = Instant::now();
        if let Err(e) = match_any(&mut form, &mut answers, &mut in_flight, now, tally) {
            break Err(e);
        }
        ending |= writing.is_none() && !tally.wants_more(in_flight.len());
        if ending && writing.is_none() && in_flight.is_empty() {
            let _ = writer.shutdown().await;
            return Ok(());
        }
        let ready = !ending && writing.is_none();
        let go = may_send(ready, &pacer, (&in_flight, cap), tally, now);
        // Held back by time (the link busy or late, a fresher frame due): look again then.
        let recheck = go.recheck(now);
        let waiting = writing.is_some() || !in_flight.is_empty();
        let deadline = give_up_at(progress + ack_timeout, finish_by, writing.is_some());
        tokio::select! {
            biased;
            read = reader.read_buf(&mut answers), if !peer_closed => match read {
                Ok(0) if writing.is_none() && in_flight.is_empty() => peer_closed = true,
                Ok(0) => break Err(ConnError::Closed { waiting_for: "ok" }),
                Ok(_) => progress = Instant::now(),
                Err(e) => break Err(e.into()),
            },
            wrote = write_some(&mut writer, writing.as_ref()), if writing.is_some() => match wrote {
                Ok(n) => {
                    progress = Instant::now();
                    advance(&mut writing, n, frames);
                }
                Err(e) => break Err(e.into()),
            },
            frame = frames.take(), if go == Go::Now => match frame {
                Some(f) => {
                    let flight = (&mut in_flight, &mut progress);
                    match begin(f, (&mut form, peer_closed), frames, tally, flight) {
                        Ok(w) => writing = Some(w),
                        Err(e) => break Err(e),
                    }
                }
                None => ending = true,
            },
            _ = stop.as_mut(), if !*stopped => {
                *stopped = true;
                ending = true;
                finish_by = Some(Instant::now() + ack_timeout);
            }
            _ = tokio::time::sleep_until(deadline), if waiting => break Err(no_answer(*stopped, ack_timeout)),
            _ = tokio::time::sleep_until(recheck.unwrap_or(now).into()), if recheck.is_some() => {}
        }
    };
    abandon(writing, &in_flight, frames, tally);
    result
}

/// When to give up on the peer: the ack timeout after its last progress, or once stopped at
/// `finish_by` at the latest (a viewer answering a byte at a time must not hold a Ctrl-C, or
/// systemd's stop, for minutes), but never in the middle of `writing` a frame: the viewer
/// must not see one cut short by a stop.
fn give_up_at(
    no_progress: Instant,
    finish_by: Option<Instant>,
    writing: bool,
) -> tokio::time::Instant {
    let finish_by = finish_by.filter(|_| !writing);
    let at = finish_by.map_or(no_progress, |f| f.min(no_progress));
    tokio::time::Instant::from_std(at)
}

/// The connection failed: the frame being written goes back for reuse and every frame in
/// flight is counted as lost.
fn abandon(
    writing: Option<Writing>,
    in_flight: &VecDeque<Delivery>,
    frames: &Slot<EncodedFrame>,
    tally: &mut Tally<'_>,
) {
    if let Some(w) = writing {
        frames.recycle(w.frame);
    }
    tally.lost(in_flight.len());
}

/// The peer took no bytes and answered nothing for `after`, or (`stopped`) did not answer
/// the frames in flight within `after` of the stop.
fn no_answer(stopped: bool, after: Duration) -> ConnError {
    ConnError::Timeout {
        waiting_for: if stopped {
            "answers after the stop"
        } else {
            "ok"
        },
        after,
    }
}

/// The window's pacing as the link's configuration sets it.
fn pacer(tally: &Tally<'_>) -> Pacer {
    Pacer {
        window: tally.config.window,
        interval: tally.config.interval,
        fresh: tally.config.fresh,
    }
}

/// Matches the answers in `buf` to the frames in flight, as `form` answers.
fn match_any(
    form: &mut Form,
    buf: &mut Vec<u8>,
    in_flight: &mut VecDeque<Delivery>,
    now: Instant,
    tally: &mut Tally<'_>,
) -> Result<(), ConnError> {
    match form {
        Form::Flags => match_answers(buf, in_flight, now, tally),
        Form::Extended => match_stamped(buf, in_flight, (now, None), tally),
        Form::Sealed(s) => match_stamped(buf, in_flight, (now, Some(s)), tally),
    }
}

/// When the next frame may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Go {
    Now,
    /// When the source's next, fresher frame is ready (`--fresh`: [`Pacer::fresher_at`]).
    At(Instant),
    /// Held back by the window for a time (the link busy or late): look again soon.
    Later,
    /// Nothing to look at until something happens: a frame is being written, no more go out,
    /// or the window is full by its count (an answer wakes the loop).
    Busy,
}

impl Go {
    /// When to look again whether a frame may go.
    fn recheck(self, now: Instant) -> Option<Instant> {
        match self {
            Go::At(at) => Some(at),
            Go::Later => Some(now + RECHECK),
            Go::Now | Go::Busy => None,
        }
    }
}

/// Whether another frame may go out now, if the loop is `ready` for one: fewer than `cap` in
/// flight, and the window allows it; and with `--fresh` or on a bursty link, whether it waits
/// for a fresher one.
fn may_send(
    ready: bool,
    pacer: &Pacer,
    (in_flight, cap): (&VecDeque<Delivery>, usize),
    tally: &mut Tally<'_>,
    now: Instant,
) -> Go {
    if !ready {
        // Writing (no hold is going on then) or no more frames: a hold ends.
        tally.fresh_end(now);
        return Go::Busy;
    }
    if in_flight.len() >= cap || pacer.held_by_count(in_flight.len(), &tally.link) {
        // An answer wakes the loop: looking every RECHECK meanwhile would cost the board's
        // CPU 500 wake-ups a second while a window stays full.
        return Go::Busy;
    }
    let frames_in_flight = in_flight.iter().map(|d| (d.bytes, d.sent_at));
    if !pacer.may_send(frames_in_flight, &tally.link, now) {
        return Go::Later;
    }
    let latest = in_flight.back().map(|d| Latest {
        bytes: d.bytes,
        captured_at: d.captured_at,
        ready_after: d.ready_after,
    });
    let link = (&tally.link, tally.bursty());
    match latest.and_then(|l| pacer.fresher_at(l, link, now)) {
        Some(at) => {
            tally.fresh_hold(now);
            Go::At(at)
        }
        None => Go::Now,
    }
}

/// Starts writing `frame`: the black box keeps it, and its delivery record goes in flight
/// (the peer's ack timeout runs from now when nothing else was in flight). A peer that has
/// closed gets no new frame: the connection has failed.
fn begin(
    frame: EncodedFrame,
    (form, peer_closed): (&mut Form, bool),
    frames: &Slot<EncodedFrame>,
    tally: &mut Tally<'_>,
    (in_flight, progress): (&mut VecDeque<Delivery>, &mut Instant),
) -> Result<Writing, ConnError> {
    if peer_closed {
        // Taken from the slot, never sent: dropped.
        frames.recycle(frame);
        tally.lost(1);
        return Err(ConnError::Closed { waiting_for: "ok" });
    }
    tally.config.black_box.keep(&frame);
    if in_flight.is_empty() {
        *progress = Instant::now();
    }
    let (w, delivery) = Writing::new(frame, form, tally)?;
    in_flight.push_back(delivery);
    let bytes = in_flight.iter().map(|d| d.bytes).sum();
    tally.sending(in_flight.len(), bytes, Instant::now());
    Ok(w)
}

/// Counts `n` more bytes of the frame being written; one written in full goes back to
/// `frames` for reuse.
fn advance(writing: &mut Option<Writing>, n: usize, frames: &Slot<EncodedFrame>) {
    if let Some(w) = writing {
        w.written += n;
        if w.written >= w.total() {
            if let Some(done) = writing.take() {
                frames.recycle(done.frame);
            }
        }
    }
}

/// Writes what is left of the flag and the payload, in one call where the socket takes it.
async fn write_some<W: AsyncWrite + Unpin>(
    writer: &mut W,
    writing: Option<&Writing>,
) -> std::io::Result<usize> {
    let Some(w) = writing else {
        return Ok(0);
    };
    let (flag, payload) = (&w.header[..], w.frame.jpeg());
    let n = if w.written < flag.len() {
        let parts = [IoSlice::new(&flag[w.written..]), IoSlice::new(payload)];
        writer.write_vectored(&parts).await?
    } else {
        writer.write(&payload[w.written - flag.len()..]).await?
    };
    if n == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(n)
}

/// Matches the answers in `buf` to the frames in flight, oldest first: the first `ok` is the
/// flag's, the second the payload's, which completes the frame. Leaves an incomplete answer
/// in `buf`; anything else, or an answer no frame waits for, is an error.
fn match_answers(
    buf: &mut Vec<u8>,
    in_flight: &mut VecDeque<Delivery>,
    now: Instant,
    tally: &mut Tally<'_>,
) -> Result<(), ConnError> {
    let mut used = 0;
    let result = loop {
        let rest = &buf[used..];
        if rest.len() < ACK.len() {
            if !ACK.starts_with(rest) {
                break Err(ConnError::BadAck(rest.to_vec()));
            }
            break Ok(());
        }
        if !rest.starts_with(ACK) {
            break Err(ConnError::BadAck(rest.to_vec()));
        }
        let Some(front) = in_flight.front_mut() else {
            break Err(ConnError::BadAck(rest.to_vec()));
        };
        used += ACK.len();
        if front.header_answered.is_none() {
            front.header_answered = Some(now);
        } else if let Some(done) = in_flight.pop_front() {
            tally.acknowledged(Delivery { done: now, ..done });
        }
    };
    buf.drain(..used);
    result
}

/// Matches the extension exchange's answers in `buf` to the frames in flight, oldest first:
/// each completes a frame and is a sample of the viewer's clock. Sealed answers are opened
/// with `session` first. Leaves an incomplete answer in `buf`; a malformed or forged one, or
/// one no frame waits for, is an error.
fn match_stamped(
    buf: &mut Vec<u8>,
    in_flight: &mut VecDeque<Delivery>,
    (now, mut session): (Instant, Option<&mut Session>),
    tally: &mut Tally<'_>,
) -> Result<(), ConnError> {
    let mut used = 0;
    let result = loop {
        let rest = &buf[used..];
        let found = match session.as_deref_mut() {
            // A sealed answer is opened only when a frame waits for it: an extra one is an
            // error either way, and opening it would spend a counter for nothing.
            Some(_) if in_flight.is_empty() && !rest.is_empty() => {
                break Err(ConnError::BadAck(rest.to_vec()))
            }
            Some(s) => s.open_answer(rest).map_err(ConnError::from),
            None => Answer::parse(rest).map_err(ConnError::from),
        };
        let (answer, n) = match found {
            Ok(Some(found)) => found,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let Some(done) = in_flight.pop_front() else {
            break Err(ConnError::BadAck(buf[used..].to_vec()));
        };
        used += n;
        if let Some(t1) = done.sent_wall_us {
            tally.clock.sample(Sample {
                t1,
                t2: answer.received_us,
                t3: answer.answered_us,
                t4: clock::wall_micros(),
            });
        }
        // The viewer's own view of the payload's time on the link; absurd values say nothing.
        let held = answer.answered_us.checked_sub(answer.received_us);
        let viewer_wire = held
            .filter(|&us| us <= clock::MAX_DELAY_US)
            .map(std::time::Duration::from_micros);
        tally.acknowledged(Delivery {
            done: now,
            viewer_wire,
            viewer_times: Some((answer.received_us, answer.answered_us)),
            ..done
        });
    };
    buf.drain(..used);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::config::SenderConfig;
    use shared::cli::PeerAddr;
    use shared::{Connection, Dialect, Limits};
    use std::sync::Arc;

    fn config(frames: u64, window: usize) -> SenderConfig {
        let window = crate::link::window::Window::Fixed(window);
        SenderConfig {
            viewer: "127.0.0.1:1".parse::<PeerAddr>().unwrap(),
            dialect: Dialect::Flag,
            frames,
            quiet: true,
            ack_timeout: Duration::from_secs(5),
            window,
            fresh: false,
            ext: Arc::default(),
            black_box: Default::default(),
            interval: None,
        }
    }

    fn pending(n: usize) -> VecDeque<Delivery> {
        let now = Instant::now();
        (0..n)
            .map(|i| {
                let mut frame = EncodedFrame::default();
                frame.set_jpeg(&vec![0xFF; i + 1]);
                Delivery::of(&frame, now, true)
            })
            .collect()
    }

    /// After a stop the frames in flight get until `finish_by`, but a frame being written is
    /// never cut short by it (the peer's progress still bounds the write).
    #[test]
    fn a_stop_gives_up_at_a_frame_boundary() {
        let now = Instant::now();
        let (no_progress, finish_by) = (now + Duration::from_secs(5), Some(now));
        let at = |writing| give_up_at(no_progress, finish_by, writing).into_std();
        assert_eq!(at(false), now);
        assert_eq!(at(true), no_progress);
        assert_eq!(give_up_at(no_progress, None, false).into_std(), no_progress);
    }

    /// A window full by its count waits for an answer, not for a recheck timer (500 wake-ups
    /// a second while a slow link keeps it full); so does `auto` before anything is measured.
    #[test]
    fn a_full_window_waits_for_an_answer_not_a_timer() {
        let mut config = config(0, 3);
        let mut tally = Tally::new(&config, None);
        let now = Instant::now();
        let go = may_send(true, &pacer(&tally), (&pending(3), 3), &mut tally, now);
        assert_eq!(go, Go::Busy);
        assert_eq!(go.recheck(now), None);
        assert_eq!(
            may_send(true, &pacer(&tally), (&pending(1), 3), &mut tally, now),
            Go::Now
        );
        config.window = crate::link::window::Window::Auto;
        let mut tally = Tally::new(&config, None);
        let go = may_send(true, &pacer(&tally), (&pending(1), 16), &mut tally, now);
        assert_eq!(go, Go::Busy);
    }

    /// Three frames' six answers, cut at every point into two reads: the same three frames
    /// complete, in order, whatever the cut.
    #[test]
    fn answers_match_frames_in_order_at_every_split() {
        let wire = b"okokokokokok";
        for cut in 0..=wire.len() {
            let config = config(0, 3);
            let mut tally = Tally::new(&config, None);
            let mut in_flight = pending(3);
            let mut buf = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                buf.extend_from_slice(part);
                match_answers(&mut buf, &mut in_flight, Instant::now(), &mut tally).unwrap();
            }
            assert!(in_flight.is_empty(), "cut {cut}");
            assert!(buf.is_empty());
            assert_eq!(tally.acknowledged_frames(), 3);
            assert_eq!(tally.stats.bytes, 1 + 2 + 3);
        }
    }

    #[test]
    fn wrong_or_unexpected_answers_are_errors() {
        let config = config(0, 3);
        let mut tally = Tally::new(&config, None);
        for (bytes, frames) in [(&b"ok"[..], 0), (b"no", 1), (b"okOK", 1), (b"x", 1)] {
            let mut buf = bytes.to_vec();
            let mut in_flight = pending(frames);
            let err = match_answers(&mut buf, &mut in_flight, Instant::now(), &mut tally);
            assert!(matches!(err, Err(ConnError::BadAck(_))), "{bytes:?}");
        }
        // Half an answer waits for the rest.
        let mut buf = b"o".to_vec();
        let mut in_flight = pending(1);
        match_answers(&mut buf, &mut in_flight, Instant::now(), &mut tally).unwrap();
        assert_eq!(buf, b"o");
    }

    /// A viewer on `conn` that reads frames until the streamer closes; every payload, in order.
    fn collecting_viewer(
        mut conn: Connection<tokio::io::DuplexStream>,
    ) -> tokio::task::JoinHandle<Vec<Vec<u8>>> {
        tokio::spawn(async move {
            let mut payload = Vec::new();
            let mut got = Vec::new();
            while conn.read_frame(&mut payload).await.unwrap() {
                got.push(payload.clone());
            }
            got
        })
    }

    /// Frame `i` of the numbered ones: `0xFF ^ i`, `1000 + 100 i` times.
    fn numbered(i: usize) -> Vec<u8> {
        vec![0xFF ^ i as u8; 1000 + i * 100]
    }

    /// A source thread putting `payloads` into a newest-value slot one at a time (each waits
    /// to be taken), then, `linger` later, closing it.
    fn producing(
        payloads: Vec<Vec<u8>>,
        linger: Duration,
    ) -> (Arc<Slot<EncodedFrame>>, std::thread::JoinHandle<()>) {
        let slot = Arc::new(Slot::new());
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for payload in payloads {
                    let mut frame = EncodedFrame::default();
                    frame.set_jpeg(&payload);
                    slot.put_wait(frame).unwrap();
                }
                std::thread::sleep(linger);
                slot.close();
            })
        };
        (slot, producer)
    }

    /// Runs the loop on `stream` until the frames end (never stopped), window 3.
    async fn run_to_end<S: AsyncRead + AsyncWrite + Unpin>(
        (stream, form, unread): (S, Form, Vec<u8>),
        slot: &Slot<EncodedFrame>,
        tally: &mut Tally<'_>,
    ) -> Result<(), ConnError> {
        let stop = std::future::pending::<()>();
        tokio::pin!(stop);
        let mut stopped = false;
        run(
            stream,
            (form, 3),
            unread,
            slot,
            tally,
            stop.as_mut(),
            &mut stopped,
        )
        .await
    }

    /// The whole loop against our own viewer's side of the protocol, over an in-memory pipe:
    /// every frame arrives, and each is acknowledged.
    #[tokio::test]
    async fn sends_every_frame_to_a_viewer_over_a_pipe() {
        let (a, b) = tokio::io::duplex(4096);
        let viewer = collecting_viewer(Connection::new(b, Limits::default()));
        let (slot, producer) = producing((0..50).map(numbered).collect(), Duration::ZERO);
        let config = config(0, 3);
        let mut tally = Tally::new(&config, None);
        run_to_end((a, Form::Flags, Vec::new()), &slot, &mut tally)
            .await
            .unwrap();
        producer.join().unwrap();
        let got = viewer.await.unwrap();
        assert_eq!(got.len(), 50);
        for (i, p) in got.iter().enumerate() {
            assert_eq!(p, &numbered(i));
        }
        assert_eq!(tally.acknowledged_frames(), 50);
        assert_eq!(tally.stats.lost, 0);
    }

    /// The sealed form: the handshake with a secret, then every frame sealed in place in its
    /// own buffer and every answer opened; our viewer reads each picture as it was.
    #[tokio::test]
    async fn sends_every_frame_sealed_to_a_viewer_with_the_secret() {
        use shared::wire::connection::Extension;
        let secret = |name: &str| {
            Arc::new(Extension {
                name: name.into(),
                window: 4,
                secret: Some(Arc::from(&b"k"[..])),
            })
        };
        let (a, b) = tokio::io::duplex(4096);
        let viewer =
            collecting_viewer(Connection::new(b, Limits::default()).with_extension(secret("")));
        let mut conn = Connection::with_dialect(a, Limits::default(), Dialect::Flag);
        let meta = ext::FrameMeta::default();
        let first = conn
            .send_first_frame_negotiating(b"\xFF\xD8", meta, &secret("s"), &mut |_| None)
            .await
            .unwrap();
        assert_eq!(
            first.0,
            shared::wire::connection::Negotiated::Extended { window: 4 }
        );
        let session = conn.take_session().expect("sealed with the secret");
        let (stream, unread) = conn.into_parts();
        let (slot, producer) = producing((0..30).map(numbered).collect(), Duration::ZERO);
        let config = config(0, 3);
        let mut tally = Tally::new(&config, None);
        run_to_end((stream, Form::Sealed(session), unread), &slot, &mut tally)
            .await
            .unwrap();
        producer.join().unwrap();
        let got = viewer.await.unwrap();
        assert_eq!(got.len(), 31);
        for (i, p) in got[1..].iter().enumerate() {
            assert_eq!(p, &numbered(i));
        }
        assert_eq!(tally.acknowledged_frames(), 30);
    }

    /// A viewer on `b` that reads `n` frames, answering them, and leaves.
    fn leaving_after(n: usize, b: tokio::io::DuplexStream) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut conn = Connection::new(b, Limits::default());
            let mut payload = Vec::new();
            for _ in 0..n {
                assert!(conn.read_frame(&mut payload).await.unwrap());
            }
        })
    }

    /// A viewer that leaves after the last frame (`viewer --frames 3`) before the source has
    /// said it ended: not a failure to reconnect after, as strict sending would not see it.
    #[tokio::test]
    async fn a_viewer_leaving_after_the_last_frame_is_not_a_failure() {
        let (a, b) = tokio::io::duplex(4096);
        let viewer = leaving_after(3, b);
        // The source ends well after the viewer has gone.
        let frames = (0..3).map(|i| vec![i; 500]).collect();
        let (slot, producer) = producing(frames, Duration::from_millis(300));
        let config = config(0, 3);
        let mut tally = Tally::new(&config, None);
        let result = run_to_end((a, Form::Flags, Vec::new()), &slot, &mut tally).await;
        producer.join().unwrap();
        viewer.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(tally.acknowledged_frames(), 3);
    }

    /// A viewer that leaves between frames: the next frame, taken from the slot and never
    /// sent, is counted as lost (it was in no count: `frames + dropped` fell short).
    #[tokio::test]
    async fn a_frame_taken_after_the_viewer_left_is_counted_lost() {
        let (a, b) = tokio::io::duplex(4096);
        let viewer = leaving_after(3, b);
        let slot = Arc::new(Slot::new());
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for i in 0..4u8 {
                    if i == 3 {
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    let mut frame = EncodedFrame::default();
                    frame.set_jpeg(&[i; 500]);
                    slot.put_wait(frame).unwrap();
                }
                slot.close();
            })
        };
        let config = config(0, 3);
        let mut tally = Tally::new(&config, None);
        let result = run_to_end((a, Form::Flags, Vec::new()), &slot, &mut tally).await;
        producer.join().unwrap();
        viewer.await.unwrap();
        assert!(result.is_err(), "{result:?}");
        assert_eq!((tally.acknowledged_frames(), tally.stats.lost), (3, 1));
    }

    /// Stopped with three frames in flight and a viewer answering one byte every 300 ms
    /// (never silent for the 1 s ack timeout, 3.6 s for all): the loop ends one ack timeout
    /// after the stop, the unanswered frames counted lost, not when the viewer pleases.
    #[tokio::test]
    async fn a_stop_is_not_held_by_a_viewer_answering_a_byte_at_a_time() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, b) = tokio::io::duplex(1 << 20);
        let (mut from, mut to) = tokio::io::split(b);
        tokio::spawn(async move {
            let mut sink = vec![0; 4096];
            while matches!(from.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        tokio::spawn(async move {
            for byte in b"ok".iter().cycle() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if to.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
        });
        let (slot, producer) = producing((0..3).map(numbered).collect(), Duration::ZERO);
        let mut config = config(0, 3);
        config.ack_timeout = Duration::from_secs(1);
        let mut tally = Tally::new(&config, None);
        let stop = tokio::time::sleep(Duration::from_millis(200));
        tokio::pin!(stop);
        let mut stopped = false;
        let form = (Form::Flags, 3);
        let result = run(a, form, Vec::new(), &slot, &mut tally, stop, &mut stopped).await;
        producer.join().unwrap();
        assert!(stopped && result.is_err(), "{result:?}");
        assert!(tally.stats.lost >= 1, "every frame waited for");
    }
}
