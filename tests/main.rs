//! End-to-end tests: the real `streamer` and `viewer` binaries on 127.0.0.1 with
//! OS-assigned ports, and the real window under Xvfb. Build the binaries first
//! (`cargo build --workspace`; `scripts/test.sh` does).
//!
//! - [`end_to_end`]: a headless viewer and a test-pattern streamer, frame counts, picture quality.
//! - [`clocks`]: glass-to-glass with the streamer's clock shifted and stepped (libfaketime),
//!   hostile timestamps, the figures in the hub.
//! - [`dialects`]: every dialect, both directions, against scripted reference peers.
//! - [`link`]: over emulated Wi-Fi/LTE links: overlapping frames, `--adapt`, reference peers.
//! - [`robustness`]: start orders, restarts, hostile peers, concurrency, signals.
//! - [`pipes`]: `--source -` fed by ffmpeg, GStreamer and the OpenCV example, `--source http://`
//!   against a scripted MJPEG server, freshness behind a slow link, every bad input.
//! - [`hub`]: `viewer --http`: browsers, ffmpeg, OpenCV, Prometheus, many and hostile clients.
//! - [`secret`]: `--secret` on both programs: right, wrong, missing, reference, replayed.
//! - [`port`]: the streamer port under a flood of silent sockets; huge picture headers.
//! - [`tamper`]: `--secret` through an on-path relay that flips, replays, drops, injects
//!   frames and forges answers; what the relay sees.
//! - [`hub_fair`]: the hub against one greedy address, floods, half-closed clients;
//!   `--http-auth` and password guessing slowed per address.
//! - [`hub_tls`]: the hub over https (curl, ffmpeg), its key file, the `Host` check, MJPEG
//!   boundaries.
//! - [`slices`]: `--slices` frames against every common decoder and the reference receiver.
//! - [`play`]: `viewer --play` under Xvfb: pause, step, seek on the timeline, speed; headless.
//! - [`replay`]: `streamer --source FILE.mkv/.avi/.mjpeg`: byte for byte, timed, looped, bad files.
//! - [`window`]: the window under Xvfb: size, pattern colours, letterboxing, waiting screen.
//! - [`black_box`]: `streamer --black-box`: SIGUSR1 and on-loss dumps, a missing directory.
//! - [`record`]: `viewer --record`: a probe first, reconnects, a directory of streams.
//! - [`optical`]: `viewer --optical` under Xvfb, the window filmed by ffmpeg's x11grab: the
//!   whole loop measured, a delayed link, a small rough picture, no marker.
//! - [`mcap`]: MCAP recordings read by PyPI `mcap`/`mcap-ros2-support` and rerun-sdk, a
//!   `kill -9` cut, `--source`/`--play FILE.mcap`, `--topic`, another writer's files.
//! - [`options`]: IPv6 and host names, `--workers`, `.webm` sources, the viewer's `--size`,
//!   flag validation.
//! - [`field`]: the window's field tools under Xvfb: figures band, pause, snapshot, recording,
//!   zoom and inspect, focus.
//! - [`ros2`]: ROS 2 image topics against Eclipse Cyclone DDS, each test in a network namespace
//!   of its own: JPEGs byte for byte, a bgr8 `Image`, `--ros2-publish`, restarts, bad messages.

mod black_box;
mod clocks;
mod dialects;
mod end_to_end;
mod field;
mod foxglove;
mod go2rtc;
mod hub;
mod hub_fair;
mod hub_tls;
mod link;
mod mcap;
mod optical;
mod options;
mod pipes;
mod play;
mod port;
mod record;
mod replay;
mod robustness;
mod ros2;
mod secret;
mod slices;
mod support;
mod tamper;
mod window;
