//! Fuzzes the strip splitter the viewer runs on every JPEG: recognizing a sliced layout must
//! never panic, and every strip it yields lies within the input and is a JPEG of its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::media::jpeg_slices::Split;

fuzz_target!(|data: &[u8]| {
    let Some(split) = Split::parse(data) else {
        return;
    };
    assert!((2..=shared::media::jpeg_slices::MAX_STRIPS).contains(&split.plan.count));
    let mut rows = 0;
    let mut strip = Vec::new();
    for i in 0..split.plan.count {
        split.strip_jpeg(data, i, &mut strip);
        assert!(strip.starts_with(&[0xFF, 0xD8]) && strip.ends_with(&[0xFF, 0xD9]));
        rows += split.plan.strip(i).1;
    }
    assert_eq!(rows, split.size.1);
});
