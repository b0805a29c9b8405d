//! The `Origin` check on WebSocket upgrades, against cross-site WebSocket hijacking. A browser
//! lets any page open a WebSocket to any address, naming the hub truly in `Host`, so the
//! `Host` check ([`super::host`]) passes and the page would read every picture (and with
//! `--http-auth`, a browser may add the credentials it holds for the hub). Browsers always send
//! `Origin` on a WebSocket handshake, and a page cannot set it. So an upgrade is served from
//! the hub's own page (an origin naming what the request's `Host` names, on the hub's scheme),
//! from the origins given with `--http-origin` (a web app such as Foxglove's), or from a client
//! that sends no `Origin` (not a browser: Node, Python, the Foxglove desktop app's own socket).

/// Whether an upgrade whose `Origin` is `origin` and whose `Host` is `host` is served by a hub
/// on `https` (or not) that also allows the origins `extra` (from [`parse`]).
pub fn allowed(origin: Option<&[u8]>, host: Option<&[u8]>, https: bool, extra: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let Some(origin) = std::str::from_utf8(origin).ok().and_then(|o| parse(o).ok()) else {
        return false;
    };
    if extra.contains(&origin) {
        return true;
    }
    let scheme = if https { "https" } else { "http" };
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let own = format!("{scheme}://{}", host.to_ascii_lowercase());
    parse(&own).is_ok_and(|own| own == origin)
}

/// An origin as browsers send it (`scheme://host[:port]`, `http` or `https`), lower-cased and
/// without the scheme's default port, as compared; also the `--http-origin` value's parser.
pub fn parse(s: &str) -> Result<String, String> {
    let s = s.trim().to_ascii_lowercase();
    let (scheme, authority, default) = if let Some(rest) = s.strip_prefix("http://") {
        ("http", rest, ":80")
    } else if let Some(rest) = s.strip_prefix("https://") {
        ("https", rest, ":443")
    } else {
        return Err(format!(
            "{s:?}: give http://HOST[:PORT] or https://HOST[:PORT]"
        ));
    };
    let authority = authority.strip_suffix(default).unwrap_or(authority);
    let fine = |b: u8| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b);
    if authority.is_empty() || !authority.bytes().all(fine) {
        return Err(format!(
            "{s:?}: an origin is a scheme and a host, with no path"
        ));
    }
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(origin: &str, host: &str, https: bool) -> bool {
        allowed(Some(origin.as_bytes()), Some(host.as_bytes()), https, &[])
    }

    #[test]
    fn the_hubs_own_page_and_clients_without_an_origin_are_served() {
        assert!(ok("http://127.0.0.1:8081", "127.0.0.1:8081", false));
        assert!(ok("http://Robot-Hub.local", "robot-hub.local:80", false));
        assert!(ok("https://[::1]:8443", "[::1]:8443", true));
        assert!(ok("https://hub", "hub:443", true));
        assert!(allowed(None, Some(b"127.0.0.1:8081"), false, &[]));
        assert!(allowed(None, None, false, &[]));
    }

    #[test]
    fn another_pages_socket_is_refused() {
        assert!(!ok("http://evil.example", "127.0.0.1:8081", false));
        assert!(
            !ok("http://127.0.0.1:8000", "127.0.0.1:8081", false),
            "another port"
        );
        assert!(
            !ok("https://127.0.0.1:8081", "127.0.0.1:8081", false),
            "another scheme"
        );
        assert!(
            !ok("http://127.0.0.1:8081", "127.0.0.1:8081", true),
            "http page, https hub"
        );
        assert!(
            !ok("null", "127.0.0.1:8081", false),
            "a sandboxed frame's origin"
        );
        assert!(!ok("http://127.0.0.1:8081/x", "127.0.0.1:8081", false));
        let origin = Some(&b"http://127.0.0.1:8081"[..]);
        assert!(
            !allowed(origin, None, false, &[]),
            "no Host to be the page of"
        );
        assert!(!allowed(Some(&[0xff][..]), Some(b"h"), false, &[]));
    }

    #[test]
    fn origins_given_are_served_and_parsed_as_browsers_send_them() {
        let extra = [parse("https://APP.foxglove.dev:443").unwrap()];
        assert_eq!(extra[0], "https://app.foxglove.dev");
        let served = |o: &str| allowed(Some(o.as_bytes()), Some(b"hub:8081"), false, &extra);
        assert!(served("https://app.foxglove.dev"));
        assert!(!served("http://app.foxglove.dev"));
        assert!(parse("app.foxglove.dev").is_err());
        assert!(parse("https://a.dev/path").is_err());
        assert!(parse("null").is_err());
        assert!(parse("https://").is_err());
    }
}
