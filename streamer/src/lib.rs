//! The streamer: captures frames, encodes them to JPEG and sends them to a viewer.
//!
//! # Layout
//!
//! A frame goes [`source`] → [`encode`] → [`link`]; only [`pipeline`] knows that order.
//! - [`config`]: the command line, parsed and checked, as one [`Config`].
//! - [`pipeline`]: [`run`]: the capture thread, the encode stage and the link, joined by
//!   newest-value slots; the summary line.
//! - [`source`]: what every source delivers ([`source::RawFrame`]) and how `--source` picks one.
//!   - [`source::capture`]: runs a source on its own thread, paced, into a newest-value slot.
//!   - [`source::pattern`], [`source::y4m`], [`source::still`]: the test pattern, YUV4MPEG2
//!     files, still images.
//!   - [`source::camera`]: V4L2 cameras (folder: formats and modes, devices, live capture);
//!     `no_camera.rs` stands in off Linux.
//!   - [`source::pipe`], [`source::mjpeg_http`]: frames from another program (`--source -`)
//!     or an MJPEG-over-HTTP server, read on their own thread by a [`source::feed`];
//!     [`shared::media::jpeg_scan`] finds where each JPEG ends.
//!   - [`source::resize`]: `--size` for JPEG from a pipe or HTTP (DCT scaling, then bilinear).
//!   - [`source::range`]: limited-to-full YUV range, shared by the YUV sources.
//! - [`encode`]: the encode stage, `--workers` encoders publishing in capture order.
//!   - [`encode::encoder`]: JPEG encoding with one reused turbojpeg compressor.
//!   - [`encode::slices`]: `--slices`, one frame encoded as strips on several cores and joined.
//!   - [`encode::halve`]: halving planar pictures before encoding when the link is too slow.
//!   - [`encode::knobs`]: the quality and halving the encoders use now (turned by `--adapt`).
//!   - [`encode::layout`]: libjpeg-turbo's planar layout, and our planes padded to it at odd sizes.
//! - [`link`]: the connection to the viewer.
//!   - [`link::sender`]: connects and reconnects; strict stop-and-wait sending.
//!   - [`link::overlap`]: the negotiated form with several frames in flight (`--window`).
//!   - [`link::tally`]: what both share: each frame's delivery and the run's statistics.
//!   - [`link::report`]: the per-frame lines and the notes printed along the way.
//!   - [`link::adapt`]: `--adapt`, JPEG quality and picture size following the link.
//!   - [`link::config`]: what the link needs to know.
//! - [`black_box`]: `--black-box`, the last seconds of sent frames kept in memory
//!   ([`black_box::ring`]) and written as a Matroska file on demand ([`black_box::dump`]).

pub mod black_box;
pub mod config;
pub mod encode;
pub mod link;
pub mod pipeline;
pub mod source;

pub use config::Config;
pub use pipeline::run;
