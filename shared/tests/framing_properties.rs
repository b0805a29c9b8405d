//! Property tests: random bytes in random splits, in every dialect, never make the framing
//! code panic, hang or hold more memory than the bytes that arrived allow.

use std::time::Duration;

use proptest::prelude::*;
use shared::wire::protocol::{parse_header, Dialect, Header};
use shared::{Connection, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAX: usize = 4096;

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![
        Just(Dialect::Flag),
        Just(Dialect::Size),
        Just(Dialect::Len32)
    ]
}

/// Random bytes, often starting like a real header so that the deeper paths are reached.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop_oneof![
        Just(Vec::new()),
        Just(b"12, ".to_vec()),
        Just(b"SIZE 9".to_vec()),
        Just(vec![0, 0, 0, 5]),
        Just(b"4096, ".to_vec()),
        Just(b"BYE BYE ".to_vec()),
    ];
    (prefix, proptest::collection::vec(any::<u8>(), 0..3000)).prop_map(|(mut p, rest)| {
        p.extend(rest);
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn parse_header_never_panics_and_respects_the_maximum(d in dialect(), bytes in stream()) {
        match parse_header(d, &bytes, MAX) {
            Ok(Header::Frame { len, consumed, .. }) => {
                prop_assert!((1..=MAX).contains(&len));
                prop_assert!(consumed <= bytes.len());
            }
            Ok(Header::LengthSoFar { len, consumed }) => {
                prop_assert!(len <= MAX);
                prop_assert_eq!(consumed, bytes.len());
            }
            Ok(Header::End { consumed }) => prop_assert!(consumed <= bytes.len()),
            Ok(Header::Incomplete) | Err(_) => {}
        }
    }

    #[test]
    fn connection_survives_random_bytes_in_random_splits(
        bytes in stream(),
        cuts in proptest::collection::vec(1usize..600, 0..12),
    ) {
        drive(bytes, cuts);
    }
}

/// Feeds `bytes` to a viewer-side connection in pieces cut at `cuts`; returns the frames read.
fn drive(bytes: Vec<u8>, cuts: Vec<usize>) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (mut client_rx, mut client_tx) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            let mut rest = &bytes[..];
            for cut in cuts {
                let n = cut.min(rest.len());
                let _ = client_tx.write_all(&rest[..n]).await;
                rest = &rest[n..];
                tokio::task::yield_now().await;
            }
            let _ = client_tx.write_all(rest).await;
            let _ = client_tx.shutdown().await;
        });
        // Whatever the viewer answers is read and thrown away, as a peer would.
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = client_rx.read_to_end(&mut sink).await;
        });
        let limits = Limits {
            max_frame_bytes: MAX,
            read_timeout: Duration::from_secs(1),
            ack_timeout: Duration::from_secs(1),
        };
        let mut conn = Connection::new(server, limits);
        let mut payload = Vec::new();
        let mut frames = 0;
        for _ in 0..1000 {
            match conn.read_frame(&mut payload).await {
                Ok(true) => {
                    assert!(!payload.is_empty() && payload.len() <= MAX);
                    assert!(payload.capacity() <= 2 * MAX.max(256 * 1024));
                    frames += 1;
                }
                Ok(false) | Err(_) => break,
            }
        }
        drop(conn);
        let _ = writer.await;
        let _ = reader.await;
        frames
    })
}

#[test]
fn the_harness_reads_real_frames() {
    assert_eq!(drive(b"3, \xFF\xD8\xD92, ab".to_vec(), vec![2, 1, 1]), 2);
    assert_eq!(drive(b"SIZE 2ab".to_vec(), vec![]), 1);
    assert_eq!(drive(vec![0, 0, 0, 1, 7, 0, 0, 0, 1, 8], vec![3, 3]), 2);
}
