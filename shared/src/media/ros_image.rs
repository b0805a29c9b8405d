//! ROS 2 messages as CDR bytes, with no ROS installed: `sensor_msgs/msg/CompressedImage` (a
//! JPEG as it came, with its capture stamp), `sensor_msgs/msg/Image` (read), our
//! `FrameLatency` and a `diagnostic_msgs/msg/DiagnosticArray` (a frame's glass figures). Pure;
//! MCAP recordings, replay and ROS 2 topics (shared/src/ros2/) use it.

/// The CDR encapsulation header: plain CDR, little endian.
const CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// The image message's type name and its schema with its dependencies, as `ros2 bag` stores it.
pub const IMAGE_TYPE: &str = "sensor_msgs/msg/CompressedImage";
pub const IMAGE_SCHEMA: &str = "std_msgs/Header header
string format
uint8[] data
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
";

/// The latency message's type name (under this project's package) and schema.
pub const LATENCY_TYPE: &str = "live_preview/msg/FrameLatency";
pub const LATENCY_SCHEMA: &str =
    "# One frame's latency on the viewer, milliseconds; NaN when unknown.
# header.stamp: the frame's capture time on the viewer's clock.
std_msgs/Header header
# Capture to the frame's last byte received (encode + queue + link).
float64 arrival_ms
float64 encode_ms
float64 queue_ms
float64 link_ms
# The streamer's clock put on the viewer's (viewer minus streamer) and its error bound.
float64 clock_offset_ms
float64 clock_error_ms
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
";

/// One frame's figures for [`latency`], in [`LATENCY_SCHEMA`]'s order (NaN: unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub arrival_ms: f64,
    pub encode_ms: f64,
    pub queue_ms: f64,
    pub link_ms: f64,
    pub clock_offset_ms: f64,
    pub clock_error_ms: f64,
}

impl Latency {
    /// Every figure unknown.
    pub const UNKNOWN: Latency = Latency {
        arrival_ms: f64::NAN,
        encode_ms: f64::NAN,
        queue_ms: f64::NAN,
        link_ms: f64::NAN,
        clock_offset_ms: f64::NAN,
        clock_error_ms: f64::NAN,
    };
}

/// A CDR body being written: alignment counts from after the encapsulation header.
struct Cdr<'a>(&'a mut Vec<u8>);

impl Cdr<'_> {
    fn align(&mut self, n: usize) {
        let pad = (n - (self.0.len() - CDR_LE.len()) % n) % n;
        self.0.resize(self.0.len() + pad, 0);
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.align(8);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        // CDR strings count their terminating NUL.
        self.u32(s.len() as u32 + 1);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    /// `std_msgs/Header` with `stamp_ns` (ns since the epoch) split as ROS does.
    fn header(&mut self, stamp_ns: u64, frame_id: &str) {
        let sec = (stamp_ns / 1_000_000_000).min(i32::MAX as u64) as u32;
        self.u32(sec);
        self.u32((stamp_ns % 1_000_000_000) as u32);
        self.string(frame_id);
    }
}

/// The CDR prefix of a `CompressedImage` up to its data's bytes (the caller appends them,
/// so a JPEG is copied once): header, `format`, and the data's length.
pub fn image_prefix(out: &mut Vec<u8>, stamp_ns: u64, frame_id: &str, format: &str, len: u32) {
    out.clear();
    out.extend_from_slice(&CDR_LE);
    let mut cdr = Cdr(out);
    cdr.header(stamp_ns, frame_id);
    cdr.string(format);
    cdr.u32(len);
}

/// A whole `CompressedImage` message.
pub fn image(stamp_ns: u64, frame_id: &str, format: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    image_prefix(&mut out, stamp_ns, frame_id, format, data.len() as u32);
    out.extend_from_slice(data);
    out
}

/// A `FrameLatency` message.
pub fn latency(stamp_ns: u64, frame_id: &str, l: &Latency) -> Vec<u8> {
    let mut out = CDR_LE.to_vec();
    let mut cdr = Cdr(&mut out);
    cdr.header(stamp_ns, frame_id);
    for v in [
        l.arrival_ms,
        l.encode_ms,
        l.queue_ms,
        l.link_ms,
        l.clock_offset_ms,
        l.clock_error_ms,
    ] {
        cdr.f64(v);
    }
    out
}

/// A decoded `CompressedImage`: its stamp and where its data lies in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageView {
    pub stamp_ns: u64,
    pub format: String,
    /// The data's bytes within the message.
    pub data: std::ops::Range<usize>,
}

/// A CDR body being read, every length checked against what is there.
struct Reader<'a> {
    /// The message's first bytes (all of it, or enough for its fields before the data).
    bytes: &'a [u8],
    /// The whole message's length.
    len: usize,
    at: usize,
    /// Where the body starts (alignment counts from there): 4 after a CDR header, or 0.
    origin: usize,
    little: bool,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("the message ends inside a field")?;
        self.at += 1;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let rel = self.at - self.origin;
        self.at += (4 - rel % 4) % 4;
        let b = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or("the message ends inside a field before its data")?;
        self.at += 4;
        let b: [u8; 4] = b.try_into().map_err(|_| "bad number")?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn bytes(&mut self, len: u32) -> Result<std::ops::Range<usize>, String> {
        let end = self
            .at
            .checked_add(len as usize)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| format!("a field of {len} bytes runs past the message's end"))?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }
    fn string(&mut self, max: u32) -> Result<String, String> {
        let len = self.u32()?;
        if len > max {
            return Err(format!("a string of {len} bytes (at most {max} expected)"));
        }
        let r = self.bytes(len)?;
        let text = self
            .bytes
            .get(r)
            .ok_or("the message ends inside a string")?;
        let text = text.strip_suffix(&[0]).unwrap_or(text);
        Ok(String::from_utf8_lossy(text).into_owned())
    }
}

/// Reads a `CompressedImage` message (untrusted bytes): never reads past `msg`.
pub fn read_image(msg: &[u8]) -> Result<ImageView, String> {
    read_image_head(msg, msg.len())
}

/// Reads a `CompressedImage` of `len` bytes from its first bytes `head` (the fields before
/// its data), so a file's reader need not load the JPEG to find it.
pub fn read_image_head(msg: &[u8], len: usize) -> Result<ImageView, String> {
    let little = match msg.get(..2) {
        Some([0x00, 0x01]) => true,
        Some([0x00, 0x00]) => false,
        _ => return Err("not a CDR message (unknown encapsulation)".into()),
    };
    if msg.len() < CDR_LE.len() || len < msg.len() {
        return Err("a message shorter than its CDR header".into());
    }
    let mut r = Reader {
        bytes: msg,
        len,
        at: CDR_LE.len(),
        origin: CDR_LE.len(),
        little,
    };
    image_fields(&mut r)
}

/// Reads a `CompressedImage`'s CDR body (what follows the encapsulation header, as a DDS
/// reader hands it over) in the given byte order.
pub fn read_image_body(body: &[u8], little: bool) -> Result<ImageView, String> {
    image_fields(&mut Reader {
        bytes: body,
        len: body.len(),
        at: 0,
        origin: 0,
        little,
    })
}

fn image_fields(r: &mut Reader) -> Result<ImageView, String> {
    let stamp_ns = r.header()?;
    let format = r.string(256)?;
    let len = r.u32()?;
    let data = r.bytes(len)?;
    Ok(ImageView {
        stamp_ns,
        format,
        data,
    })
}

impl Reader<'_> {
    /// A `std_msgs/Header`: its stamp in ns since the epoch (the frame id skipped).
    fn header(&mut self) -> Result<u64, String> {
        let sec = u64::from(self.u32()?);
        let nanosec = u64::from(self.u32()?);
        self.string(4096)?;
        Ok(sec * 1_000_000_000 + nanosec)
    }
}

/// The raw image type's name.
pub const RAW_IMAGE_TYPE: &str = "sensor_msgs/msg/Image";

/// A decoded `sensor_msgs/msg/Image`: its geometry, pixel encoding and where its pixels lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawImageView {
    pub stamp_ns: u64,
    pub width: u32,
    pub height: u32,
    /// As ROS names it: `rgb8`, `bgr8`, `mono8`, `yuv422_yuy2`, `nv12`, ...
    pub encoding: String,
    pub big_endian: bool,
    /// Bytes from one row's start to the next's.
    pub step: u32,
    pub data: std::ops::Range<usize>,
}

/// Reads an `Image`'s CDR body (untrusted bytes, never read past) in the given byte order.
pub fn read_raw_image_body(body: &[u8], little: bool) -> Result<RawImageView, String> {
    let mut r = Reader {
        bytes: body,
        len: body.len(),
        at: 0,
        origin: 0,
        little,
    };
    let stamp_ns = r.header()?;
    let height = r.u32()?;
    let width = r.u32()?;
    let encoding = r.string(64)?;
    let big_endian = r.u8()? != 0;
    let step = r.u32()?;
    let len = r.u32()?;
    let data = r.bytes(len)?;
    Ok(RawImageView {
        stamp_ns,
        width,
        height,
        encoding,
        big_endian,
        step,
        data,
    })
}

/// A whole `Image` message (tests and benches publish with it).
pub fn raw_image(
    stamp_ns: u64,
    frame_id: &str,
    size: (u32, u32),
    encoding: &str,
    step: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut out = CDR_LE.to_vec();
    let mut cdr = Cdr(&mut out);
    cdr.header(stamp_ns, frame_id);
    cdr.u32(size.1);
    cdr.u32(size.0);
    cdr.string(encoding);
    cdr.0.push(0);
    cdr.u32(step);
    cdr.u32(data.len() as u32);
    out.extend_from_slice(data);
    out
}

/// The standard type the glass figures go out as on a ROS 2 topic.
pub const DIAGNOSTICS_TYPE: &str = "diagnostic_msgs/msg/DiagnosticArray";

/// One frame's figures as a `DiagnosticArray` with one status named `name`: every figure a
/// `key=value` pair in milliseconds (`unknown` when NaN), so any ROS 2 tool can show them.
pub fn diagnostics(stamp_ns: u64, frame_id: &str, name: &str, l: &Latency) -> Vec<u8> {
    let mut out = CDR_LE.to_vec();
    let mut cdr = Cdr(&mut out);
    cdr.header(stamp_ns, frame_id);
    cdr.u32(1);
    // level OK (0), name, message, hardware_id.
    cdr.0.push(0);
    cdr.string(name);
    cdr.string("glass-to-glass stages, ms");
    cdr.string(frame_id);
    let figures = [
        ("arrival_ms", l.arrival_ms),
        ("encode_ms", l.encode_ms),
        ("queue_ms", l.queue_ms),
        ("link_ms", l.link_ms),
        ("clock_offset_ms", l.clock_offset_ms),
        ("clock_error_ms", l.clock_error_ms),
    ];
    cdr.u32(figures.len() as u32);
    for (key, v) in figures {
        cdr.string(key);
        cdr.string(&if v.is_nan() {
            "unknown".to_string()
        } else {
            format!("{v:.3}")
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_round_trips_with_ros_alignment() {
        let jpeg = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        let msg = image(1_700_000_000_123_456_789, "cam", "jpeg", &jpeg);
        // Header 4, sec 4, nanosec 4, "cam\0" (4 + 4), "jpeg\0" (4 + 5), 3 padding, length 4.
        assert_eq!(&msg[..4], &CDR_LE);
        assert_eq!(&msg[4..8], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&msg[8..12], &123_456_789u32.to_le_bytes());
        assert_eq!(&msg[12..16], &4u32.to_le_bytes());
        assert_eq!(&msg[16..20], b"cam\0");
        assert_eq!(&msg[20..24], &5u32.to_le_bytes());
        assert_eq!(&msg[24..29], b"jpeg\0");
        assert_eq!(&msg[29..32], &[0, 0, 0]);
        assert_eq!(&msg[32..36], &7u32.to_le_bytes());
        let view = read_image(&msg).unwrap();
        assert_eq!(view.stamp_ns, 1_700_000_000_123_456_789);
        assert_eq!(view.format, "jpeg");
        assert_eq!(&msg[view.data.clone()], &jpeg);
        // From its head alone, as a file reader finds it.
        assert_eq!(read_image_head(&msg[..36], msg.len()), Ok(view));
        assert!(read_image_head(&msg[..30], msg.len()).is_err());
    }

    #[test]
    fn a_raw_image_round_trips_from_its_body() {
        let px = [7u8; 2 * 3 * 3];
        let msg = raw_image(2_000_000_001, "cam", (3, 2), "bgr8", 9, &px);
        let view = read_raw_image_body(&msg[4..], true).unwrap();
        assert_eq!((view.width, view.height, view.step), (3, 2, 9));
        assert_eq!((view.encoding.as_str(), view.big_endian), ("bgr8", false));
        assert_eq!(view.stamp_ns, 2_000_000_001);
        assert_eq!(&msg[4..][view.data], &px);
        for n in 0..msg.len() - 4 {
            assert!(
                read_raw_image_body(&msg[4..4 + n], true).is_err(),
                "cut at {n}"
            );
        }
        let jpeg = image(5, "c", "jpeg", &[1, 2, 3]);
        let view = read_image_body(&jpeg[4..], true).unwrap();
        assert_eq!(&jpeg[4..][view.data], &[1, 2, 3]);
    }

    #[test]
    fn diagnostics_say_unknown_for_nan() {
        let l = Latency {
            arrival_ms: 12.5,
            ..Latency::UNKNOWN
        };
        let msg = diagnostics(1, "cam", "glass", &l);
        let text = String::from_utf8_lossy(&msg);
        assert!(text.contains("arrival_ms\0"), "{text:?}");
        assert!(text.contains("12.500\0"));
        assert!(text.contains("unknown\0"));
    }

    #[test]
    fn latency_doubles_are_aligned_to_eight() {
        let l = Latency {
            arrival_ms: 1.5,
            ..Latency::UNKNOWN
        };
        let msg = latency(5, "", &l);
        // 4 + sec/nanosec 8 + "" (4 + 1) = 17 -> body offset 13, aligned up to 16 (+4).
        assert_eq!(&msg[20..28], &1.5f64.to_le_bytes());
        assert_eq!(msg.len(), 20 + 6 * 8);
        assert!(f64::from_le_bytes(msg[28..36].try_into().unwrap()).is_nan());
    }

    #[test]
    fn every_cut_or_flipped_image_is_an_error_not_a_panic() {
        let msg = image(7, "frame", "jpeg", &[9; 40]);
        for n in 0..msg.len() {
            assert!(read_image(&msg[..n]).is_err(), "cut at {n}");
        }
        for i in 0..msg.len() {
            for v in [0x00, 0x7F, 0xFF] {
                let mut m = msg.clone();
                m[i] = v;
                if let Ok(view) = read_image(&m) {
                    assert!(view.data.end <= m.len());
                }
            }
        }
    }
}
