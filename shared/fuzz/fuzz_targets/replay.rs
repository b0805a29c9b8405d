//! Fuzzes the recording readers a replayed file goes through (`streamer --source FILE.mkv`,
//! `viewer --play`): Matroska/WebM and AVI. The first byte picks the reader and the largest
//! frame, the rest is the file. No input may panic or loop; every frame found must lie
//! within the file and under the largest frame, in order, and rewinding gives them again.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use shared::files::matroska::read::MkvReader;
use shared::files::replay::avi::AviReader;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, file)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(knob >> 1) * 997;
    let size = file.len() as u64;
    let check = |offset: u64, len: u64| {
        assert!(len <= max as u64, "frame of {len} bytes over {max}");
        assert!(offset.checked_add(len).is_some_and(|end| end <= size));
    };
    if knob & 1 == 0 {
        let Ok(mut reader) = MkvReader::open(Cursor::new(file), max) else {
            return;
        };
        let mut first = Vec::new();
        while let Ok(Some(block)) = reader.next_block() {
            check(block.offset, block.len);
            first.push(block);
        }
        if reader.rewind().is_ok() {
            let again: Vec<_> = std::iter::from_fn(|| reader.next_block().ok().flatten())
                .take(first.len())
                .collect();
            assert_eq!(again, first);
        }
    } else {
        let Ok(mut reader) = AviReader::open(Cursor::new(file), max) else {
            return;
        };
        let mut first = Vec::new();
        while let Ok(Some(entry)) = reader.next_frame() {
            check(entry.offset, entry.len);
            first.push(entry);
        }
        if reader.rewind().is_ok() {
            let again: Vec<_> = std::iter::from_fn(|| reader.next_frame().ok().flatten())
                .take(first.len())
                .collect();
            assert_eq!(again, first);
        }
    }
});
