//! What the link needs to know from the command line; the sender, the overlapping loop and
//! the per-frame accounting all read it.

use std::sync::Arc;
use std::time::Duration;

use shared::cli::PeerAddr;
use shared::wire::connection::Extension;
use shared::Dialect;

use crate::black_box::Feed;
use crate::link::window::Window;

/// What the sender needs to know.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub viewer: PeerAddr,
    pub dialect: Dialect,
    /// Stop after this many acknowledged frames (0: never).
    pub frames: u64,
    pub quiet: bool,
    pub ack_timeout: Duration,
    /// Frames that may be in flight at once (`--window`); `Fixed(1)` is strict stop-and-wait.
    pub window: Window,
    /// `--fresh`: on a link too slow for every frame, wait for a fresher frame.
    pub fresh: bool,
    /// The source's frame interval (`None`: unpaced): a frame the link could not start on
    /// within about this long waits, and a newer one replaces it.
    pub interval: Option<Duration>,
    /// What the extension exchange says of this stream: its name, the shared secret.
    pub ext: Arc<Extension>,
    /// Where each frame that goes out is also kept (`--black-box`; does nothing when off).
    pub black_box: Feed,
}
