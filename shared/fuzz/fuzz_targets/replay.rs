//! Fuzzes the recording readers a replayed file goes through (`streamer --source FILE.mkv`,
//! `viewer --play`): Matroska/WebM, AVI and concatenated JPEGs (`.mjpeg`, whose JPEG scanner
//! the HTTP feed uses too). The first byte picks the reader and the largest frame, the rest
//! is the file. No input may panic or loop; every frame found must lie
//! within the file and under the largest frame, in order, and rewinding gives them again.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use shared::files::matroska::read::MkvReader;
use shared::files::replay::avi::AviReader;
use shared::files::replay::mjpeg::MjpegReader;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, file)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(knob >> 2) * 997;
    let size = file.len() as u64;
    let within = |offset: u64, len: u64| offset.checked_add(len).is_some_and(|end| end <= size);
    let check = |offset: u64, len: u64| {
        assert!(len <= max as u64, "frame of {len} bytes over {max}");
        assert!(within(offset, len));
    };
    if knob & 3 == 0 {
        let Ok(mut reader) = MkvReader::open(Cursor::new(file), max) else {
            return;
        };
        let next = |r: &mut MkvReader<_>| r.next_block().ok().flatten();
        twice(
            &mut reader,
            next,
            |r| r.rewind().is_ok(),
            |_, b| check(b.offset, b.len),
        );
    } else if knob & 3 == 1 {
        let Ok(mut reader) = MjpegReader::open(Cursor::new(file), max) else {
            return;
        };
        let next = |r: &mut MjpegReader<_>| r.next_frame().ok().flatten();
        twice(
            &mut reader,
            next,
            |r| r.rewind().is_ok(),
            |before, e| {
                // Bytes between JPEGs come as an entry of their own, which may be over the largest
                // frame (reading it is refused, and the replay skips it): within the file, after
                // the entry before, and never empty.
                let after = before.last().map_or(0, |b| b.offset + b.len);
                assert!(e.len > 0 && e.offset >= after && within(e.offset, e.len));
            },
        );
    } else {
        let Ok(mut reader) = AviReader::open(Cursor::new(file), max) else {
            return;
        };
        let next = |r: &mut AviReader<_>| r.next_frame().ok().flatten();
        twice(
            &mut reader,
            next,
            |r| r.rewind().is_ok(),
            |_, e| check(e.offset, e.len),
        );
    }
});

/// Every entry `next` gives, each passing `check` (with the ones before it); then, once
/// `rewind` worked, the same ones again.
fn twice<R, E: PartialEq + std::fmt::Debug>(
    reader: &mut R,
    next: impl Fn(&mut R) -> Option<E>,
    rewind: impl Fn(&mut R) -> bool,
    mut check: impl FnMut(&[E], &E),
) {
    let mut first = Vec::new();
    while let Some(e) = next(reader) {
        check(&first, &e);
        first.push(e);
    }
    if rewind(reader) {
        let again: Vec<E> = std::iter::from_fn(|| next(reader))
            .take(first.len())
            .collect();
        assert_eq!(again, first);
    }
}
