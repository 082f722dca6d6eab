//! How often one client address may call `/revoke`: [`REVOCATIONS_PER_MINUTE`] at once,
//! then one every `60 / REVOCATIONS_PER_MINUTE` seconds (a token bucket, kept as the
//! generic cell rate algorithm: one instant per address). Revocation needs no
//! credential, so without a limit anyone could ask about tokens as fast as the database
//! answers; with it, guessing one 178-bit token stays out of reach, and a holder who
//! found a leak never needs more than a few calls.
//!
//! IPv6 clients are counted per /64 (one subscriber's network; counting single
//! addresses would give each of them 2^64 budgets). Memory is bounded: past
//! [`MAX_ADDRESSES`] addresses, the ones whose budget is full again are forgotten, and
//! if every one is still busy, new addresses are refused until some are (fail closed:
//! a flood from many addresses slows revocation, it does not open it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Revocations one client address may make per minute, all at once if it likes.
pub const REVOCATIONS_PER_MINUTE: u32 = 20;
/// Addresses remembered at most (about 40 bytes each).
pub const MAX_ADDRESSES: usize = 65_536;

/// The per-address budget of one server.
#[derive(Debug)]
pub struct Throttle {
    /// The time between two requests at the steady rate.
    interval: Duration,
    /// How far ahead of now an address's schedule may run: the burst.
    burst: Duration,
    capacity: usize,
    /// Per address, when its budget is full again (GCRA's theoretical arrival time).
    full_at: Mutex<HashMap<IpAddr, Instant>>,
}

impl Throttle {
    /// `per_minute` requests per minute and address, all at once if need be; at most
    /// `capacity` addresses remembered.
    pub fn new(per_minute: u32, capacity: usize) -> Throttle {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        Throttle {
            interval,
            burst: interval * per_minute.max(1),
            capacity,
            full_at: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s budget at `now`; when there is none left, how
    /// long until there is.
    pub fn admit(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = counted_as(client);
        let mut full_at = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        if full_at.len() >= self.capacity && !full_at.contains_key(&key) {
            full_at.retain(|_, t| *t > now);
            if full_at.len() >= self.capacity {
                return Err(self.interval);
            }
        }
        let start = full_at.get(&key).map_or(now, |t| (*t).max(now));
        let next = start + self.interval;
        if next > now + self.burst {
            return Err(next - (now + self.burst));
        }
        full_at.insert(key, next);
        Ok(())
    }
}

/// The address a budget belongs to: an IPv4 address, an IPv6 /64.
fn counted_as(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let t = Throttle::new(20, 100);
        let start = Instant::now();
        let a = ip("203.0.113.7");
        for _ in 0..20 {
            assert_eq!(t.admit(a, start), Ok(()));
        }
        let wait = t.admit(a, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(3));
        // Another address has its own budget; a /64 shares one.
        assert_eq!(t.admit(ip("203.0.113.8"), start), Ok(()));
        for _ in 0..20 {
            assert_eq!(t.admit(ip("2001:db8::1"), start), Ok(()));
        }
        assert!(t.admit(ip("2001:db8::ffff:2"), start).is_err());
        assert_eq!(t.admit(ip("2001:db8:0:1::1"), start), Ok(()));
        // One more every three seconds.
        assert_eq!(t.admit(a, start + wait), Ok(()));
        assert!(t.admit(a, start + wait).is_err());
        assert_eq!(t.admit(a, start + Duration::from_secs(60)), Ok(()));
        // IPv4-mapped IPv6 is the IPv4 address.
        let mapped = ip("::ffff:203.0.113.7");
        assert_eq!(counted_as(mapped), a);
    }

    #[test]
    fn memory_is_bounded_and_a_full_table_refuses() {
        let t = Throttle::new(20, 2);
        let start = Instant::now();
        assert_eq!(t.admit(ip("192.0.2.1"), start), Ok(()));
        assert_eq!(t.admit(ip("192.0.2.2"), start), Ok(()));
        assert!(t.admit(ip("192.0.2.3"), start).is_err());
        // Known addresses keep their budget.
        assert_eq!(t.admit(ip("192.0.2.1"), start), Ok(()));
        // Once the others' budgets are full again, they are forgotten.
        let later = start + Duration::from_secs(7);
        assert_eq!(t.admit(ip("192.0.2.3"), later), Ok(()));
        assert_eq!(t.full_at.lock().unwrap().len(), 1);
    }
}
