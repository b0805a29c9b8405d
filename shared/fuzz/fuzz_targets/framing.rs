//! Fuzzes the framing: the first byte picks the maximum frame size and the split size, the
//! rest is what a peer sends. Parsing must never panic, declared lengths never pass the
//! maximum, and a viewer-side connection must end (frame, clean end or error) on any input.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shared::wire::protocol::{parse_header, Dialect, Header};
use shared::{Connection, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, stream)) = data.split_first() else {
        return;
    };
    let max = 1 + usize::from(knob) * 97;
    for dialect in [Dialect::Flag, Dialect::Size, Dialect::Len32] {
        match parse_header(dialect, stream, max) {
            Ok(Header::Frame { len, consumed, .. }) => {
                assert!((1..=max).contains(&len) && consumed <= stream.len())
            }
            Ok(Header::LengthSoFar { len, consumed }) => {
                assert!(len <= max && consumed == stream.len())
            }
            Ok(Header::End { consumed }) => assert!(consumed <= stream.len()),
            Ok(Header::Incomplete) | Err(_) => {}
        }
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let split = 1 + usize::from(knob % 17);
    let bytes = stream.to_vec();
    runtime.block_on(async move {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (mut rx, mut tx) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(split) {
                let _ = tx.write_all(chunk).await;
                tokio::task::yield_now().await;
            }
            let _ = tx.shutdown().await;
        });
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = rx.read_to_end(&mut sink).await;
        });
        let limits = Limits {
            max_frame_bytes: max,
            read_timeout: Duration::from_secs(1),
            ack_timeout: Duration::from_secs(1),
        };
        let mut conn = Connection::new(server, limits);
        let mut payload = Vec::new();
        while let Ok(true) = conn.read_frame(&mut payload).await {
            assert!(!payload.is_empty() && payload.len() <= max);
        }
        drop(conn);
        let _ = writer.await;
        let _ = reader.await;
    });
});
