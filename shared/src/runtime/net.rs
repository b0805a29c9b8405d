//! Socket settings both programs apply to every connection, and the open-file limit their
//! connection caps must fit in.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// A peer that vanished without a FIN (a board losing power, a laptop closing its lid) is
/// noticed after about `IDLE + INTERVAL * RETRIES` = 20 s, not the kernel's default of hours.
const IDLE: Duration = Duration::from_secs(8);
const INTERVAL: Duration = Duration::from_secs(3);
const RETRIES: u32 = 4;

/// Turns off Nagle's algorithm (headers and answers are tiny and must not wait) and turns on
/// TCP keepalive with short timers.
pub fn tune(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(IDLE)
        .with_interval(INTERVAL)
        .with_retries(RETRIES);
    SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

/// Raises this process's soft limit on open files to its hard one (as Go's runtime does): the
/// usual soft limit, 1024, is below what the viewer's connection caps allow, and running out
/// of descriptors fails every accept, recording and snapshot at once. Returns the soft limit
/// now; `None` where it is not known (not Unix, or the call failed).
pub fn raise_open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit and setrlimit only read and write the struct given.
        unsafe {
            let mut limit: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            // An unlimited hard limit (not Linux's way) is capped: the kernel may refuse it.
            let want = limit.rlim_max.min(1 << 20);
            if limit.rlim_cur < want {
                let raised = libc::rlimit {
                    rlim_cur: want,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit.rlim_cur = want;
                }
            }
            Some(limit.rlim_cur as u64)
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_one() {
        let soft = raise_open_files();
        #[cfg(unix)]
        {
            let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
            assert_eq!(
                unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
                0
            );
            assert_eq!(soft, Some(limit.rlim_cur as u64));
            assert_eq!(limit.rlim_cur, limit.rlim_max.min(1 << 20));
        }
        #[cfg(not(unix))]
        assert_eq!(soft, None);
    }

    #[tokio::test]
    async fn tunes_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, _) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let client = client.unwrap();
        tune(&client).unwrap();
        assert!(client.nodelay().unwrap());
        let sock = SockRef::from(&client);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), IDLE);
    }
}
