//! The `Host` check against DNS rebinding: a web page whose own name an attacker points at the
//! hub would make the user's browser send it requests naming that page's host. Only requests
//! naming the hub itself are served: the address the client connected to, `localhost`, the
//! machine's host name (and `NAME.local`), and the names given with `--http-host`.

use std::net::IpAddr;

use hyper::header::HOST;
use hyper::{HeaderMap, Version};

/// Longest DNS name.
const MAX_NAME: usize = 253;

/// The names the hub answers to besides its own address.
pub struct Hosts {
    names: Vec<String>,
}

/// What a request's `Host` says.
#[derive(Debug, PartialEq, Eq)]
pub enum Named {
    /// The hub (or no `Host` from an HTTP/1.0 client): served.
    Hub,
    /// No `Host`, or several, or an unreadable one, in HTTP/1.1: `400`.
    Bad,
    /// Another host: `421 Misdirected Request`.
    Other,
}

impl Hosts {
    /// `localhost`, the machine's names, and `extra` (`--http-host`, already checked by
    /// [`parse_name`]).
    pub fn new(extra: &[String]) -> Hosts {
        let mut names = vec!["localhost".to_string()];
        if let Some(own) = host_name() {
            names.push(format!("{own}.local"));
            names.push(own);
        }
        for name in extra {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        Hosts { names }
    }

    /// The names, for the start-up line.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Judges the `Host` of a request that arrived on the hub's address `local`.
    pub fn check(&self, headers: &HeaderMap, version: Version, local: IpAddr) -> Named {
        let mut hosts = headers.get_all(HOST).iter();
        let (Some(value), None) = (hosts.next(), hosts.next()) else {
            let none = headers.get(HOST).is_none();
            return if none && version < Version::HTTP_11 {
                Named::Hub
            } else {
                Named::Bad
            };
        };
        let Some(host) = value.to_str().ok().and_then(host_part) else {
            return Named::Bad;
        };
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        let own_address = host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical() == local.to_canonical());
        if own_address || self.names.iter().any(|n| n == host) {
            Named::Hub
        } else {
            Named::Other
        }
    }
}

/// The host of a `Host` value, without its port and an IPv6 literal's brackets.
fn host_part(value: &str) -> Option<&str> {
    let (host, port) = match value.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':').map(Some).unwrap_or(Some(rest)))
        }
        None => match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        },
    };
    let port_ok = match port {
        Some(p) => p.is_empty() || p.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    };
    (port_ok && !host.is_empty()).then_some(host)
}

/// A `--http-host` value: a DNS name or an IP address (an IPv6 one with or without
/// brackets), kept lower-case, as requests are compared.
pub fn parse_name(s: &str) -> Result<String, String> {
    let bare = s.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    if let Ok(ip) = bare.unwrap_or(s).parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let fine = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
    if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(fine) {
        return Err(format!("{s:?} is not a host name or IP address"));
    }
    Ok(name)
}

/// The machine's host name, lower-case, when it has a usable one.
fn host_name() -> Option<String> {
    #[cfg(target_os = "linux")]
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    #[cfg(windows)]
    let name = std::env::var("COMPUTERNAME").ok();
    #[cfg(not(any(target_os = "linux", windows)))]
    let name: Option<String> = None;
    parse_name(name?.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn named(hosts: &Hosts, host: Option<&str>, version: Version, local: &str) -> Named {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(HOST, HeaderValue::from_str(h).unwrap());
        }
        hosts.check(&headers, version, local.parse().unwrap())
    }

    #[test]
    fn only_the_hubs_own_names_and_addresses_are_served() {
        let hosts = Hosts::new(&[parse_name("Robot-Lab.example.").unwrap()]);
        let v11 = Version::HTTP_11;
        for host in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "LOCALHOST:8081",
            "localhost.",
            "robot-lab.example:443",
        ] {
            assert_eq!(
                named(&hosts, Some(host), v11, "127.0.0.1"),
                Named::Hub,
                "{host}"
            );
        }
        assert_eq!(named(&hosts, Some("[::1]:8081"), v11, "::1"), Named::Hub);
        // Dual-stack sockets see IPv4 clients as mapped addresses.
        let mapped = "::ffff:192.168.3.20";
        assert_eq!(named(&hosts, Some("192.168.3.20"), v11, mapped), Named::Hub);
        for host in [
            "evil.example",
            "evil.example:8081",
            "192.168.3.20",
            "127.0.0.2",
            "[::1]",
            "localhost.evil.example",
        ] {
            assert_eq!(
                named(&hosts, Some(host), v11, "127.0.0.1"),
                Named::Other,
                "{host}"
            );
        }
        for host in ["", ":8081", "127.0.0.1:80x", "[::1", "[::1]x"] {
            assert_eq!(
                named(&hosts, Some(host), v11, "127.0.0.1"),
                Named::Bad,
                "{host:?}"
            );
        }
        assert_eq!(named(&hosts, None, v11, "127.0.0.1"), Named::Bad);
        assert_eq!(
            named(&hosts, None, Version::HTTP_10, "127.0.0.1"),
            Named::Hub
        );
        let mut two = HeaderMap::new();
        two.append(HOST, HeaderValue::from_static("localhost"));
        two.append(HOST, HeaderValue::from_static("evil.example"));
        assert_eq!(
            hosts.check(&two, v11, "127.0.0.1".parse().unwrap()),
            Named::Bad
        );
    }

    #[test]
    fn host_names_given_are_checked() {
        assert_eq!(parse_name("[::1]").unwrap(), "::1");
        assert_eq!(parse_name("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(parse_name("Cam.Local").unwrap(), "cam.local");
        assert!(parse_name("").is_err());
        assert!(parse_name("a b").is_err());
        assert!(parse_name("a:80").is_err());
        assert!(parse_name(&"a".repeat(254)).is_err());
    }
}
