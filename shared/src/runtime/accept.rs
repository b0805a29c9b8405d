//! The one accept loop, for every server the programs run (the viewer's streamer port and its
//! HTTP hub): the `--allow` filter, a cap on open connections and on those from one address,
//! a back-off when accepting fails, a stop signal, and the connection tasks reaped as they end.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::Cidr;

/// How long the loop waits after a failed accept (out of file descriptors and the like)
/// rather than spin.
pub const BACKOFF: Duration = Duration::from_millis(100);

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address is in none of the allowed networks.
    NotAllowed,
    /// As many connections as allowed are open already.
    Full,
    /// As many connections as one address may hold are open from this one already.
    PerClient,
}

/// A task the loop runs (and reaps) on a server's behalf, such as answering a refused client.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Who counts as one client, for the cap on one address's connections here and the hub's
/// allowance of password guesses: an IPv4 address, or an IPv6 /64, which one host is usually
/// given whole and can take addresses from at will (counted address by address, one host could
/// hold every connection). An IPv4-mapped IPv6 address, as a dual-stack listener reports an
/// IPv4 peer, is that IPv4 address.
#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
pub enum Client {
    V4(u32),
    /// The upper 64 bits: the network the host's addresses share.
    V6(u64),
}

impl Client {
    /// The client `ip` belongs to.
    pub fn of(ip: IpAddr) -> Client {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Client::V4(v4.into()),
            IpAddr::V6(v6) => Client::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// Who may connect, and how many at once.
#[derive(Clone)]
pub struct Gate {
    /// Networks allowed to connect (`--allow`); empty allows everyone.
    pub allow: Arc<Vec<Cidr>>,
    /// One permit per open connection, held until its task ends; the owner can count the
    /// connections open from the permits left.
    pub permits: Arc<Semaphore>,
    /// Connections one client (see [`Client`]) may hold at once.
    per_client: usize,
    /// Connections open per client; a client leaves the map with its last connection.
    open: Arc<Mutex<HashMap<Client, usize>>>,
}

impl Gate {
    /// A gate for `allow` and at most `max` connections at once, from any addresses.
    pub fn new(allow: Arc<Vec<Cidr>>, max: usize) -> Gate {
        Gate {
            allow,
            permits: Arc::new(Semaphore::new(max)),
            per_client: usize::MAX,
            open: Arc::default(),
        }
    }

    /// The same gate, with at most `n` connections from one address at once, so that one
    /// host cannot take every connection.
    pub fn per_client(self, n: usize) -> Gate {
        Gate {
            per_client: n,
            ..self
        }
    }

    /// Counts a connection from `ip` if its client holds fewer than its share; the
    /// returned guard gives it back when dropped.
    fn enter(&self, ip: IpAddr) -> Option<Entered> {
        let client = Client::of(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(Entered {
            open: self.open.clone(),
            client,
        })
    }

    /// Whether a client at `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(ip))
    }
}

/// One connection counted against its client, until dropped (also when its task is aborted).
struct Entered {
    open: Arc<Mutex<HashMap<Client, usize>>>,
    client: Client,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// What a server does with the connections the loop accepts.
pub trait Service {
    /// Serves one admitted connection. The loop runs the future as a task of its own and
    /// holds the connection's permit until it ends.
    fn serve(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// Turns a connection away: says so, in the server's words, and returns a task that
    /// answers the client if it is to be answered (dropping the stream closes it).
    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr, why: Refusal) -> Option<Task>;

    /// Says that accepting failed; the loop then waits [`BACKOFF`].
    fn accept_failed(&mut self, e: &io::Error);
}

/// Accepts connections on `listener` and hands each to `service`, until `stop` resolves.
/// The listener is closed on the way out (a client must not connect to a server that is
/// going away); the tasks still running are returned, for the caller to wait for or drop
/// (which aborts them).
pub async fn serve<S: Service>(
    listener: TcpListener,
    gate: &Gate,
    stop: impl Future<Output = ()>,
    mut service: S,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(stream, peer, gate, &mut service, &mut tasks),
                Err(e) => {
                    service.accept_failed(&e);
                    tokio::time::sleep(BACKOFF).await;
                }
            },
            // Finished tasks are reaped as they end, so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = &mut stop => break,
        }
    }
    drop(listener);
    tasks
}

/// Serves or refuses one accepted connection: the allow list first, then the cap, then the
/// address's share.
fn admit<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    gate: &Gate,
    service: &mut S,
    tasks: &mut JoinSet<()>,
) {
    let refusal = if !gate.allows(peer.ip()) {
        Refusal::NotAllowed
    } else if let Ok(permit) = gate.permits.clone().try_acquire_owned() {
        let Some(entered) = gate.enter(peer.ip()) else {
            drop(permit);
            return refuse(stream, peer, Refusal::PerClient, service, tasks);
        };
        let served = service.serve(stream, peer);
        tasks.spawn(async move {
            served.await;
            drop((permit, entered));
        });
        return;
    } else {
        Refusal::Full
    };
    refuse(stream, peer, refusal, service, tasks);
}

/// Hands a refused connection to the service, and runs its answer if it has one.
fn refuse<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    why: Refusal,
    service: &mut S,
    tasks: &mut JoinSet<()>,
) {
    if let Some(task) = service.refuse(stream, peer, why) {
        tasks.spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::watch;

    /// Greets each client, then holds the connection until the client closes it; refusals
    /// are logged and answered `full` when over the cap.
    #[derive(Clone, Default)]
    struct Greeter {
        refused: Arc<Mutex<Vec<Refusal>>>,
    }

    impl Service for Greeter {
        fn serve(
            &mut self,
            stream: TcpStream,
            _peer: SocketAddr,
        ) -> impl Future<Output = ()> + Send + 'static {
            greet(stream)
        }

        fn refuse(
            &mut self,
            mut stream: TcpStream,
            _peer: SocketAddr,
            why: Refusal,
        ) -> Option<Task> {
            self.refused.lock().unwrap().push(why);
            (why == Refusal::Full).then(|| -> Task {
                Box::pin(async move {
                    let _ = stream.write_all(b"full\n").await;
                })
            })
        }

        fn accept_failed(&mut self, e: &io::Error) {
            panic!("accept failed: {e}");
        }
    }

    async fn greet(mut stream: TcpStream) {
        let _ = stream.write_all(b"hi\n").await;
        let mut sink = [0u8; 16];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    }

    async fn listen() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// Connects and reads the server's first words (empty when it just closes).
    async fn greeting(addr: SocketAddr) -> (TcpStream, String) {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = client.read(&mut byte).await {
            got.push(byte[0]);
            if byte[0] == b'\n' {
                break;
            }
        }
        (client, String::from_utf8(got).unwrap())
    }

    fn stopper() -> (watch::Sender<bool>, impl Future<Output = ()>) {
        let (tx, mut rx) = watch::channel(false);
        (tx, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    }

    #[tokio::test]
    async fn serves_up_to_the_cap_refuses_beyond_and_frees_permits() {
        let (listener, addr) = listen().await;
        let gate = Gate::new(Arc::new(Vec::new()), 1);
        let greeter = Greeter::default();
        let (stop, stopped) = stopper();
        let server = tokio::spawn({
            let (gate, greeter) = (gate.clone(), greeter.clone());
            async move { serve(listener, &gate, stopped, greeter).await }
        });
        let (first, hello) = greeting(addr).await;
        assert_eq!(hello, "hi\n");
        assert_eq!(gate.permits.available_permits(), 0);
        let (_, refused) = greeting(addr).await;
        assert_eq!(refused, "full\n");
        assert_eq!(*greeter.refused.lock().unwrap(), [Refusal::Full]);
        // The first client leaves: its task ends and its permit comes back.
        drop(first);
        let mut again = String::new();
        for _ in 0..200 {
            let (client, hello) = greeting(addr).await;
            if hello == "hi\n" {
                again = hello;
                drop(client);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(again, "hi\n");
        stop.send_replace(true);
        let mut tasks = server.await.unwrap();
        while tasks.join_next().await.is_some() {}
        assert_eq!(gate.permits.available_permits(), 1);
    }

    /// Connects from `from` (any loopback address works on Linux) and reads the greeting.
    async fn greeting_from(from: &str, addr: SocketAddr) -> (TcpStream, String) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let mut client = socket.connect(addr).await.unwrap();
        let mut got = [0u8; 5];
        let n = client.read(&mut got).await.unwrap_or(0);
        (client, String::from_utf8_lossy(&got[..n]).into_owned())
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_connection() {
        let (listener, addr) = listen().await;
        let gate = Gate::new(Arc::new(Vec::new()), 3).per_client(2);
        let greeter = Greeter::default();
        let (stop, stopped) = stopper();
        let server = tokio::spawn({
            let (gate, greeter) = (gate.clone(), greeter.clone());
            async move { serve(listener, &gate, stopped, greeter).await }
        });
        let (a1, said) = greeting_from("127.0.0.1", addr).await;
        assert_eq!(said, "hi\n");
        let (_a2, said) = greeting_from("127.0.0.1", addr).await;
        assert_eq!(said, "hi\n");
        // The third from the same address is refused although a connection is free ...
        let (_, said) = greeting_from("127.0.0.1", addr).await;
        assert_eq!(said, "");
        assert_eq!(*greeter.refused.lock().unwrap(), [Refusal::PerClient]);
        assert_eq!(gate.permits.available_permits(), 1);
        // ... which another address gets.
        let (_b, said) = greeting_from("127.0.0.2", addr).await;
        assert_eq!(said, "hi\n");
        // When one of the first address's connections ends, it may open another.
        drop(a1);
        let mut again = String::new();
        for _ in 0..200 {
            let (client, said) = greeting_from("127.0.0.1", addr).await;
            if said == "hi\n" {
                again = said;
                drop(client);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(again, "hi\n");
        stop.send_replace(true);
        drop(server.await.unwrap());
    }

    /// Addresses in one IPv6 /64 share one client's share, another /64 has its own; an
    /// IPv4-mapped address shares its IPv4 address's.
    #[test]
    fn an_ipv6_64_is_one_client_and_a_mapped_address_is_its_ipv4_one() {
        let gate = Gate::new(Arc::new(Vec::new()), 1024).per_client(2);
        let enter = |ip: &str| gate.enter(ip.parse().unwrap());
        let first = enter("2001:db8:0:1::1").unwrap();
        let _second = enter("2001:db8:0:1:ffff::2").unwrap();
        assert!(
            enter("2001:db8:0:1:1234:5678:9abc:def0").is_none(),
            "same /64"
        );
        let _other = enter("2001:db8:0:2::1").expect("another /64");
        drop(first);
        assert!(enter("2001:db8:0:1::3").is_some(), "a share given back");
        let _v4 = enter("192.0.2.7").unwrap();
        let _mapped = enter("::ffff:192.0.2.7").unwrap();
        assert!(enter("::ffff:192.0.2.7").is_none(), "mapped counts as IPv4");
        assert!(enter("192.0.2.7").is_none());
        assert!(
            enter("192.0.2.8").is_some(),
            "IPv4 addresses are each their own"
        );
        assert_eq!(
            Client::of("::ffff:192.0.2.7".parse().unwrap()),
            Client::of("192.0.2.7".parse().unwrap())
        );
    }

    #[tokio::test]
    async fn refuses_addresses_outside_the_allow_list() {
        let (listener, addr) = listen().await;
        let gate = Gate::new(Arc::new(vec!["10.0.0.0/8".parse().unwrap()]), 4);
        assert!(!gate.allows(addr.ip()));
        assert!(Gate::new(Arc::new(Vec::new()), 1).allows(addr.ip()));
        let greeter = Greeter::default();
        let (stop, stopped) = stopper();
        let server = tokio::spawn({
            let (gate, greeter) = (gate.clone(), greeter.clone());
            async move { serve(listener, &gate, stopped, greeter).await }
        });
        // Closed without a word, and no permit taken.
        let (_, said) = greeting(addr).await;
        assert_eq!(said, "");
        assert_eq!(*greeter.refused.lock().unwrap(), [Refusal::NotAllowed]);
        assert_eq!(gate.permits.available_permits(), 4);
        stop.send_replace(true);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn stop_closes_the_listener_and_hands_back_running_tasks() {
        let (listener, addr) = listen().await;
        let gate = Gate::new(Arc::new(Vec::new()), 4);
        let (stop, stopped) = stopper();
        let server = tokio::spawn({
            let gate = gate.clone();
            async move { serve(listener, &gate, stopped, Greeter::default()).await }
        });
        let (client, hello) = greeting(addr).await;
        assert_eq!(hello, "hi\n");
        stop.send_replace(true);
        let mut tasks = server.await.unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
        // The connection is still served until its client leaves.
        assert_eq!(tasks.len(), 1);
        drop(client);
        while tasks.join_next().await.is_some() {}
        assert_eq!(gate.permits.available_permits(), 4);
    }
}
