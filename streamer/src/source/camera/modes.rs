//! What can be asked of a camera and what it offers: `--camera`, `--camera-format`, the
//! request as a whole, the modes (format, size, rate) a device lists, and choosing one.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use shared::cli::Resolution;
use v4l::format::{Colorspace, Quantization};

/// Frame rate asked for when `--fps` is not given.
pub const DEFAULT_FPS: u32 = 30;

/// `--camera`: a device number (`/dev/videoN`) or a path such as `/dev/v4l/by-id/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraSpec(pub PathBuf);

impl CameraSpec {
    /// The device's file name, for the stream's default name (`video8`).
    pub fn label(&self) -> String {
        self.0.file_name().map_or_else(
            || "camera".to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

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

/// Frames per second of a frame interval (0 for an empty one).
pub(super) fn fps_of((num, den): (u32, u32)) -> f64 {
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
}
