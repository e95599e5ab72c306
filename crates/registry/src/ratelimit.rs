//! Failed password attempts, counted per client address and user name.
//!
//! Every Basic-auth check costs a bcrypt verification, and each failure is a guess at a
//! password: a client whose guesses at one user's password keep failing is told to slow down
//! (429 `TOOMANYREQUESTS`) before any more bcrypt work is spent on it. Each (address, user) has
//! a bucket of [`BURST`] failures that refills one every [`REFILL`]; success does not drain
//! it. Keyed by user too, so that clients sharing an address (behind a proxy, or on loopback)
//! are not all shut out by one of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may make in a row.
pub(crate) const BURST: f64 = 10.0;
/// One more allowed failure per this much time.
pub(crate) const REFILL: Duration = Duration::from_secs(6);
/// Addresses tracked at most; beyond, the oldest half is forgotten (a flood of addresses
/// cannot grow the map without bound).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub(crate) struct FailureLimiter {
    buckets: Mutex<HashMap<(IpAddr, String), Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Failures still allowed.
    left: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> Bucket {
        let gained = now.duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        Bucket {
            left: (self.left + gained).min(BURST),
            at: now,
        }
    }
}

impl FailureLimiter {
    /// How long `ip` must wait before a password for `user` is checked again; `None` when it
    /// may try now.
    pub(crate) fn wait(&self, ip: IpAddr, user: &str, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.get(&key(ip, user))?.refilled(now);
        (b.left < 1.0).then(|| REFILL.mul_f64(1.0 - b.left))
    }

    /// Counts a failed attempt by `ip` at `user`'s password.
    pub(crate) fn failed(&self, ip: IpAddr, user: &str, now: Instant) {
        let key = key(ip, user);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key) {
            let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            buckets.retain(|_, b| b.at > cut);
        }
        let b = buckets
            .get(&key)
            .map(|b| b.refilled(now))
            .unwrap_or(Bucket {
                left: BURST,
                at: now,
            });
        buckets.insert(
            key,
            Bucket {
                left: (b.left - 1.0).max(0.0),
                at: now,
            },
        );
    }
}

/// User names are client input: bounded before they become map keys.
fn key(ip: IpAddr, user: &str) -> (IpAddr, String) {
    let mut end = user.len().min(256);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    (ip, user[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_then_a_wait_that_refills() {
        let l = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..BURST as usize {
            assert_eq!(l.wait(ip, "alice", t0), None);
            l.failed(ip, "alice", t0);
        }
        let wait = l.wait(ip, "alice", t0).expect("blocked after the burst");
        assert!(wait <= REFILL && wait > Duration::ZERO, "{wait:?}");
        assert_eq!(
            l.wait(other, "alice", t0),
            None,
            "other addresses are not affected"
        );
        assert_eq!(l.wait(ip, "bob", t0), None, "other users are not affected");
        // One refill later one more attempt is allowed, and only one.
        let t1 = t0 + REFILL;
        assert_eq!(l.wait(ip, "alice", t1), None);
        l.failed(ip, "alice", t1);
        assert!(l.wait(ip, "alice", t1).is_some());
    }

    #[test]
    fn the_map_stays_bounded() {
        let l = FailureLimiter::default();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 50) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.failed(ip, "u", t0 + Duration::from_micros(i as u64));
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_TRACKED);
    }
}
