//! Typed command-line values both programs take (`1280x720`, `host:port`), parsed once, and the
//! one way both print result lines to stdout.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::wire::protocol::DEFAULT_PORT;

/// Largest width or height accepted anywhere (JPEG itself stops at 65 535).
pub const MAX_DIMENSION: usize = 16_384;

/// The most pixels a picture may have by default (`viewer --max-pixels`): an 8K frame's,
/// checked from the header before any picture memory is taken.
pub const DEFAULT_MAX_PIXELS: usize = 7680 * 4320;

/// Whether a picture whose (untrusted) header says `width`x`height` may be decoded or encoded:
/// each side within [`MAX_DIMENSION`] and at most [`DEFAULT_MAX_PIXELS`], so that a damaged or
/// hostile header cannot make a decoder take gigabytes. `Err` says what is wrong, for a line.
pub fn check_picture_size(width: usize, height: usize) -> Result<(), String> {
    let pixels = width.saturating_mul(height);
    if width > MAX_DIMENSION || height > MAX_DIMENSION || pixels > DEFAULT_MAX_PIXELS {
        return Err(format!(
            "a {width}x{height} picture, over the limit ({MAX_DIMENSION} a side, \
             {DEFAULT_MAX_PIXELS} pixels)"
        ));
    }
    Ok(())
}

/// Largest `--max-frame-bytes` either program takes (256 MiB): a frame is held whole in memory,
/// a few times over on its way through the stages; bounded too so that the three dialects
/// stay distinguishable by their first byte.
pub const MAX_FRAME_BYTES_LIMIT: usize = 0x1000_0000;

/// `--max-frame-bytes N`, 1 to [`MAX_FRAME_BYTES_LIMIT`]: 0 would refuse every frame, and a
/// huge one would overflow the limits computed from it.
pub fn parse_max_frame_bytes(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 && v <= MAX_FRAME_BYTES_LIMIT => Ok(v),
        _ => Err(format!(
            "{s:?} is not a size from 1 to {MAX_FRAME_BYTES_LIMIT} bytes"
        )),
    }
}

/// A frame or window size, `WIDTHxHEIGHT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub width: usize,
    pub height: usize,
}

impl Resolution {
    /// Builds a size, checking each side is within 1..=[`MAX_DIMENSION`].
    pub fn new(width: usize, height: usize) -> Result<Self, String> {
        for (name, v) in [("width", width), ("height", height)] {
            if v == 0 || v > MAX_DIMENSION {
                return Err(format!("{name} {v} is outside 1..={MAX_DIMENSION}"));
            }
        }
        Ok(Resolution { width, height })
    }
}

impl FromStr for Resolution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("expected WIDTHxHEIGHT such as 1280x720, got {s:?}"))?;
        let parse = |v: &str, name: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("{name} {v:?} in {s:?} is not a whole number"))
        };
        Resolution::new(parse(w, "width")?, parse(h, "height")?)
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Where the viewer is: `host:port`, `host` (port 8080), `1.2.3.4`, `[::1]:9000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub host: String,
    pub port: u16,
}

impl FromStr for PeerAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(PeerAddr {
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(PeerAddr {
                host: ip.to_string(),
                port: DEFAULT_PORT,
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) => {
                let port = port.parse::<u16>().map_err(|_| {
                    format!("port {port:?} in {s:?} is not a number from 0 to 65535")
                })?;
                (host, port)
            }
            None => (s, DEFAULT_PORT),
        };
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid {
            return Err(format!(
                "{s:?} is not a host name, an IP address or host:port"
            ));
        }
        Ok(PeerAddr {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A timeout on the command line: seconds, fractions allowed, more than 0 and at most an hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub std::time::Duration);

impl FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 3600.0 => Ok(Seconds(std::time::Duration::from_secs_f64(v))),
            _ => Err(format!(
                "{s:?} is not a number of seconds between 0 and 3600"
            )),
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// A network in CIDR notation (`192.168.3.0/24`, `10.0.0.7`, `fd00::/8`), for `--allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 peers count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not a network such as 192.168.3.0/24"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix =
            match prefix {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(|| {
                    format!("prefix length in {s:?} is not a number from 0 to {max}")
                })?,
            };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Prints one result line to stdout and flushes it, also into a pipe or a file. A closed
/// stdout (`| head`) is not an error worth dying for: the line is simply lost.
pub fn print_line(line: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_frame_bytes_is_from_one_to_the_limit() {
        assert_eq!(parse_max_frame_bytes("1"), Ok(1));
        assert_eq!(
            parse_max_frame_bytes("268435456"),
            Ok(MAX_FRAME_BYTES_LIMIT)
        );
        for bad in ["0", "268435457", "18446744073709551615", "-1", "1e6", ""] {
            let e = parse_max_frame_bytes(bad).unwrap_err();
            assert!(
                e.ends_with("is not a size from 1 to 268435456 bytes"),
                "{e}"
            );
        }
    }

    #[test]
    fn picture_sizes_are_checked_per_side_and_in_all() {
        assert!(check_picture_size(7680, 4320).is_ok());
        assert!(check_picture_size(16_384, 1).is_ok());
        assert!(check_picture_size(16_385, 1).is_err());
        assert!(check_picture_size(10_000, 10_000).is_err());
        assert!(check_picture_size(usize::MAX, usize::MAX).is_err());
    }

    #[test]
    fn parses_resolutions() {
        assert_eq!("1280x720".parse(), Ok(Resolution::new(1280, 720).unwrap()));
        assert_eq!("640X480".parse(), Ok(Resolution::new(640, 480).unwrap()));
        assert!("1280".parse::<Resolution>().is_err());
        assert!("0x720".parse::<Resolution>().is_err());
        assert!("99999x1".parse::<Resolution>().is_err());
        assert!("-1x5".parse::<Resolution>().is_err());
    }

    #[test]
    fn parses_seconds() {
        assert_eq!("2.5".parse::<Seconds>().unwrap().0.as_millis(), 2500);
        assert!("0".parse::<Seconds>().is_err());
        assert!("-1".parse::<Seconds>().is_err());
        assert!("3601".parse::<Seconds>().is_err());
        assert!("soon".parse::<Seconds>().is_err());
        assert_eq!(Seconds(std::time::Duration::from_secs(5)).to_string(), "5");
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net: Cidr = "192.168.3.0/24".parse().unwrap();
        assert!(net.contains("192.168.3.7".parse().unwrap()));
        assert!(!net.contains("192.168.4.7".parse().unwrap()));
        assert!(net.contains("::ffff:192.168.3.9".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let host: Cidr = "127.0.0.1".parse().unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("lan".parse::<Cidr>().is_err());
    }

    #[test]
    fn parses_addresses_with_the_default_port() {
        let p = |s: &str| s.parse::<PeerAddr>().map(|a| a.to_string());
        assert_eq!(p("192.168.3.7"), Ok("192.168.3.7:8080".into()));
        assert_eq!(p("192.168.3.7:9000"), Ok("192.168.3.7:9000".into()));
        assert_eq!(p("laptop.local"), Ok("laptop.local:8080".into()));
        assert_eq!(p("laptop:81"), Ok("laptop:81".into()));
        assert_eq!(p("[::1]:9000"), Ok("[::1]:9000".into()));
        assert_eq!(p("::1"), Ok("[::1]:8080".into()));
        assert!(p("host:99999").is_err());
        assert!(p("bad host").is_err());
        assert!(p("").is_err());
    }
}
