//! Codec benchmarks at 640x480, 1280x720 and 1920x1080 on a camera-like picture: encoding at
//! quality 40 from I420 and from YUYV (the streamer's real encoder, buffers reused) and
//! decoding into the window's pixel layout (the viewer's real decoder); then `--slices 2`:
//! sliced encoding, and the sliced frame decoded split and decoded whole.

use std::time::Instant;

use benches::{i420_to_yuyv, Photo, SIZES};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use streamer::encode::encoder::{EncodedFrame, Encoder};
use streamer::source::{PixelFormat, RawFrame};
use viewer::board::Picture;
use viewer::decode::Decoder;

fn frame(data: Vec<u8>, w: usize, h: usize, format: PixelFormat) -> RawFrame {
    RawFrame {
        data,
        width: w,
        height: h,
        format,
        captured_at: Instant::now(),
        index: 0,
        mark: None,
    }
}

fn codec(c: &mut Criterion) {
    let photo = Photo::load().unwrap_or_else(|e| panic!("{e:#}"));
    for (w, h) in SIZES {
        let id = format!("{w}x{h}");
        let i420 = photo.i420(w, h, 0);
        let yuyv = i420_to_yuyv(&i420, w, h);
        let mut encoder = Encoder::new(shared::DEFAULT_QUALITY).unwrap();
        let mut out = EncodedFrame::default();

        let mut group = c.benchmark_group("encode_q40");
        group.throughput(Throughput::Elements(1));
        let mut raw = frame(i420.clone(), w, h, PixelFormat::I420);
        group.bench_function(BenchmarkId::new("from_i420", &id), |b| {
            b.iter(|| encoder.encode(&mut raw, &mut out).unwrap())
        });
        let mut raw = frame(yuyv, w, h, PixelFormat::Yuyv);
        group.bench_function(BenchmarkId::new("from_yuyv", &id), |b| {
            b.iter(|| encoder.encode(&mut raw, &mut out).unwrap())
        });
        group.finish();

        let mut raw = frame(i420, w, h, PixelFormat::I420);
        encoder.encode(&mut raw, &mut out).unwrap();
        let jpeg = out.jpeg().to_vec();
        let mut decoder = Decoder::new().unwrap();
        let mut picture = Picture::default();
        let mut group = c.benchmark_group("decode_to_window_pixels");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("full", &id), |b| {
            b.iter(|| decoder.decode(&jpeg, &mut picture, None).unwrap())
        });
        group.bench_function(BenchmarkId::new("dct_half", &id), |b| {
            b.iter(|| {
                decoder
                    .decode(&jpeg, &mut picture, Some((w / 2, h / 2)))
                    .unwrap()
            })
        });
        group.finish();

        let mut sliced = Encoder::with_slices(shared::DEFAULT_QUALITY, 2).unwrap();
        let mut group = c.benchmark_group("sliced_2");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("encode_from_i420", &id), |b| {
            b.iter(|| sliced.encode(&mut raw, &mut out).unwrap())
        });
        let jpeg = out.jpeg().to_vec();
        group.bench_function(BenchmarkId::new("decode_split", &id), |b| {
            b.iter(|| decoder.decode(&jpeg, &mut picture, None).unwrap())
        });
        decoder.set_split(false);
        group.bench_function(BenchmarkId::new("decode_whole", &id), |b| {
            b.iter(|| decoder.decode(&jpeg, &mut picture, None).unwrap())
        });
        decoder.set_split(true);
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = codec
}
criterion_main!(benches);
