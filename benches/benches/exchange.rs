//! What the extension exchange costs a frame on each side (issue target: at most 0.05 ms of
//! CPU a frame each): the streamer making a frame's records and header, reading its answer and
//! feeding the clock estimator; the viewer reading the header, answering and working out glass
//! and its stages.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use shared::wire::clock::{self, ClockEstimator, Sample};
use shared::wire::connection::InBand;
use shared::wire::ext::{self, Answer};
use streamer::encode::encoder::EncodedFrame;
use streamer::link::times;
use viewer::stats::glass::{self, Timing};

fn exchange(c: &mut Criterion) {
    let frame = EncodedFrame::default();
    let mut estimator = ClockEstimator::new();
    let mut header = Vec::with_capacity(64);
    let mut t = clock::wall_micros();
    c.bench_function("streamer: records, header, answer, clock sample", |b| {
        b.iter(|| {
            t += 33_333;
            let meta = times::frame_meta(&frame, Instant::now(), estimator.estimate(t));
            header.clear();
            ext::encode_frame_header(100_000, &meta, &mut header);
            let answer = Answer {
                received_us: t + 1000,
                answered_us: t + 1100,
            }
            .encode();
            let (a, _) = Answer::parse(&answer).unwrap().unwrap();
            let _ = estimator.add(Sample {
                t1: t,
                t2: a.received_us,
                t3: a.answered_us,
                t4: t + 2000,
            });
            std::hint::black_box(&header);
        })
    });
    let meta = times::frame_meta(
        &frame,
        Instant::now(),
        Some(clock::Estimate {
            offset_us: 5,
            error_us: 400,
        }),
    );
    ext::encode_frame_header(100_000, &meta, &mut header);
    c.bench_function("viewer: header, answer, glass and stages", |b| {
        b.iter(|| {
            let h = ext::parse_frame_header(&header, 1 << 25).unwrap().unwrap();
            let now = clock::wall_micros();
            let answer = Answer {
                received_us: now,
                answered_us: now,
            }
            .encode();
            let timing = Timing {
                in_band: InBand {
                    meta: h.meta,
                    received_us: now,
                    complete_us: now,
                },
                decoded_us: now,
            };
            std::hint::black_box((answer, glass::stages(&timing, now)))
        })
    });
}

criterion_group!(benches, exchange);
criterion_main!(benches);
