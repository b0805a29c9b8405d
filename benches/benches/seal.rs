//! What sealing costs a frame with `--secret` (issue 28 target: at most 0.3 ms a frame at 720p
//! quality 40, about 100 KB): the streamer sealing a frame in place (its records, the
//! ChaCha20-Poly1305 pass, the tag), the viewer opening it in place, and one answer both ways.
//! The cost grows with the bytes only, so a 100 KB buffer stands for the 720p q40 frame.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shared::wire::ext::{self, Answer, FrameMeta};
use shared::wire::seal::{self, Role, Session};

/// About a 1280x720 frame at quality 40 from the camera-like bench picture.
const FRAME_BYTES: usize = 100_000;

fn sessions() -> (Session, Session) {
    let nonces = (&[1u8; 16], &[2u8; 16]);
    let t = [7u8; 32];
    (
        Session::derive(b"bench secret", Role::Streamer, nonces, &t),
        Session::derive(b"bench secret", Role::Viewer, nonces, &t),
    )
}

fn meta() -> FrameMeta {
    FrameMeta {
        capture_us: Some(1_796_000_000_000_000),
        encoded_us: Some(5_000),
        sent_us: Some(6_000),
        clock: Some((3_600_000_000, 400)),
    }
}

/// The frame's buffer as the encoder leaves it, with room for the records and the tag.
fn frame_buffer() -> Vec<u8> {
    let mut buf: Vec<u8> = (0..FRAME_BYTES).map(|i| (i * 7 + i / 251) as u8).collect();
    buf.reserve(64 + seal::TAG_BYTES);
    buf
}

/// Seals `buf` (its first `FRAME_BYTES` bytes the picture) as the link does; returns the header.
fn seal_in_place(s: &mut Session, buf: &mut Vec<u8>, records: &mut Vec<u8>) -> [u8; 6] {
    records.clear();
    ext::encode_records(&meta(), records);
    buf.truncate(FRAME_BYTES);
    buf.extend_from_slice(records);
    buf.resize(buf.len() + seal::TAG_BYTES, 0);
    s.seal_frame(buf, FRAME_BYTES, records.len()).unwrap()
}

fn sealing(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal");
    group.throughput(Throughput::Bytes(FRAME_BYTES as u64));
    let (mut s, mut v) = sessions();
    let mut buf = frame_buffer();
    let mut records = Vec::with_capacity(64);
    group.bench_function("streamer: seal a 100 KB frame in place", |b| {
        b.iter(|| std::hint::black_box(seal_in_place(&mut s, &mut buf, &mut records)))
    });
    // Opening needs each frame sealed under the next counter: sealed outside the timing.
    let (mut s, _) = sessions();
    let plain = frame_buffer();
    group.bench_function("viewer: open a 100 KB sealed frame in place", |b| {
        b.iter_batched_ref(
            || {
                let mut buf = plain.clone();
                let head = seal_in_place(&mut s, &mut buf, &mut records);
                (
                    seal::parse_frame_header(&head, 1 << 25).unwrap().unwrap(),
                    buf,
                )
            },
            |(head, body)| std::hint::black_box(v.open_frame(head, body).unwrap()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    let (mut s, mut v) = sessions();
    let answer = Answer {
        received_us: 1_796_000_000_004_000,
        answered_us: 1_796_000_000_004_100,
    };
    c.bench_function("answer: viewer seals, streamer opens", |b| {
        b.iter(|| {
            let sealed = v.seal_answer(&answer).unwrap();
            std::hint::black_box(s.open_answer(&sealed).unwrap())
        })
    });
}

criterion_group!(benches, sealing);
criterion_main!(benches);
