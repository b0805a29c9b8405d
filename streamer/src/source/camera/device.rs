//! The V4L2 devices: which `/dev/video*` nodes are cameras, the modes each offers, and
//! `--list-cameras` (ending with a config block per camera from [`super::conf`]).

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use v4l::capability::Flags as CapFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::conf::{write_blocks, Found, BY_ID};
use super::modes::{format_fps, fps_of, CameraFormat, CameraRequest, Mode, DEFAULT_FPS};

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

/// Which camera a node is: the driver's card name and where it hangs (VIDIOC_QUERYCAP's
/// bus_info, e.g. `usb-0000:00:14.0-2`, the USB port), the same when the camera comes back
/// after an unplug or a USB reset, whatever `/dev/videoN` it gets then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub card: String,
    pub bus: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.card, self.bus)
    }
}

/// Opens `path` and checks that it is a capture node; which camera it is on success.
pub(super) fn open_capture(path: &Path) -> Result<(Device, Identity)> {
    let name = path.display();
    let device = Device::with_path(path).with_context(|| format!("{name}: cannot open"))?;
    let (caps, who) = query_caps(&device).with_context(|| format!("{name}: not a V4L2 device"))?;
    match node_kind(caps) {
        NodeKind::Capture => Ok((device, who)),
        NodeKind::Other(what) => bail!("{name}: {what}, not a camera"),
    }
}

/// The node's device capabilities and identity, by VIDIOC_QUERYCAP. Not v4l's `query_caps`:
/// it panics on a name not valid UTF-8, and uvcvideo cuts a USB product name to 31 bytes, so
/// a camera with a long non-ASCII name (a Chinese webcam's) would crash the streamer at start
/// and `--list-cameras` while scanning.
fn query_caps(device: &Device) -> io::Result<(u32, Identity)> {
    // SAFETY: an all-zero v4l2_capability is valid (integers and byte arrays).
    let mut caps: v4l::v4l_sys::v4l2_capability = unsafe { std::mem::zeroed() };
    // SAFETY: VIDIOC_QUERYCAP fills the v4l2_capability it is given, nothing more.
    unsafe {
        v4l::v4l2::ioctl(
            device.handle().fd(),
            v4l::v4l2::vidioc::VIDIOC_QUERYCAP,
            &mut caps as *mut _ as *mut std::os::raw::c_void,
        )?;
    }
    let who = Identity {
        card: card_name(&caps.card),
        bus: card_name(&caps.bus_info),
    };
    Ok((caps.device_caps, who))
}

/// A driver's NUL-padded name (or bus): up to its first NUL, a character cut short by the driver's
/// byte limit shown as U+FFFD.
fn card_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Every mode the device offers in a handled format.
pub(super) fn enumerate_modes(device: &Device, request: Option<&CameraRequest>) -> Vec<Mode> {
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

/// Prints every capture device with its formats, sizes and rates, then a ready
/// `/etc/streamer/NAME.conf` block for each (`--list-cameras`).
pub fn list(out: &mut impl io::Write) -> Result<()> {
    let mut found = Vec::new();
    for path in video_nodes() {
        let Ok((device, Identity { card, .. })) = open_capture(&path) else {
            continue;
        };
        writeln!(out, "{}: {card}", path.display())?;
        let formats = device.enum_formats().unwrap_or_default();
        let mjpg = formats
            .iter()
            .any(|d| CameraFormat::from_fourcc(d.fourcc.repr) == Some(CameraFormat::Mjpg));
        found.push(Found {
            node: path.clone(),
            card,
            mjpg,
        });
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
    if found.is_empty() {
        writeln!(
            out,
            "no V4L2 capture devices (no /dev/video* node captures video)"
        )?;
    }
    write_blocks(out, &found, Path::new(BY_ID))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_name_cut_inside_a_character_is_read_not_a_panic() {
        // "USB 高清摄像头 camera" cut inside 头 (as a driver cuts at its byte limit), NUL-padded.
        let full = "USB 高清摄像头 camera".as_bytes();
        let mut card = [0u8; 32];
        card[..17].copy_from_slice(&full[..17]);
        assert!(
            std::str::from_utf8(&card).is_err(),
            "v4l's own query panics here"
        );
        assert_eq!(card_name(&card), "USB 高清摄像\u{FFFD}");
        assert_eq!(card_name(b"vivid\0\0\0"), "vivid");
        assert_eq!(card_name(b"no nul at all"), "no nul at all");
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
}
