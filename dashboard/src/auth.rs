//! Sessions, passwords and the bearer token. Sessions are stateless HMAC-signed cookies
//! (`v1.<username hex>.<expiry unix>.<mac hex>`) so replicas sharing the key accept each
//! other's sessions; logout also records the cookie in a per-process revocation list.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hashes a password for `DashboardConfig::users` (argon2id, default parameters, random salt).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .expect("16 bytes always encode as a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Checks `password` against the configured users. Slow on purpose (argon2): call it on the
/// blocking pool. An unknown user is checked against another user's hash anyway so that the
/// answer takes as long as for a known one.
pub fn verify_user(users: &[(String, String)], username: &str, password: &str) -> bool {
    let (found, hash) = match users.iter().find(|(u, _)| u == username) {
        Some((_, h)) => (true, h.as_str()),
        None => match users.first() {
            Some((_, h)) => (false, h.as_str()),
            None => return false,
        },
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        tracing::warn!(
            user = username,
            "dashboard user has an unparsable password hash"
        );
        return false;
    };
    // The hash carries its own parameters; cap them so a bad config cannot pin a core.
    if let Some(m) = parsed.params.get_decimal("m")
        && m > 256 * 1024
    {
        return false;
    }
    let ok = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::default(),
    )
    .verify_password(password.as_bytes(), &parsed)
    .is_ok();
    found && ok
}

/// Compares two secrets without leaking where they differ: both are MAC'd under a random
/// key and the MACs compared in constant time (hmac's `verify_slice`).
pub fn secret_eq(a: &str, b: &str) -> bool {
    let key = rand::random::<[u8; 32]>();
    let mut ma = HmacSha256::new_from_slice(&key).expect("any key length");
    ma.update(a.as_bytes());
    let tag = ma.finalize().into_bytes();
    let mut mb = HmacSha256::new_from_slice(&key).expect("any key length");
    mb.update(b.as_bytes());
    mb.verify_slice(&tag).is_ok()
}

/// Signs and checks session cookies.
pub struct Sessions {
    key: Vec<u8>,
    /// Logged-out cookie values → their expiry (unix seconds), pruned as they expire.
    revoked: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions { .. }")
    }
}

impl Sessions {
    pub fn new(key: &[u8]) -> Self {
        // An empty key would make cookies forgeable; fall back to a random one.
        let key = if key.is_empty() {
            rand::random::<[u8; 32]>().to_vec()
        } else {
            key.to_vec()
        };
        Self {
            key,
            revoked: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("any key length");
        m.update(b"certfleet-dashboard-session\0");
        m.update(payload.as_bytes());
        m
    }

    /// A cookie value for `username` valid until `expires` (unix seconds).
    pub fn issue(&self, username: &str, expires: i64) -> String {
        let payload = format!("v1.{}.{expires}", hex::encode(username));
        let tag = hex::encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The username of a valid, unexpired, not logged-out cookie.
    pub fn verify(&self, value: &str, now: i64) -> Option<String> {
        let (payload, tag) = value.rsplit_once('.')?;
        let tag = hex::decode(tag).ok()?;
        self.mac(payload).verify_slice(&tag).ok()?;
        let mut parts = payload.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let user = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || expires <= now {
            return None;
        }
        if self
            .revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(value)
        {
            return None;
        }
        Some(user)
    }

    /// Remembers a logged-out cookie until it would have expired anyway.
    pub fn revoke(&self, value: &str, now: i64) {
        let Some(expires) = value
            .rsplit_once('.')
            .and_then(|(p, _)| p.rsplit_once('.'))
            .and_then(|(_, e)| e.parse::<i64>().ok())
        else {
            return;
        };
        let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        revoked.retain(|_, exp| *exp > now);
        // Bounded: a flood of logouts cannot grow memory without limit.
        if revoked.len() < 100_000 {
            revoked.insert(value.to_owned(), expires);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_round_trip_expiry_tamper_and_revoke() {
        let s = Sessions::new(b"k");
        let c = s.issue("alice.<x>", 1000);
        assert_eq!(s.verify(&c, 999).as_deref(), Some("alice.<x>"));
        assert_eq!(s.verify(&c, 1000), None, "expired");
        let forged = c.replace(".1000.", ".9999.");
        assert_eq!(s.verify(&forged, 999), None, "expiry is signed");
        assert_eq!(Sessions::new(b"other").verify(&c, 999), None, "other key");
        assert_eq!(s.verify("garbage", 0), None);
        s.revoke(&c, 999);
        assert_eq!(s.verify(&c, 999), None, "revoked");
    }

    #[test]
    fn password_hash_verifies() {
        let h = hash_password("s3cret");
        let users = vec![("alice".to_owned(), h)];
        assert!(verify_user(&users, "alice", "s3cret"));
        assert!(!verify_user(&users, "alice", "wrong"));
        assert!(!verify_user(&users, "bob", "s3cret"));
        assert!(!verify_user(&[], "alice", "s3cret"));
        assert!(secret_eq("tok", "tok"));
        assert!(!secret_eq("tok", "tok2"));
    }
}
