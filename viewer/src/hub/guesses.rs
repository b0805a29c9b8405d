//! Slowing password guessing with `--http-auth`: each client address may send
//! [`BURST`] wrong credentials at once, then one more every [`INTERVAL`]; until then its
//! requests are answered `429` with `Retry-After`, their credentials not even looked at.
//! Other addresses are not affected. The table is bounded: past [`MAX_ADDRESSES`] failing
//! addresses, new ones share a single allowance (a guesser with thousands of addresses), which
//! such a guesser can keep used up for every new address, a rightful one's too: checking a
//! new address's credentials first would let its right guess through at any rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shared::runtime::accept::Client;

/// Wrong credentials an address may send in a row before it must wait.
pub const BURST: u32 = 5;
/// After the burst, one more guess per interval: 5 a minute, 7200 a day.
pub const INTERVAL: Duration = Duration::from_secs(12);
/// Addresses tracked at once.
pub const MAX_ADDRESSES: usize = 4096;

/// Whose guesses are counted together: one client ([`Client`]: an IPv4 address, or an IPv6
/// /64, what one host is usually given and can pick addresses from at will).
#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
enum Key {
    One(Client),
    /// Every address that found the table full.
    Overflow,
}

fn key(ip: IpAddr) -> Key {
    Key::One(Client::of(ip))
}

/// The failures of every address, as the time its allowance will be whole again after its
/// last failure plus one interval per failure since (the generic cell rate algorithm: one
/// instant per address, nothing to sweep on a timer).
#[derive(Default)]
pub struct Guesses {
    table: Mutex<HashMap<Key, Instant>>,
}

impl Guesses {
    /// How long `ip` must wait before its credentials are checked again; `None` when they are
    /// checked now.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let due = match table.get(&key(ip)) {
            Some(due) => *due,
            None if table.len() >= MAX_ADDRESSES => *table.get(&Key::Overflow)?,
            None => return None,
        };
        let limit = now + INTERVAL * (BURST - 1);
        (due > limit).then(|| due - limit)
    }

    /// Counts a wrong guess from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = key(ip);
        if !table.contains_key(&key) && table.len() >= MAX_ADDRESSES {
            // Addresses whose allowance is whole again need no entry.
            table.retain(|_, due| *due > now);
            if table.len() >= MAX_ADDRESSES {
                key = Key::Overflow;
            }
        }
        let due = table.entry(key).or_insert(now);
        *due = (*due).max(now) + INTERVAL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_guesser_waits_after_its_burst_and_others_do_not() {
        let g = Guesses::default();
        let t = Instant::now();
        for _ in 0..BURST - 1 {
            g.failed(ip("127.0.0.1"), t);
            assert_eq!(g.wait(ip("127.0.0.1"), t), None);
        }
        g.failed(ip("127.0.0.1"), t);
        assert_eq!(g.wait(ip("127.0.0.1"), t), Some(INTERVAL));
        assert_eq!(g.wait(ip("::ffff:127.0.0.1"), t), Some(INTERVAL));
        assert_eq!(g.wait(ip("127.0.0.2"), t), None);
        // One more guess per interval, and a whole burst again once the allowance refilled.
        let later = t + INTERVAL;
        assert_eq!(g.wait(ip("127.0.0.1"), later), None);
        g.failed(ip("127.0.0.1"), later);
        assert_eq!(g.wait(ip("127.0.0.1"), later), Some(INTERVAL));
        let rested = later + INTERVAL * BURST;
        for _ in 0..BURST - 1 {
            g.failed(ip("127.0.0.1"), rested);
        }
        assert_eq!(g.wait(ip("127.0.0.1"), rested), None);
    }

    #[test]
    fn an_ipv6_host_is_one_address_whatever_it_picks_in_its_64() {
        let g = Guesses::default();
        let t = Instant::now();
        for i in 0..BURST {
            g.failed(ip(&format!("2001:db8:1:2::{i:x}")), t);
        }
        assert!(g.wait(ip("2001:db8:1:2:ffff::1"), t).is_some());
        assert_eq!(g.wait(ip("2001:db8:1:3::1"), t), None);
    }

    #[test]
    fn the_table_is_bounded_and_a_full_one_shares_an_allowance() {
        let g = Guesses::default();
        let t = Instant::now();
        for i in 0..MAX_ADDRESSES as u32 {
            g.failed(IpAddr::V4((0x0a00_0000 + i).into()), t);
        }
        // Full of live entries: newcomers share the overflow allowance.
        for _ in 0..BURST {
            g.failed(ip("192.168.0.1"), t);
        }
        assert!(g.wait(ip("192.168.0.2"), t).is_some());
        assert_eq!(g.table.lock().unwrap().len(), MAX_ADDRESSES + 1);
        // Once the old entries are whole again they are forgotten to make room.
        let later = t + INTERVAL * (BURST + 1);
        g.failed(ip("192.168.0.3"), later);
        assert_eq!(g.table.lock().unwrap().len(), 1);
        assert_eq!(g.wait(ip("192.168.0.2"), later), None);
    }
}
