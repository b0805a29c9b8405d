//! Fuzzes the extension exchange's parsers (docs/PROTOCOL.md, "Extensions"): hellos, `F`
//! frame headers and timestamped answers. The first byte picks the maximum frame size, the
//! rest is what a peer sends. No input may panic; what parses must stay within the buffer and
//! the maximum, and an answer must encode back to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::wire::ext::{parse_frame_header, Answer, Hello};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, bytes)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(knob) * 4099;
    if let Ok(Some((hello, consumed))) = Hello::parse(bytes) {
        assert!(consumed <= bytes.len());
        // What parsed encodes and parses again to the same hello.
        let mut again = Vec::new();
        hello.encode(&mut again);
        // (A body at the size limit may grow past it: `times` always encodes both records.)
        if let Ok(Some((reparsed, _))) = Hello::parse(&again) {
            assert_eq!(reparsed, hello);
        }
    }
    if let Ok(Some(header)) = parse_frame_header(bytes, max) {
        assert!(header.consumed <= bytes.len());
        assert!(header.len <= max);
    }
    if let Ok(Some((answer, consumed))) = Answer::parse(bytes) {
        assert!(consumed <= bytes.len());
        assert_eq!(Answer::parse(&answer.encode()), Ok(Some((answer, Answer::LEN))));
    }
});
