//! The camera source: V4L2 capture (YUYV, NV12, MJPG, GREY, RGB3, BGR3), device choice, mode
//! negotiation, `--list-cameras`, and recovery when the camera goes away. Each dequeued frame
//! is copied out at once (limited-range YUV stretched to full range on the way) and older
//! frames still waiting in the driver are skipped, so what goes out is always the newest.
//!
//! This talks to V4L2 through the `v4l` crate, the layer nokhwa 0.10's V4L2 backend is built
//! on, rather than through nokhwa itself, because nokhwa's layer bites here: it names grey
//! `GRAY` where V4L2 says `GREY` (so grey can be neither listed nor set), drops frame
//! intervals whose numerator is not 1 (vivid's 12.5 fps, a camera's 29.97) and even refuses to
//! open a camera currently set to one, its `Closest` picks the rate for the requested size
//! rather than the size it chose, its device list includes output and metadata nodes, and its
//! frame read has no timeout, so a stalled camera would hang the capture thread.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use shared::cli::Resolution;
use v4l::buffer::{Flags as BufferFlags, Type as BufferType};
use v4l::capability::Flags as CapFlags;
use v4l::format::{Colorspace, Quantization};
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::traits::CaptureStream;
use v4l::prelude::MmapStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC, Fraction};

use crate::source::range::RangeStretch;
use crate::source::{yuyv_len, PixelFormat, RawFrame, Source};

/// Frame rate asked for when `--fps` is not given.
pub const DEFAULT_FPS: u32 = 30;
/// Buffers shared with the driver: enough to never starve it, few enough to stay fresh.
const BUFFERS: u32 = 4;
/// How often a lost camera is looked for again.
const RETRY: Duration = Duration::from_secs(1);
/// `POLLIN` from poll(2), the same on every Linux architecture.
const POLLIN: i16 = 1;

/// `--camera`: a device number (`/dev/videoN`) or a path such as `/dev/v4l/by-id/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSpec(pub PathBuf);

impl FromStr for CameraSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = s
                .parse()
                .map_err(|_| format!("{s:?} is not a device number"))?;
            Ok(CameraSpec(format!("/dev/video{n}").into()))
        } else if s.starts_with('/') {
            Ok(CameraSpec(s.into()))
        } else {
            Err(format!(
                "{s:?} is not a camera: give a number (8 for /dev/video8) or a path under /dev"
            ))
        }
    }
}

/// The pixel formats this streamer captures, by their V4L2 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraFormat {
    Yuyv,
    Nv12,
    Mjpg,
    Grey,
    Rgb3,
    Bgr3,
}

impl CameraFormat {
    /// Every handled format, best first when nothing else decides: raw YUV needs no decoding,
    /// JPEG needs decoding, RGB needs a colour conversion, grey loses the colour.
    pub const ALL: [CameraFormat; 6] = [
        CameraFormat::Yuyv,
        CameraFormat::Nv12,
        CameraFormat::Mjpg,
        CameraFormat::Rgb3,
        CameraFormat::Bgr3,
        CameraFormat::Grey,
    ];

    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            CameraFormat::Yuyv => *b"YUYV",
            CameraFormat::Nv12 => *b"NV12",
            CameraFormat::Mjpg => *b"MJPG",
            CameraFormat::Grey => *b"GREY",
            CameraFormat::Rgb3 => *b"RGB3",
            CameraFormat::Bgr3 => *b"BGR3",
        }
    }

    /// The format with this four-character code, if handled.
    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        CameraFormat::ALL.into_iter().find(|f| f.fourcc() == code)
    }

    fn rank(self) -> usize {
        CameraFormat::ALL
            .iter()
            .position(|f| *f == self)
            .unwrap_or(usize::MAX)
    }
}

/// Whether the driver delivers limited-range samples that must be stretched for JPEG (which
/// is full range). V4L2 says so in the format; "default" means limited for Y'CbCr unless the
/// colorspace is JPEG's (V4L2_MAP_QUANTIZATION_DEFAULT), and full for RGB and for luma-only
/// GREY, which V4L2's reference driver vivid treats like RGB and monochrome sensors deliver
/// full range. MJPEG is JPEG, full range by definition.
pub fn is_limited_range(
    format: CameraFormat,
    quantization: Quantization,
    colorspace: Colorspace,
) -> bool {
    match (format, quantization) {
        (CameraFormat::Mjpg | CameraFormat::Rgb3 | CameraFormat::Bgr3, _) => false,
        (_, Quantization::LimitedRange) => true,
        (_, Quantization::FullRange) => false,
        (CameraFormat::Grey, Quantization::Default) => false,
        (_, Quantization::Default) => !matches!(colorspace, Colorspace::JPEG),
    }
}

impl fmt::Display for CameraFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.fourcc()))
    }
}

impl FromStr for CameraFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "YUYV" | "YUY2" => Ok(CameraFormat::Yuyv),
            "NV12" => Ok(CameraFormat::Nv12),
            "MJPG" | "MJPEG" | "JPEG" => Ok(CameraFormat::Mjpg),
            // nokhwa and others say GRAY; V4L2 says GREY.
            "GREY" | "GRAY" | "Y8" => Ok(CameraFormat::Grey),
            "RGB3" | "RGB" | "RGB24" => Ok(CameraFormat::Rgb3),
            "BGR3" | "BGR" | "BGR24" => Ok(CameraFormat::Bgr3),
            _ => Err(format!(
                "{s:?} is not a camera format: use YUYV, NV12, MJPG, GREY, RGB3 or BGR3"
            )),
        }
    }
}

/// What the user asked of the camera.
#[derive(Debug, Clone)]
pub struct CameraRequest {
    /// `None`: the first device that really delivers frames.
    pub device: Option<CameraSpec>,
    pub size: Resolution,
    /// `None`: the fastest rate the chosen size offers.
    pub fps: Option<u32>,
    /// `None`: any handled format, best first.
    pub format: Option<CameraFormat>,
    /// Send the camera's own JPEG untouched instead of decoding and encoding it again.
    pub passthrough: bool,
}

/// One mode a camera offers: format, size and frame interval (seconds per frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub format: CameraFormat,
    pub width: u32,
    pub height: u32,
    /// Seconds per frame as numerator / denominator, exactly as V4L2 gives it (2/25 for
    /// 12.5 fps), so that fractional rates are neither dropped nor rounded.
    pub interval: (u32, u32),
}

impl Mode {
    /// Frames per second.
    pub fn fps(&self) -> f64 {
        fps_of(self.interval)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} @ {} fps",
            self.format,
            self.width,
            self.height,
            format_fps(self.interval)
        )
    }
}

fn fps_of((num, den): (u32, u32)) -> f64 {
    if num == 0 {
        0.0
    } else {
        f64::from(den) / f64::from(num)
    }
}

/// A frame interval as a rate for people: `30`, `12.5`, `29.97`.
pub fn format_fps(interval: (u32, u32)) -> String {
    let (num, den) = interval;
    if num != 0 && den % num == 0 {
        return (den / num).to_string();
    }
    let text = format!("{:.2}", fps_of(interval));
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Picks the mode closest to the request: first the size (sum of the width and height
/// differences), then, at that size, the frame rate (the fastest one when `fps` is `None`; on
/// a tie the faster one), then the format order of [`CameraFormat::ALL`]. Choosing the rate
/// among the chosen size's own rates is what nokhwa's `Closest` gets wrong.
pub fn choose_mode(
    modes: &[Mode],
    size: (u32, u32),
    fps: Option<u32>,
    format: Option<CameraFormat>,
) -> Option<Mode> {
    let size_cost = |m: &Mode| u64::from(m.width.abs_diff(size.0) + m.height.abs_diff(size.1));
    // Milli-fps, so that 12.5 and 13 differ; faster wins a tie (cost from below is odd).
    let fps_cost = |m: &Mode| -> u64 {
        let have = m.fps();
        match fps {
            Some(want) => {
                let diff = ((have - f64::from(want)).abs() * 1000.0).round() as u64;
                diff * 2 + u64::from(have < f64::from(want))
            }
            None => (1_000_000_000.0 - (have * 1000.0).min(1_000_000_000.0)) as u64,
        }
    };
    modes
        .iter()
        .filter(|m| format.is_none_or(|f| m.format == f))
        .filter(|m| m.interval.0 > 0 && m.interval.1 > 0)
        .min_by_key(|m| (size_cost(m), fps_cost(m), m.format.rank()))
        .copied()
}

/// What a V4L2 node is, from its device capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Single-planar streaming video capture: what we can use.
    Capture,
    /// Video output, memory-to-memory (codec, scaler), metadata, multi-planar or other.
    Other(&'static str),
}

/// Classifies a node by its `device_caps`. Output, metadata and memory-to-memory nodes are
/// `/dev/video*` too (nokhwa lists them all), yet deliver no camera picture.
pub fn node_kind(device_caps: u32) -> NodeKind {
    let caps = CapFlags::from_bits_truncate(device_caps);
    if caps.intersects(CapFlags::VIDEO_M2M | CapFlags::VIDEO_M2M_MPLANE) {
        NodeKind::Other("memory-to-memory device")
    } else if caps.contains(CapFlags::VIDEO_CAPTURE) {
        if caps.contains(CapFlags::STREAMING) {
            NodeKind::Capture
        } else {
            NodeKind::Other("capture without streaming I/O")
        }
    } else if caps.contains(CapFlags::VIDEO_CAPTURE_MPLANE) {
        NodeKind::Other("multi-planar capture, not supported")
    } else if caps.intersects(CapFlags::VIDEO_OUTPUT | CapFlags::VIDEO_OUTPUT_MPLANE) {
        NodeKind::Other("video output")
    } else if caps.intersects(CapFlags::META_CAPTURE | CapFlags::META_OUTPUT) {
        NodeKind::Other("metadata")
    } else {
        NodeKind::Other("not a video capture device")
    }
}

/// `/dev/video*` paths, in number order (`video2` before `video10`).
pub fn video_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name();
                    let n = name.to_str()?.strip_prefix("video")?.parse().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes.into_iter().map(|(_, p)| p).collect()
}

/// Opens `path` and checks that it is a capture node; its card name on success.
fn open_capture(path: &Path) -> Result<(Device, String)> {
    let name = path.display();
    let device = Device::with_path(path).with_context(|| format!("{name}: cannot open"))?;
    let caps = device
        .query_caps()
        .with_context(|| format!("{name}: not a V4L2 device"))?;
    match node_kind(caps.capabilities.bits()) {
        NodeKind::Capture => Ok((device, caps.card)),
        NodeKind::Other(what) => bail!("{name}: {what}, not a camera"),
    }
}

/// Every mode the device offers in a handled format.
fn enumerate_modes(device: &Device, request: Option<&CameraRequest>) -> Vec<Mode> {
    let Ok(formats) = device.enum_formats() else {
        return Vec::new();
    };
    let mut modes = Vec::new();
    for desc in formats {
        if let Some(format) = CameraFormat::from_fourcc(desc.fourcc.repr) {
            modes.extend(format_modes(device, format, request));
        }
    }
    modes
}

/// The modes of one format. Stepwise sizes and rates become the request's own size and
/// rate clamped into the range (plus the extremes), since listing every step is pointless.
fn format_modes(
    device: &Device,
    format: CameraFormat,
    request: Option<&CameraRequest>,
) -> Vec<Mode> {
    let fourcc = FourCC::new(&format.fourcc());
    let mut sizes = Vec::new();
    for size in device.enum_framesizes(fourcc).unwrap_or_default() {
        match size.size {
            FrameSizeEnum::Discrete(d) => sizes.push((d.width, d.height)),
            FrameSizeEnum::Stepwise(s) => {
                sizes.push((s.min_width, s.min_height));
                sizes.push((s.max_width, s.max_height));
                if let Some(r) = request {
                    let fit = |want: usize, min: u32, max: u32, step: u32| {
                        let want = u32::try_from(want).unwrap_or(max).clamp(min, max);
                        min + (want - min) / step.max(1) * step.max(1)
                    };
                    sizes.push((
                        fit(r.size.width, s.min_width, s.max_width, s.step_width),
                        fit(r.size.height, s.min_height, s.max_height, s.step_height),
                    ));
                }
            }
        }
    }
    sizes.dedup();
    if sizes.is_empty() {
        // Some drivers enumerate no sizes: ask for the requested one, S_FMT adjusts it and
        // the size actually set is read back.
        if let Some(r) = request {
            let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
            sizes.push((clamp(r.size.width), clamp(r.size.height)));
        }
    }
    let mut modes = Vec::new();
    for (width, height) in sizes {
        let mut intervals = Vec::new();
        for ival in device
            .enum_frameintervals(fourcc, width, height)
            .unwrap_or_default()
        {
            match ival.interval {
                FrameIntervalEnum::Discrete(f) => intervals.push((f.numerator, f.denominator)),
                FrameIntervalEnum::Stepwise(s) => {
                    intervals.push((s.min.numerator, s.min.denominator));
                    intervals.push((s.max.numerator, s.max.denominator));
                    if let Some(want) = request.and_then(|r| r.fps).filter(|f| *f > 0) {
                        // The longest interval is the slowest rate.
                        let slowest = fps_of((s.max.numerator, s.max.denominator));
                        let fastest = fps_of((s.min.numerator, s.min.denominator));
                        if (slowest..=fastest).contains(&f64::from(want)) {
                            intervals.push((1, want));
                        }
                    }
                }
            }
        }
        if intervals.is_empty() {
            // Drivers that do not enumerate rates still stream at some rate: assume the
            // default for choosing, and read the rate actually set back after S_PARM.
            intervals.push((1, DEFAULT_FPS));
        }
        modes.extend(intervals.into_iter().map(|interval| Mode {
            format,
            width,
            height,
            interval,
        }));
    }
    modes
}

/// Prints every capture device with its formats, sizes and rates (`--list-cameras`).
pub fn list(out: &mut impl io::Write) -> Result<()> {
    let mut found = 0;
    for path in video_nodes() {
        let Ok((device, card)) = open_capture(&path) else {
            continue;
        };
        found += 1;
        writeln!(out, "{}: {card}", path.display())?;
        let formats = device.enum_formats().unwrap_or_default();
        for desc in formats {
            let code = String::from_utf8_lossy(&desc.fourcc.repr).into_owned();
            let Some(format) = CameraFormat::from_fourcc(desc.fourcc.repr) else {
                writeln!(out, "  {code} ({}): not handled", desc.description)?;
                continue;
            };
            let modes = format_modes(&device, format, None);
            if modes.is_empty() {
                writeln!(out, "  {code}: sizes not enumerated, any size may work")?;
            }
            let mut sizes: Vec<(u32, u32)> = modes.iter().map(|m| (m.width, m.height)).collect();
            sizes.dedup();
            for (w, h) in sizes {
                let rates: Vec<String> = modes
                    .iter()
                    .filter(|m| (m.width, m.height) == (w, h))
                    .map(|m| format_fps(m.interval))
                    .collect();
                writeln!(out, "  {code} {w}x{h} @ {} fps", rates.join(", "))?;
            }
        }
    }
    if found == 0 {
        writeln!(
            out,
            "no V4L2 capture devices (no /dev/video* node captures video)"
        )?;
    }
    Ok(())
}

/// An open, streaming camera.
struct Live {
    path: PathBuf,
    card: String,
    mode: Mode,
    /// Bytes per row in the driver's buffers (rows may be padded).
    stride: usize,
    /// Set when the driver delivers limited-range YUV.
    stretch: Option<RangeStretch>,
    stream: MmapStream<'static>,
    handle: std::sync::Arc<v4l::device::Handle>,
    /// How long a dequeue may wait before the camera counts as stalled.
    timeout: Duration,
    last_sequence: Option<u32>,
}

/// Negotiates the mode, starts streaming on `path` and checks that a frame really arrives.
fn start_on(path: &Path, request: &CameraRequest) -> Result<Live> {
    let name = path.display();
    let (device, card) = open_capture(path)?;
    let modes = enumerate_modes(&device, Some(request));
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
    // --passthrough wants the camera's own JPEG, so MJPG wins whenever it is offered.
    let mjpg_first = (request.passthrough && request.format.is_none())
        .then(|| choose_mode(&modes, size, fps, Some(CameraFormat::Mjpg)))
        .flatten();
    let chosen = mjpg_first.or_else(|| choose_mode(&modes, size, fps, request.format));
    let mut mode = chosen.ok_or_else(|| {
        let mut offered: Vec<String> = modes.iter().map(|m| m.format.to_string()).collect();
        offered.dedup();
        anyhow!(
            "{name}: does not offer {}; it offers {}",
            request
                .format
                .map_or("any handled format".into(), |f| f.to_string()),
            offered.join(", ")
        )
    })?;
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
        card,
        mode,
        stride,
        stretch: limited.then(RangeStretch::limited_to_full),
        handle: stream.handle(),
        stream,
        timeout,
        last_sequence: None,
    };
    // "Really delivers frames": image-processor nodes list formats yet never stream.
    live.grab(&mut RawFrame::default(), false)
        .with_context(|| format!("{name}: no frame arrived"))?;
    Ok(live)
}

impl Live {
    /// Waits for the next frame, skips any older ones still queued, and copies the newest
    /// into `frame`; returns how many frames were skipped (by us or by the driver).
    fn grab(&mut self, frame: &mut RawFrame, passthrough: bool) -> Result<u64> {
        let mode = self.mode;
        let (w, h) = (mode.width as usize, mode.height as usize);
        let mut skipped = 0u64;
        loop {
            let timeout = self.timeout;
            let (buf, meta) = self.stream.next().map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => anyhow!("no frame for {:.1} s", timeout.as_secs_f64()),
                _ => anyhow::Error::new(e),
            })?;
            let left_driver = Instant::now();
            if let Some(last) = self.last_sequence {
                skipped += u64::from(meta.sequence.wrapping_sub(last).saturating_sub(1));
            }
            self.last_sequence = Some(meta.sequence);
            let used = (meta.bytesused as usize).min(buf.len());
            // A newer frame is already waiting: this one is stale, take that one instead.
            let newer_waiting = self.handle.poll(POLLIN, 0)? > 0;
            if newer_waiting || meta.flags.contains(BufferFlags::ERROR) || used == 0 {
                skipped += 1;
                continue;
            }
            frame.captured_at = left_driver;
            let data = &buf[..used];
            let ok = match mode.format {
                CameraFormat::Yuyv => {
                    let row = yuyv_len(w, 1);
                    frame.reshape(w, h, PixelFormat::Yuyv, row * h);
                    copy_rows(data, self.stride, &mut frame.data, row, h)
                }
                CameraFormat::Nv12 => {
                    let uv_rows = h.div_ceil(2);
                    let uv_row = 2 * w.div_ceil(2);
                    frame.reshape(w, h, PixelFormat::Nv12, w * h + uv_row * uv_rows);
                    let (y, uv) = frame.data.split_at_mut(w * h);
                    let chroma = data.get(self.stride * h..).unwrap_or_default();
                    copy_rows(data, self.stride, y, w, h)
                        && copy_rows(chroma, self.stride, uv, uv_row, uv_rows)
                }
                CameraFormat::Grey => {
                    frame.reshape(w, h, PixelFormat::Gray, w * h);
                    copy_rows(data, self.stride, &mut frame.data, w, h)
                }
                CameraFormat::Rgb3 | CameraFormat::Bgr3 => {
                    let format = if mode.format == CameraFormat::Rgb3 {
                        PixelFormat::Rgb
                    } else {
                        PixelFormat::Bgr
                    };
                    frame.reshape(w, h, format, 3 * w * h);
                    copy_rows(data, self.stride, &mut frame.data, 3 * w, h)
                }
                CameraFormat::Mjpg => {
                    let format = if passthrough {
                        PixelFormat::Jpeg
                    } else {
                        PixelFormat::Mjpeg
                    };
                    frame.reshape(w, h, format, used);
                    frame.data.copy_from_slice(data);
                    true
                }
            };
            if !ok {
                // Shorter than the format needs: a broken transfer; wait for the next one.
                skipped += 1;
                continue;
            }
            if let Some(stretch) = &self.stretch {
                match mode.format {
                    CameraFormat::Yuyv => stretch.yuyv(&mut frame.data),
                    CameraFormat::Nv12 => {
                        let (y, uv) = frame.data.split_at_mut(w * h);
                        stretch.luma(y);
                        stretch.chroma(uv);
                    }
                    _ => stretch.luma(&mut frame.data),
                }
            }
            return Ok(skipped);
        }
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

/// Finds and starts the requested camera, or the first one that delivers frames.
fn start(request: &CameraRequest) -> Result<Live> {
    if let Some(CameraSpec(path)) = &request.device {
        return start_on(path, request);
    }
    let mut reasons = Vec::new();
    for path in video_nodes() {
        match start_on(&path, request) {
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

/// A V4L2 camera as a [`Source`]; survives being unplugged.
pub struct Camera {
    request: CameraRequest,
    live: Option<Live>,
    /// The last mode, for the placeholder frames while the camera is away.
    last_mode: Mode,
    path: PathBuf,
    next_retry: Instant,
    next_index: u64,
    /// Frames the driver delivered that were never sent because a newer one was there.
    skipped: u64,
}

/// Opens the camera the request names (or the first that works) and prints its mode.
pub fn open(request: &CameraRequest) -> Result<Box<dyn Source>> {
    let live = start(request)?;
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
        live: Some(live),
        next_retry: Instant::now(),
        next_index: 0,
        skipped: 0,
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
        match start(&self.request) {
            Ok(live) => {
                eprintln!("camera {}: back: {}", live.path.display(), live.mode);
                self.path = live.path.clone();
                self.last_mode = live.mode;
                self.live = Some(live);
                Ok(false)
            }
            Err(_) => {
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
        loop {
            let Some(live) = &mut self.live else {
                if self.wait_for_camera(frame)? {
                    break;
                }
                continue;
            };
            match live.grab(frame, self.request.passthrough) {
                Ok(skipped) => {
                    self.skipped += skipped;
                    break;
                }
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

    fn describe(&self) -> String {
        let mode = self.last_mode;
        let card = self.live.as_ref().map_or("", |l| l.card.as_str());
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
        self.skipped
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        if self.skipped > 0 {
            eprintln!(
                "camera {}: {} frames skipped because a newer one was already there",
                self.path.display(),
                self.skipped
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(format: CameraFormat, width: u32, height: u32, interval: (u32, u32)) -> Mode {
        Mode {
            format,
            width,
            height,
            interval,
        }
    }

    /// vivid's webcam input: bigger sizes get fewer (slower) rates, 1280x720 tops at 12.5.
    fn vivid_like() -> Vec<Mode> {
        let mut modes = Vec::new();
        for format in [CameraFormat::Yuyv, CameraFormat::Grey] {
            for (w, h, rates) in [
                (640, 480, &[(1, 25), (1, 15), (2, 25), (1, 10)][..]),
                (1280, 720, &[(2, 25), (1, 10), (1, 5)][..]),
            ] {
                modes.extend(rates.iter().map(|r| mode(format, w, h, *r)));
            }
        }
        modes
    }

    #[test]
    fn picks_the_rate_of_the_chosen_size_including_fractional_ones() {
        let m = choose_mode(&vivid_like(), (1280, 720), Some(30), None).unwrap();
        assert_eq!(m, mode(CameraFormat::Yuyv, 1280, 720, (2, 25)));
        assert_eq!(m.to_string(), "YUYV 1280x720 @ 12.5 fps");
        let m = choose_mode(&vivid_like(), (1280, 720), Some(10), None).unwrap();
        assert_eq!(m.interval, (1, 10));
        let m = choose_mode(&vivid_like(), (640, 480), None, None).unwrap();
        assert_eq!(m.interval, (1, 25));
        // Halfway between 10 and 15: the faster one.
        let m = choose_mode(&vivid_like(), (640, 480), Some(12), None).unwrap();
        assert_eq!(m.interval, (2, 25));
    }

    #[test]
    fn picks_the_closest_size_and_honours_the_format() {
        let m = choose_mode(&vivid_like(), (800, 600), Some(25), None).unwrap();
        assert_eq!((m.width, m.height, m.interval), (640, 480, (1, 25)));
        let m = choose_mode(
            &vivid_like(),
            (640, 480),
            Some(25),
            Some(CameraFormat::Grey),
        );
        assert_eq!(m.unwrap().format, CameraFormat::Grey);
        assert_eq!(
            choose_mode(&vivid_like(), (640, 480), None, Some(CameraFormat::Mjpg)),
            None
        );
    }

    #[test]
    fn a_faster_format_beats_the_preferred_one_at_the_same_size() {
        // A typical USB camera: YUYV 720p only at 10 fps, MJPEG at 30.
        let modes = [
            mode(CameraFormat::Yuyv, 1280, 720, (1, 10)),
            mode(CameraFormat::Mjpg, 1280, 720, (1, 30)),
            mode(CameraFormat::Yuyv, 640, 480, (1, 30)),
            mode(CameraFormat::Mjpg, 640, 480, (1, 30)),
        ];
        let m = choose_mode(&modes, (1280, 720), Some(30), None).unwrap();
        assert_eq!(m.format, CameraFormat::Mjpg);
        let m = choose_mode(&modes, (640, 480), Some(30), None).unwrap();
        assert_eq!(m.format, CameraFormat::Yuyv);
    }

    #[test]
    fn formats_rates() {
        assert_eq!(format_fps((1, 30)), "30");
        assert_eq!(format_fps((2, 25)), "12.5");
        assert_eq!(format_fps((1001, 30000)), "29.97");
        assert_eq!(format_fps((2, 2)), "1");
    }

    #[test]
    fn keeps_only_capture_nodes() {
        // device_caps of vivid's nodes and of a UVC camera's metadata node.
        let streaming = CapFlags::STREAMING.bits();
        let capture = CapFlags::VIDEO_CAPTURE.bits() | streaming | CapFlags::READ_WRITE.bits();
        assert_eq!(node_kind(capture), NodeKind::Capture);
        assert!(matches!(
            node_kind(CapFlags::VIDEO_OUTPUT.bits() | streaming),
            NodeKind::Other(_)
        ));
        assert!(matches!(
            node_kind(CapFlags::META_CAPTURE.bits() | streaming),
            NodeKind::Other(_)
        ));
        assert!(matches!(
            node_kind(CapFlags::VIDEO_M2M.bits() | capture),
            NodeKind::Other(_)
        ));
        assert!(matches!(
            node_kind(CapFlags::VIDEO_CAPTURE.bits()),
            NodeKind::Other(_)
        ));
    }

    #[test]
    fn parses_camera_specs_and_formats() {
        assert_eq!("8".parse(), Ok(CameraSpec("/dev/video8".into())));
        assert_eq!(
            "/dev/v4l/by-id/usb-cam-video-index0".parse(),
            Ok(CameraSpec("/dev/v4l/by-id/usb-cam-video-index0".into()))
        );
        assert!("video8".parse::<CameraSpec>().is_err());
        assert!("".parse::<CameraSpec>().is_err());
        assert_eq!("gray".parse(), Ok(CameraFormat::Grey));
        assert_eq!("MJPEG".parse(), Ok(CameraFormat::Mjpg));
        assert_eq!(CameraFormat::Grey.to_string(), "GREY");
        assert!("H264".parse::<CameraFormat>().is_err());
    }

    #[test]
    fn stretches_only_limited_range_yuv() {
        use CameraFormat::*;
        let (def, lim, full) = (
            Quantization::Default,
            Quantization::LimitedRange,
            Quantization::FullRange,
        );
        assert!(is_limited_range(Yuyv, def, Colorspace::SRGB));
        assert!(is_limited_range(Nv12, def, Colorspace::Rec709));
        assert!(!is_limited_range(Yuyv, def, Colorspace::JPEG));
        assert!(!is_limited_range(Yuyv, full, Colorspace::SRGB));
        assert!(!is_limited_range(Grey, def, Colorspace::SRGB));
        assert!(is_limited_range(Grey, lim, Colorspace::SRGB));
        assert!(!is_limited_range(Rgb3, lim, Colorspace::SRGB));
        assert!(!is_limited_range(Mjpg, def, Colorspace::JPEG));
    }

    #[test]
    fn copies_padded_rows_tightly() {
        let src = [1, 2, 0, 0, 3, 4, 0, 0, 5, 6];
        let mut dst = [0; 6];
        assert!(copy_rows(&src, 4, &mut dst, 2, 3));
        assert_eq!(dst, [1, 2, 3, 4, 5, 6]);
        assert!(!copy_rows(&src[..8], 4, &mut dst, 2, 3));
    }
}
