//! The camera source: V4L2 capture (YUYV, NV12, MJPG, GREY, RGB3, BGR3), device choice, mode
//! negotiation, `--list-cameras`, and recovery when the camera goes away. Each dequeued frame
//! is copied out at once (limited-range YUV stretched to full range on the way) and older
//! frames still waiting in the driver are skipped, so what goes out is always the newest.
//!
//! Here: [`Camera`], the source that survives unplugging. [`modes`]: what can be asked of a
//! camera and choosing a mode; [`device`]: which nodes are cameras, what they offer,
//! `--list-cameras`; [`conf`]: its `/etc/streamer/NAME.conf` blocks; `live`: one streaming device and its newest frame.
//!
//! This talks to V4L2 through the `v4l` crate, the layer nokhwa 0.10's V4L2 backend is built
//! on, rather than through nokhwa itself, because nokhwa's layer bites here: it names grey
//! `GRAY` where V4L2 says `GREY` (so grey can be neither listed nor set), drops frame
//! intervals whose numerator is not 1 (vivid's 12.5 fps, a camera's 29.97) and even refuses to
//! open a camera currently set to one, its `Closest` picks the rate for the requested size
//! rather than the size it chose, its device list includes output and metadata nodes, and its
//! frame read has no timeout, so a stalled camera would hang the capture thread.

pub mod conf;
pub mod device;
mod live;
pub mod modes;

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

pub use device::list;
pub use modes::{CameraFormat, CameraRequest, CameraSpec, DEFAULT_FPS};

use crate::source::{PixelFormat, RawFrame, Source};
use device::Identity;
use live::{start, Live, Skips};
use modes::Mode;

/// How often a lost camera is looked for again.
const RETRY: Duration = Duration::from_secs(1);

/// A V4L2 camera as a [`Source`]; survives being unplugged.
pub struct Camera {
    request: CameraRequest,
    live: Option<Live>,
    /// The last mode, for the placeholder frames while the camera is away.
    last_mode: Mode,
    path: PathBuf,
    /// Which camera it is, to take only that one back after a loss.
    identity: Identity,
    next_retry: Instant,
    next_index: u64,
    /// Frames the camera captured that never went out, by why.
    skips: Skips,
    /// Why the latest attempt to get the camera back failed, as said (each new reason once:
    /// a busy device, a permission, a format it no longer offers).
    said: String,
}

/// Opens the camera the request names (or the first that works) and prints its mode.
pub fn open(request: &CameraRequest) -> Result<Box<dyn Source>> {
    let live = start(request, None)?;
    eprintln!("camera {}: {}", live.path.display(), live.mode);
    if request.passthrough {
        if live.mode.format == CameraFormat::Mjpg {
            eprintln!(
                "camera {}: --passthrough: the camera's JPEG goes out untouched \
                 (its quality, not --quality)",
                live.path.display()
            );
        } else {
            eprintln!(
                "camera {}: --passthrough has no effect: the camera sends {}, not MJPG",
                live.path.display(),
                live.mode.format
            );
        }
    }
    Ok(Box::new(Camera {
        request: request.clone(),
        last_mode: live.mode,
        path: live.path.clone(),
        identity: live.identity.clone(),
        live: Some(live),
        next_retry: Instant::now(),
        next_index: 0,
        skips: Skips::default(),
        said: String::new(),
    }))
}

impl Camera {
    /// While the camera is away: one dark grey frame a second (keeps the pipeline turning, so
    /// shutdown is never stuck, and shows the viewer that the camera, not the link, is gone),
    /// and one attempt a second to get it back.
    fn wait_for_camera(&mut self, frame: &mut RawFrame) -> Result<bool> {
        let now = Instant::now();
        if self.next_retry > now {
            thread::sleep(self.next_retry - now);
        }
        self.next_retry = Instant::now() + RETRY;
        // Found by a scan (no --camera): that camera again, not whichever delivers first.
        let lost = self.request.device.is_none().then_some(&self.identity);
        match start(&self.request, lost) {
            Ok(live) => {
                eprintln!("camera {}: back: {}", live.path.display(), live.mode);
                self.path = live.path.clone();
                self.last_mode = live.mode;
                self.said.clear();
                self.live = Some(live);
                Ok(false)
            }
            Err(e) => {
                let why = format!("{e:#}");
                if why != self.said {
                    eprintln!(
                        "camera {}: cannot start it again: {why}",
                        self.path.display()
                    );
                    self.said = why;
                }
                let (w, h) = (
                    self.last_mode.width as usize,
                    self.last_mode.height as usize,
                );
                frame.captured_at = Instant::now();
                frame.reshape(w, h, PixelFormat::Gray, w * h);
                frame.data.fill(40);
                Ok(true)
            }
        }
    }
}

impl Source for Camera {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        self.next_frame_or_stop(frame, &|| false)
    }

    /// Gives up between attempts once `stop()` says so: a camera that comes back for one
    /// frame and stalls again (marginal USB power) would otherwise keep this loop, and the
    /// streamer's shutdown, going for good.
    fn next_frame_or_stop(
        &mut self,
        frame: &mut RawFrame,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool> {
        loop {
            if stop() {
                return Ok(false);
            }
            let Some(live) = &mut self.live else {
                if self.wait_for_camera(frame)? {
                    break;
                }
                continue;
            };
            match live.grab(frame, self.request.passthrough, &mut self.skips) {
                Ok(()) => break,
                Err(e) => {
                    eprintln!(
                        "camera {}: lost ({e:#}); retrying every second",
                        live.path.display()
                    );
                    self.live = None;
                    self.next_retry = Instant::now() + RETRY;
                }
            }
        }
        frame.index = self.next_index;
        self.next_index += 1;
        Ok(true)
    }

    fn encodes(&self) -> bool {
        !(self.last_mode.format == CameraFormat::Mjpg && self.request.passthrough)
    }

    fn describe(&self) -> String {
        let mode = self.last_mode;
        let card = self.live.as_ref().map_or("", |l| l.identity.card.as_str());
        let how = match (mode.format, self.request.passthrough) {
            (CameraFormat::Mjpg, true) => ", camera JPEG passed through untouched",
            (CameraFormat::Mjpg, false) => ", camera JPEG decoded and encoded again",
            _ if self.live.as_ref().is_some_and(|l| l.stretch.is_some()) => {
                ", limited range stretched to full"
            }
            _ => "",
        };
        format!("camera {} ({card}): {mode}{how}", self.path.display())
    }

    fn natural_fps(&self) -> f64 {
        self.last_mode.fps()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn skipped(&self) -> u64 {
        self.skips.total()
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let Skips {
            stale,
            missed,
            broken,
        } = self.skips;
        if self.skips.total() > 0 {
            eprintln!(
                "camera {}: {} frames did not go out: {stale} passed over for a newer one \
                 already waiting, {missed} the driver skipped (no free buffer, or a failed \
                 transfer), {broken} broken",
                self.path.display(),
                self.skips.total()
            );
        }
    }
}
