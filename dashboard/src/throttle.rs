//! Login throttling: after too many failed logins for one account, or from one address, within
//! a window, further attempts are refused (429 with `Retry-After`) without running argon2,
//! until the window has passed. Per process: with N replicas a guesser gets at most N times
//! the limit. Unknown names are counted like accounts, so a 429 does not tell which names
//! exist. Memory is bounded: names (their first 64 characters) and addresses are capped, the
//! oldest window forgotten first (IPv6 counted per /64, which one attacker usually owns
//! whole).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of [`LoginThrottle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed logins per account within `window`.
    pub per_user: u32,
    /// Failed logins per client address within `window`.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            per_user: 10,
            per_address: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Addresses (and names) tracked at once; when full, the oldest window is forgotten first.
const MAX_ADDRESSES: usize = 16_384;
/// Characters of a submitted name that identify it here.
const NAME_KEY_CHARS: usize = 64;

fn name_key(user: &str) -> String {
    user.chars().take(NAME_KEY_CHARS).collect()
}

/// Inserts `key` into a map capped at [`MAX_ADDRESSES`]: expired windows go first, then the
/// oldest one. The scan happens only when the map is full.
fn make_room<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Window>,
    key: &K,
    now: Instant,
    window: Duration,
) {
    if map.len() >= MAX_ADDRESSES && !map.contains_key(key) {
        map.retain(|_, w| now.duration_since(w.started) < window);
        if map.len() >= MAX_ADDRESSES
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Counts failed logins per account and per address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    // O(1) lookups under the lock; the only scan is the pruning of a full address map.
    users: Mutex<HashMap<String, Window>>,
    addresses: Mutex<HashMap<IpAddr, Window>>,
}

/// The key of an address: IPv4 as is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
        v4 => v4,
    }
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// `Err(retry_after)` when the submitted name `user` or `address` has used up its
    /// failures.
    pub fn check(
        &self,
        user: Option<&str>,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = self.limits.window;
        let blocked = |w: Option<&Window>, limit: u32| {
            w.filter(|w| now.duration_since(w.started) < window && w.failures >= limit)
                .map(|w| window - now.duration_since(w.started))
        };
        if let Some(user) = user {
            let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(wait) = blocked(users.get(&name_key(user)), self.limits.per_user) {
                return Err(wait);
            }
        }
        if let Some(ip) = address {
            let addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(wait) = blocked(addresses.get(&address_key(ip)), self.limits.per_address) {
                return Err(wait);
            }
        }
        Ok(())
    }

    /// Counts a failed login.
    pub fn failed(&self, user: Option<&str>, address: Option<IpAddr>, now: Instant) {
        let window = self.limits.window;
        let count = |w: &mut Window| {
            if now.duration_since(w.started) >= window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        };
        let fresh = Window {
            started: now,
            failures: 0,
        };
        if let Some(user) = user {
            let key = name_key(user);
            let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            make_room(&mut users, &key, now, window);
            count(users.entry(key).or_insert(fresh));
        }
        if let Some(ip) = address {
            let key = address_key(ip);
            let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
            make_room(&mut addresses, &key, now, window);
            count(addresses.entry(key).or_insert(fresh));
        }
    }

    /// A successful login clears the account's failures (not the address's: one valid
    /// account must not reset the count of guesses at the others).
    pub fn succeeded(&self, user: &str) {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name_key(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ThrottleLimits {
        ThrottleLimits {
            per_user: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_account_is_throttled_after_its_failures_until_the_window_passes() {
        let t = LoginThrottle::new(limits());
        let start = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(Some("admin"), Some(a), start).is_ok());
            t.failed(Some("admin"), Some(a), start);
        }
        // From another address too: the account is what is being guessed.
        let wait = t.check(Some("admin"), Some(b), start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        assert!(t.check(Some("other"), Some(b), start).is_ok());
        let later = start + Duration::from_secs(61);
        assert!(t.check(Some("admin"), Some(b), later).is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_accounts_and_ipv6_by_its_64() {
        let t = LoginThrottle::new(limits());
        let now = Instant::now();
        for i in 0..5 {
            let ip: IpAddr = format!("2001:db8:1:2::{i}").parse().unwrap();
            t.failed(None, Some(ip), now);
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(t.check(Some("admin"), Some(same_64), now).is_err());
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.check(Some("admin"), Some(other_64), now).is_ok());
    }

    #[test]
    fn success_clears_the_account_only_and_the_address_map_stays_bounded() {
        let t = LoginThrottle::new(limits());
        let now = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            t.failed(Some("admin"), Some(a), now);
        }
        t.succeeded("admin");
        assert!(t.check(Some("admin"), None, now).is_ok());
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            t.failed(Some(&format!("name-{i}")), Some(IpAddr::V4(i.into())), now);
        }
        assert!(t.addresses.lock().unwrap().len() <= MAX_ADDRESSES);
        assert!(t.users.lock().unwrap().len() <= MAX_ADDRESSES);
    }
}
