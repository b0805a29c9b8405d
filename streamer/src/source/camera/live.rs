//! A streaming camera: negotiating the mode on one device, finding the first device that
//! delivers, and grabbing the newest frame (copied out at once, limited range stretched).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use v4l::buffer::{Flags as BufferFlags, Type as BufferType};
use v4l::io::traits::CaptureStream;
use v4l::prelude::MmapStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC, Fraction};

use super::device::{enumerate_modes, open_capture, video_nodes, Identity};
use super::modes::{choose_mode, is_limited_range, CameraFormat, CameraRequest, CameraSpec, Mode};
use crate::source::range::RangeStretch;
use crate::source::{yuyv_len, PixelFormat, RawFrame};

/// Buffers shared with the driver: enough to never starve it, few enough to stay fresh.
const BUFFERS: u32 = 4;
/// `POLLIN` from poll(2), the same on every Linux architecture.
const POLLIN: i16 = 1;

/// An open, streaming camera.
pub(super) struct Live {
    pub(super) path: PathBuf,
    /// Which camera it is: the card name the driver gives, and its bus.
    pub(super) identity: Identity,
    pub(super) mode: Mode,
    /// Bytes per row in the driver's buffers (rows may be padded).
    stride: usize,
    /// Set when the driver delivers limited-range YUV.
    pub(super) stretch: Option<RangeStretch>,
    stream: MmapStream<'static>,
    handle: std::sync::Arc<v4l::device::Handle>,
    /// How long a dequeue may wait before the camera counts as stalled.
    timeout: Duration,
    last_sequence: Option<u32>,
}

/// Negotiates the mode, starts streaming on `path` and checks that a frame really arrives;
/// only if the node is the camera `lost`, when one is given.
fn start_on(path: &Path, request: &CameraRequest, lost: Option<&Identity>) -> Result<Live> {
    let name = path.display();
    let (device, identity) = open_capture(path)?;
    the_lost_one(path, &identity, lost)?;
    let mode = pick_mode(&device, path, request)?;
    let (mode, got) = set_mode(&device, path, mode)?;
    let min_stride = match mode.format {
        CameraFormat::Yuyv => yuyv_len(got.width as usize, 1),
        CameraFormat::Nv12 | CameraFormat::Grey => got.width as usize,
        CameraFormat::Rgb3 | CameraFormat::Bgr3 => 3 * got.width as usize,
        CameraFormat::Mjpg => 0,
    };
    let stride = (got.stride as usize).max(min_stride);
    let limited = is_limited_range(mode.format, got.quantization, got.colorspace);
    let mut stream = MmapStream::with_buffers(&device, BufferType::VideoCapture, BUFFERS)
        .with_context(|| format!("{name}: cannot allocate capture buffers"))?;
    // A stalled camera must not hang the capture thread: three frame times, at least 2 s.
    let frame_time = Duration::from_secs_f64(1.0 / mode.fps().max(0.1));
    let timeout = (frame_time * 3).max(Duration::from_secs(2));
    stream.set_timeout(timeout);
    let mut live = Live {
        path: path.to_path_buf(),
        identity,
        mode,
        stride,
        stretch: limited.then(RangeStretch::limited_to_full),
        handle: stream.handle(),
        stream,
        timeout,
        last_sequence: None,
    };
    // "Really delivers frames": image-processor nodes list formats yet never stream. The
    // first grab is where VIDIOC_STREAMON runs.
    if let Err(e) = live.grab(&mut RawFrame::default(), false, &mut Skips::default()) {
        if no_usb_bandwidth(&e) {
            bail!("{name}: {}", usb_bandwidth_advice(mode));
        }
        return Err(e.context(format!("{name}: no frame arrived")));
    }
    Ok(live)
}

/// Fails unless the camera at `path` is the one `lost`, if one is given.
fn the_lost_one(path: &Path, found: &Identity, lost: Option<&Identity>) -> Result<()> {
    match lost {
        Some(lost) if lost != found => bail!(
            "{}: another camera ({found}), not the lost one ({lost})",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// Whether starting the stream failed with ENOSPC: what UVC says when the USB bus has no
/// isochronous bandwidth left for this mode (typically a second raw camera on one bus).
fn no_usb_bandwidth(e: &anyhow::Error) -> bool {
    const ENOSPC: i32 = 28; // the same on every Linux architecture
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.raw_os_error() == Some(ENOSPC))
}

/// The one line that says what ENOSPC means for a camera and what to do about it.
fn usb_bandwidth_advice(mode: Mode) -> String {
    let remedy = if mode.format == CameraFormat::Mjpg {
        "ask for a smaller --size or a lower --fps"
    } else {
        "use --camera-format MJPG (a fraction of the bandwidth), or a smaller --size or lower --fps"
    };
    format!(
        "cannot start streaming {mode}: the USB bus has no bandwidth left (VIDIOC_STREAMON: \
         ENOSPC; other cameras on the same bus take it); {remedy}, or plug this camera into \
         another USB controller"
    )
}

/// The mode of the device at `path` closest to the request; an error naming what it offers
/// when none fits.
fn pick_mode(device: &Device, path: &Path, request: &CameraRequest) -> Result<Mode> {
    let name = path.display();
    let modes = enumerate_modes(device, Some(request));
    if modes.is_empty() {
        bail!(
            "{name}: offers no format this streamer handles (YUYV, NV12, MJPG, GREY, RGB3, BGR3)"
        );
    }
    let size = (
        u32::try_from(request.size.width).unwrap_or(u32::MAX),
        u32::try_from(request.size.height).unwrap_or(u32::MAX),
    );
    let fps = request.fps.filter(|f| *f > 0);
    let chosen = preferred_mode(&modes, size, fps, request.format, request.passthrough);
    chosen.ok_or_else(|| {
        let mut offered: Vec<String> = modes.iter().map(|m| m.format.to_string()).collect();
        offered.dedup();
        anyhow!(
            "{name}: does not offer {}; it offers {}",
            request
                .format
                .map_or("any handled format".into(), |f| f.to_string()),
            offered.join(", ")
        )
    })
}

/// [`choose_mode`], except that `--passthrough` (without `--camera-format`) wants the camera's
/// own JPEG, so MJPG wins whenever it is offered.
fn preferred_mode(
    modes: &[Mode],
    size: (u32, u32),
    fps: Option<u32>,
    format: Option<CameraFormat>,
    passthrough: bool,
) -> Option<Mode> {
    let mjpg_first = (passthrough && format.is_none())
        .then(|| choose_mode(modes, size, fps, Some(CameraFormat::Mjpg)))
        .flatten();
    mjpg_first.or_else(|| choose_mode(modes, size, fps, format))
}

/// Sets `mode` on the device (S_FMT, then the rate with S_PARM where the driver has it); the
/// mode as the driver really set it, and the format it reported.
fn set_mode(device: &Device, path: &Path, mut mode: Mode) -> Result<(Mode, Format)> {
    let name = path.display();
    let asked = Format::new(mode.width, mode.height, FourCC::new(&mode.format.fourcc()));
    let got = device
        .set_format(&asked)
        .with_context(|| format!("{name}: cannot set {mode}"))?;
    if got.fourcc != asked.fourcc {
        bail!(
            "{name}: asked for {} but the driver chose {}",
            mode.format,
            String::from_utf8_lossy(&got.fourcc.repr)
        );
    }
    if got.width == 0 || got.height == 0 {
        bail!(
            "{name}: the driver set an empty {}x{} picture",
            got.width,
            got.height
        );
    }
    (mode.width, mode.height) = (got.width, got.height);
    // Some drivers have no frame-rate control (S_PARM fails); they stream at their own rate.
    if let Ok(params) = device.set_params(&Parameters::new(Fraction::new(
        mode.interval.0,
        mode.interval.1,
    ))) {
        if params.interval.numerator > 0 && params.interval.denominator > 0 {
            mode.interval = (params.interval.numerator, params.interval.denominator);
        }
    }
    Ok((mode, got))
}

impl Live {
    /// Waits for the next frame, skips any older ones still queued, and copies the newest
    /// into `frame`; adds the frames that did not go out on the way to `skips`.
    pub(super) fn grab(
        &mut self,
        frame: &mut RawFrame,
        passthrough: bool,
        skips: &mut Skips,
    ) -> Result<()> {
        let mode = self.mode;
        let (mut bad, started) = (0u64, Instant::now());
        loop {
            let timeout = self.timeout;
            let (buf, meta) = self.stream.next().map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => anyhow!("no frame for {:.1} s", timeout.as_secs_f64()),
                _ => anyhow::Error::new(e),
            })?;
            let left_driver = Instant::now();
            if let Some(last) = self.last_sequence {
                skips.missed += u64::from(meta.sequence.wrapping_sub(last).saturating_sub(1));
            }
            self.last_sequence = Some(meta.sequence);
            let used = (meta.bytesused as usize).min(buf.len());
            // A newer frame is already waiting: this one is stale, take that one instead.
            let newer_waiting = self.handle.poll(POLLIN, 0)? > 0;
            if newer_waiting {
                skips.stale += 1;
                continue;
            }
            frame.captured_at = driver_time(meta, left_driver).unwrap_or(left_driver);
            // Flagged bad, empty, or shorter than the format needs (a broken transfer): wait
            // for the next one, but not for ever (a starved USB camera sends only these).
            if meta.flags.contains(BufferFlags::ERROR)
                || used == 0
                || !copy_out(&buf[..used], mode, self.stride, passthrough, frame)
            {
                skips.broken += 1;
                bad += 1;
                bad_run(bad, started.elapsed(), self.timeout)?;
                continue;
            }
            if let Some(stretch) = &self.stretch {
                let luma = mode.width as usize * mode.height as usize;
                stretch_to_full(stretch, mode.format, &mut frame.data, luma);
            }
            return Ok(());
        }
    }
}

/// Frames the camera captured that did not go out, by why; each counts in `dropped=`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skips {
    /// A newer frame was already waiting in the driver's queue: the older one was passed over.
    pub stale: u64,
    /// The driver's sequence numbers skipped them: it had no free buffer (we were slow) or
    /// the transfer failed (USB bandwidth).
    pub missed: u64,
    /// Flagged bad, empty or short (a broken transfer).
    pub broken: u64,
}

impl Skips {
    pub fn total(&self) -> u64 {
        self.stale + self.missed + self.broken
    }
}

/// `Err` once buffers that are all bad (`bad` of them in a row) have kept a good frame away
/// for the stall timeout: the camera is lost, as when it sends nothing, and is opened again.
fn bad_run(bad: u64, waited: Duration, timeout: Duration) -> Result<()> {
    if bad > 0 && waited >= timeout {
        bail!(
            "no good frame for {:.1} s: {bad} buffers in a row were flagged bad, empty or too \
             short",
            waited.as_secs_f64()
        );
    }
    Ok(())
}

/// Copies one driver buffer, `data` with rows `stride` apart, into `frame` in the matching
/// pixel format; false when it is shorter than the mode needs.
fn copy_out(
    data: &[u8],
    mode: Mode,
    stride: usize,
    passthrough: bool,
    frame: &mut RawFrame,
) -> bool {
    let (w, h) = (mode.width as usize, mode.height as usize);
    match mode.format {
        CameraFormat::Yuyv => {
            let row = yuyv_len(w, 1);
            frame.reshape(w, h, PixelFormat::Yuyv, row * h);
            copy_rows(data, stride, &mut frame.data, row, h)
        }
        CameraFormat::Nv12 => {
            let uv_rows = h.div_ceil(2);
            let uv_row = 2 * w.div_ceil(2);
            frame.reshape(w, h, PixelFormat::Nv12, w * h + uv_row * uv_rows);
            let (y, uv) = frame.data.split_at_mut(w * h);
            let chroma = data.get(stride * h..).unwrap_or_default();
            copy_rows(data, stride, y, w, h) && copy_rows(chroma, stride, uv, uv_row, uv_rows)
        }
        CameraFormat::Grey => {
            frame.reshape(w, h, PixelFormat::Gray, w * h);
            copy_rows(data, stride, &mut frame.data, w, h)
        }
        CameraFormat::Rgb3 | CameraFormat::Bgr3 => {
            let format = if mode.format == CameraFormat::Rgb3 {
                PixelFormat::Rgb
            } else {
                PixelFormat::Bgr
            };
            frame.reshape(w, h, format, 3 * w * h);
            copy_rows(data, stride, &mut frame.data, 3 * w, h)
        }
        CameraFormat::Mjpg => {
            let format = if passthrough {
                PixelFormat::Jpeg
            } else {
                PixelFormat::Mjpeg
            };
            frame.reshape(w, h, format, data.len());
            frame.data.copy_from_slice(data);
            true
        }
    }
}

/// Stretches limited-range YUV (or grey) in `data`, whose luma plane (if planar) is `luma`
/// bytes, to JPEG's full range in place.
fn stretch_to_full(stretch: &RangeStretch, format: CameraFormat, data: &mut [u8], luma: usize) {
    match format {
        CameraFormat::Yuyv => stretch.yuyv(data),
        CameraFormat::Nv12 => {
            let (y, uv) = data.split_at_mut(luma);
            stretch.luma(y);
            stretch.chroma(uv);
        }
        _ => stretch.luma(data),
    }
}

/// Copies `rows` rows of `len` bytes from `src` (rows `stride` apart) into `dst` back to back;
/// false when `src` is too short.
fn copy_rows(src: &[u8], stride: usize, dst: &mut [u8], len: usize, rows: usize) -> bool {
    if rows == 0 || src.len() < stride * (rows - 1) + len || dst.len() < len * rows {
        return false;
    }
    for (r, out) in dst.chunks_exact_mut(len).take(rows).enumerate() {
        out.copy_from_slice(&src[r * stride..r * stride + len]);
    }
    true
}

/// Finds and starts the requested camera, or else the first one that delivers frames; when
/// getting back a `lost` camera found that way, only that one (the first that delivers may be
/// another, on a robot with several: the operator would see another view, and nothing says so).
pub(super) fn start(request: &CameraRequest, lost: Option<&Identity>) -> Result<Live> {
    if let Some(CameraSpec(path)) = &request.device {
        return start_on(path, request, None);
    }
    let mut reasons = Vec::new();
    for path in video_nodes() {
        match start_on(&path, request, lost) {
            Ok(live) => return Ok(live),
            Err(e) => reasons.push(format!("{e:#}")),
        }
    }
    if reasons.is_empty() {
        bail!(
            "no camera found (no /dev/video* device); run `streamer --list-cameras` to see \
             what is there, or use --source test for the built-in pattern"
        );
    }
    bail!(
        "no camera delivers video ({}); run `streamer --list-cameras` to see what is there, \
         pick one with --camera, or use --source test for the built-in pattern",
        reasons.join("; ")
    )
}

/// When the driver says the frame was captured, as an `Instant`. V4L2 stamps buffers on
/// CLOCK_MONOTONIC (flag `TIMESTAMP_MONOTONIC`; the kernel takes it at the end of the frame's
/// transfer, or its start with `TSTAMP_SRC_SOE`), the clock `Instant` reads on Linux, so the
/// frame's age is "monotonic now − stamp". The link turns it into wall-clock time as "wall
/// clock now − age" when the frame is sent. `None` for other clocks and for ages that make no
/// sense (in the future or over a second): the dequeue time is used then.
fn driver_time(meta: &v4l::buffer::Metadata, left_driver: Instant) -> Option<Instant> {
    let source = meta.flags & BufferFlags::TIMESTAMP_MASK;
    if source != BufferFlags::TIMESTAMP_MONOTONIC {
        return None;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return None;
    }
    let now_us = i128::from(now.tv_sec) * 1_000_000 + i128::from(now.tv_nsec) / 1000;
    let stamp_us = i128::from(meta.timestamp.sec) * 1_000_000 + i128::from(meta.timestamp.usec);
    let age_us = now_us - stamp_us;
    if !(0..=1_000_000).contains(&age_us) {
        return None;
    }
    let taken = Instant::now();
    let age = Duration::from_micros(age_us as u64);
    // Measured against "now", not `left_driver`: the copy since then is part of the age.
    taken.checked_sub(age).filter(|t| *t <= left_driver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_buffers_lose_the_camera_after_the_stall_timeout() {
        let timeout = Duration::from_secs(5);
        assert!(bad_run(0, Duration::from_secs(60), timeout).is_ok());
        assert!(bad_run(300, Duration::from_millis(4_900), timeout).is_ok());
        let err = bad_run(301, timeout, timeout).unwrap_err().to_string();
        assert!(err.contains("301 buffers in a row"), "{err}");
    }

    #[test]
    fn a_lost_camera_is_taken_back_only_on_its_own_bus() {
        let cam = |card: &str, bus: &str| Identity {
            card: card.into(),
            bus: bus.into(),
        };
        let lost = cam("USB Cam", "usb-0000:00:14.0-2");
        let path = Path::new("/dev/video2");
        assert!(the_lost_one(path, &lost, None).is_ok());
        assert!(the_lost_one(path, &lost.clone(), Some(&lost)).is_ok());
        // The same model on the robot's other port is another camera.
        let twin = cam("USB Cam", "usb-0000:00:14.0-3");
        let err = the_lost_one(path, &twin, Some(&lost)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/video2: another camera (USB Cam at usb-0000:00:14.0-3), not the lost one \
             (USB Cam at usb-0000:00:14.0-2)"
        );
        assert!(the_lost_one(path, &cam("Other", "usb-0000:00:14.0-2"), Some(&lost)).is_err());
    }

    #[test]
    fn enospc_at_stream_start_names_the_remedy() {
        let mode = |format| Mode {
            format,
            width: 1280,
            height: 720,
            interval: (1, 30),
        };
        let enospc = anyhow::Error::new(io::Error::from_raw_os_error(28)).context("grab");
        assert!(no_usb_bandwidth(&enospc));
        assert!(!no_usb_bandwidth(&anyhow::Error::new(
            io::Error::from_raw_os_error(5)
        )));
        assert!(!no_usb_bandwidth(&anyhow!("no frame for 2.0 s")));
        let raw = usb_bandwidth_advice(mode(CameraFormat::Yuyv));
        assert!(
            raw.contains("ENOSPC") && raw.contains("--camera-format MJPG"),
            "{raw}"
        );
        let mjpg = usb_bandwidth_advice(mode(CameraFormat::Mjpg));
        assert!(mjpg.contains("smaller --size") && !mjpg.contains("--camera-format"));
    }

    #[test]
    fn copies_padded_rows_tightly() {
        let src = [1, 2, 0, 0, 3, 4, 0, 0, 5, 6];
        let mut dst = [0; 6];
        assert!(copy_rows(&src, 4, &mut dst, 2, 3));
        assert_eq!(dst, [1, 2, 3, 4, 5, 6]);
        assert!(!copy_rows(&src[..8], 4, &mut dst, 2, 3));
    }

    /// `--passthrough` end to end on this side of the driver: MJPG is chosen over the raw
    /// format the camera also offers (and over a faster raw rate), the driver's buffer becomes
    /// a frame marked as JPEG, and the real encoder, asked for quality 20 and half the size
    /// (as `--quality` or `--adapt` would), sends its bytes unchanged. Without the flag the
    /// same buffer is encoded again at the quality asked for.
    #[test]
    fn passthrough_prefers_mjpg_and_sends_the_cameras_jpeg_byte_for_byte() {
        use crate::encode::encoder::{EncodedFrame, Encoder};
        use turbojpeg::{Image, Subsamp};

        let mode = |format, interval| Mode {
            format,
            width: 64,
            height: 32,
            interval,
        };
        let yuyv = mode(CameraFormat::Yuyv, (1, 60));
        let mjpg = mode(CameraFormat::Mjpg, (1, 30));
        let offered = [yuyv, mjpg];
        let size = (64, 32);
        assert_eq!(preferred_mode(&offered, size, None, None, true), Some(mjpg));
        assert_eq!(
            preferred_mode(&offered, size, None, None, false),
            Some(yuyv)
        );
        // An explicit --camera-format still wins over the flag.
        let asked = Some(CameraFormat::Yuyv);
        assert_eq!(
            preferred_mode(&offered, size, None, asked, true),
            Some(yuyv)
        );
        // No MJPG offered: the flag changes nothing.
        assert_eq!(preferred_mode(&[yuyv], size, None, None, true), Some(yuyv));

        // A camera's JPEG: a gradient at quality 95, 4:2:2 as UVC cameras send.
        let rgb: Vec<u8> = (0..64 * 32)
            .flat_map(|i| [(i % 64 * 4) as u8, (i / 64 * 8) as u8, 90])
            .collect();
        let image = Image {
            pixels: &rgb[..],
            width: 64,
            pitch: 64 * 3,
            height: 32,
            format: turbojpeg::PixelFormat::RGB,
        };
        let camera = turbojpeg::compress(image, 95, Subsamp::Sub2x1)
            .unwrap()
            .to_vec();
        // The driver's buffer is larger than the JPEG in it (bytesused says how much).
        let mut buffer = camera.clone();
        buffer.resize(camera.len() + 4096, 0);
        let used = &buffer[..camera.len()];

        let mut frame = RawFrame::default();
        let mut out = EncodedFrame::default();
        let mut encoder = Encoder::new(40).unwrap();
        encoder.set_target(20, true).unwrap();
        assert!(copy_out(used, mjpg, 0, true, &mut frame));
        assert_eq!(frame.format, PixelFormat::Jpeg);
        encoder.encode(&mut frame, &mut out).unwrap();
        assert_eq!(out.jpeg(), &camera[..], "the camera's JPEG was changed");
        assert_eq!(
            out.quality, None,
            "a passed-through frame has no quality of ours"
        );

        assert!(copy_out(used, mjpg, 0, false, &mut frame));
        assert_eq!(frame.format, PixelFormat::Mjpeg);
        encoder.set_target(20, false).unwrap();
        encoder.encode(&mut frame, &mut out).unwrap();
        assert_ne!(out.jpeg(), &camera[..]);
        assert_eq!(out.quality, Some(20));
        assert!(out.jpeg().len() < camera.len());
    }
}
