//! Socket settings both programs apply to every connection.

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

#[cfg(test)]
mod tests {
    use super::*;

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
