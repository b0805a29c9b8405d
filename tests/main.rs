//! End-to-end tests: the real `streamer` and `viewer` binaries on 127.0.0.1 with
//! OS-assigned ports, and the real window under Xvfb. Build the binaries first
//! (`cargo build --workspace`; `scripts/test.sh` does).
//!
//! - [`end_to_end`]: a headless viewer and a test-pattern streamer, frame counts, picture quality.
//! - [`dialects`]: every dialect, both directions, against scripted reference peers.
//! - [`robustness`]: start orders, restarts, hostile peers, concurrency, signals.
//! - [`slices`]: `--slices` frames against every common decoder and the reference receiver.
//! - [`window`]: the window under Xvfb: size, pattern colours, letterboxing, waiting screen.

mod dialects;
mod end_to_end;
mod robustness;
mod slices;
mod support;
mod window;
