//! Connections that have not yet proven themselves, oldest first, so that they cannot hold a
//! server from those who can: the hub's (with `--http-auth`) until a request its credentials
//! let through, the streamer port's until a first frame (after the proof, with `--secret`).
//! Such a connection costs an attacker little to keep (a request without credentials every few
//! seconds; a socket silent until its handshake limit, then another), and a few addresses fill
//! every place. So when a server runs short of places, a newcomer closes the oldest unproven
//! connection: a user's is unproven only for the round trip of its first request or frame, a
//! squatter's for good.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Places kept free for newcomers: past `max - HEADROOM` open connections, each newcomer
/// closes the oldest unproven one.
pub const HEADROOM: usize = 8;

/// The unproven connections, oldest first: each one's number and how to close it.
type Line = VecDeque<(u64, Arc<Notify>)>;

/// The unproven connections.
#[derive(Default)]
pub struct Unproven {
    waiting: Arc<Mutex<Line>>,
    next: AtomicU64,
}

impl Unproven {
    /// Counts a new connection as unproven until [`Ticket::proven`] or its end.
    pub fn enter(&self) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(Notify::new());
        lock(&self.waiting).push_back((id, evicted.clone()));
        Ticket {
            id,
            evicted,
            waiting: self.waiting.clone(),
        }
    }

    /// Counts a newcomer as unproven ([`Unproven::enter`]) and, when `open` of a server's `max`
    /// places are taken (the newcomer's included) and fewer than [`HEADROOM`] are left, closes
    /// the oldest unproven connection; also whether it closed one.
    pub fn enter_making_room(&self, open: usize, max: usize) -> (Ticket, bool) {
        let ticket = self.enter();
        let evicted = open > max.saturating_sub(HEADROOM) && self.evict_oldest(&ticket);
        (ticket, evicted)
    }

    /// Closes the oldest unproven connection other than `newcomer`'s; whether there was one.
    pub fn evict_oldest(&self, newcomer: &Ticket) -> bool {
        let mut waiting = lock(&self.waiting);
        let Some(at) = waiting.iter().position(|(id, _)| *id != newcomer.id) else {
            return false;
        };
        if let Some((_, evicted)) = waiting.remove(at) {
            // Stored if the connection is not waiting on it yet: it ends at its next wait.
            evicted.notify_one();
        }
        true
    }

    /// How many connections are unproven now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.waiting).len()
    }
}

/// One connection's place among the unproven.
pub struct Ticket {
    id: u64,
    evicted: Arc<Notify>,
    waiting: Arc<Mutex<Line>>,
}

impl Ticket {
    /// The connection proved itself (a request its credentials let through, a first frame):
    /// no longer evictable.
    pub fn proven(&self) {
        lock(&self.waiting).retain(|(id, _)| *id != self.id);
    }

    /// Resolves when a newcomer closed this connection.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.proven();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn was_evicted(t: &Ticket) -> bool {
        tokio::time::timeout(Duration::from_millis(50), t.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_oldest_unproven_goes_first_and_proven_ones_never() {
        let unproven = Unproven::default();
        let (user, squatter, late, newcomer) = (
            unproven.enter(),
            unproven.enter(),
            unproven.enter(),
            unproven.enter(),
        );
        user.proven();
        assert_eq!(unproven.len(), 3);
        assert!(unproven.evict_oldest(&newcomer));
        assert!(was_evicted(&squatter).await);
        assert!(!was_evicted(&user).await, "a proven connection stays");
        assert!(!was_evicted(&late).await, "one at a time");
        drop(late);
        // Only the newcomer itself is left: nobody to evict.
        assert!(!unproven.evict_oldest(&newcomer));
        assert!(!was_evicted(&newcomer).await);
        drop(newcomer);
        assert_eq!(unproven.len(), 0);
    }

    #[tokio::test]
    async fn room_is_made_only_when_fewer_than_the_headroom_are_left() {
        let unproven = Unproven::default();
        let (squatter, _) = unproven.enter_making_room(1, 100);
        let (_calm, evicted) = unproven.enter_making_room(100 - HEADROOM, 100);
        assert!(!evicted);
        assert!(!was_evicted(&squatter).await);
        let (_pressed, evicted) = unproven.enter_making_room(100 - HEADROOM + 1, 100);
        assert!(evicted);
        assert!(was_evicted(&squatter).await);
    }
}
