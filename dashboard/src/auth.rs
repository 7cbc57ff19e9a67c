//! Sessions and passwords. Sessions are stateless HMAC-signed cookies
//! (`v2.<username hex>.<expiry unix>.<nonce hex>.<mac hex>`), so replicas sharing the key
//! accept each other's sessions. The MAC also covers the user's current password hash: changing
//! a password (or removing the user) ends every session of that user at once, on every replica.
//! Logout records the session's MAC, never the cookie, in the database through
//! [`crate::DashboardData`], so it holds across replicas and restarts.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The identity of one session: its MAC. What logout stores, and all it stores.
pub type SessionId = [u8; 32];

/// Longest cookie value looked at; anything longer is not a session.
const MAX_COOKIE_LEN: usize = 1024;

/// Hashes a password for `DashboardConfig::users` (argon2id, default parameters, random salt).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .expect("16 bytes always encode as a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// A client-supplied string as logs may show it: at most 64 characters, control and
/// formatting characters (newlines, bidi overrides) escaped, so one submitted value can
/// neither forge a log line nor hide in one.
pub fn loggable(text: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
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
        if found {
            tracing::warn!(
                user = %loggable(username),
                "dashboard user has an unparsable password hash"
            );
        }
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

/// A session cookie whose MAC, expiry and user checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSession {
    pub user: String,
    /// Unix seconds.
    pub expires: i64,
    pub id: SessionId,
}

/// Signs and checks session cookies.
pub struct Sessions {
    key: Vec<u8>,
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
        Self { key }
    }

    /// The MAC of `payload` for a user whose password hash is `credential`.
    fn mac(&self, payload: &str, credential: &str) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("any key length");
        m.update(b"certfleet-dashboard-session\0");
        m.update(payload.as_bytes());
        m.update(b"\0");
        m.update(credential.as_bytes());
        m
    }

    /// A cookie value for `username`, whose password hash is `credential`, valid until
    /// `expires` (unix seconds). A random nonce makes every login a distinct session, so
    /// logging out of one leaves the user's others alone.
    pub fn issue(&self, username: &str, credential: &str, expires: i64) -> String {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let payload = format!("v2.{}.{expires}.{nonce}", hex::encode(username));
        let tag = hex::encode(self.mac(&payload, credential).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The session of a cookie signed with this key for one of `users` with that user's
    /// current password hash, and not expired at `now`. (Whether it was logged out is the
    /// database's to say.)
    pub fn verify(
        &self,
        value: &str,
        users: &[(String, String)],
        now: i64,
    ) -> Option<VerifiedSession> {
        if value.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (payload, tag) = value.rsplit_once('.')?;
        let tag: SessionId = hex::decode(tag).ok()?.try_into().ok()?;
        let mut parts = payload.split('.');
        if parts.next()? != "v2" {
            return None;
        }
        let user = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let _nonce = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let (_, credential) = users.iter().find(|(u, _)| *u == user)?;
        self.mac(payload, credential).verify_slice(&tag).ok()?;
        if expires <= now {
            return None;
        }
        Some(VerifiedSession {
            user,
            expires,
            id: tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(hash: &str) -> Vec<(String, String)> {
        vec![("alice.<x>".to_owned(), hash.to_owned())]
    }

    #[test]
    fn session_round_trip_expiry_tamper_and_key() {
        let s = Sessions::new(b"k");
        let u = users("$argon2id$hash-1");
        let c = s.issue("alice.<x>", "$argon2id$hash-1", 1000);
        let v = s.verify(&c, &u, 999).unwrap();
        assert_eq!((v.user.as_str(), v.expires), ("alice.<x>", 1000));
        assert_eq!(s.verify(&c, &u, 1000), None, "expired");
        let forged = c.replace(".1000.", ".9999.");
        assert_eq!(s.verify(&forged, &u, 999), None, "expiry is signed");
        assert_eq!(
            Sessions::new(b"other").verify(&c, &u, 999),
            None,
            "other key"
        );
        assert_eq!(s.verify("garbage", &u, 0), None);
        assert_eq!(s.verify(&"9".repeat(5000), &u, 0), None);
        let again = s.issue("alice.<x>", "$argon2id$hash-1", 1000);
        assert_ne!(
            s.verify(&again, &u, 999).unwrap().id,
            v.id,
            "two logins are two sessions"
        );
    }

    #[test]
    fn a_new_password_or_a_removed_user_ends_the_session() {
        let s = Sessions::new(b"k");
        let c = s.issue("alice.<x>", "$argon2id$old", 1000);
        assert!(s.verify(&c, &users("$argon2id$old"), 999).is_some());
        assert_eq!(s.verify(&c, &users("$argon2id$new"), 999), None);
        assert_eq!(s.verify(&c, &[], 999), None);
    }

    #[test]
    fn password_hash_verifies() {
        let h = hash_password("s3cret");
        let users = vec![("alice".to_owned(), h)];
        assert!(verify_user(&users, "alice", "s3cret"));
        assert!(!verify_user(&users, "alice", "wrong"));
        assert!(!verify_user(&users, "bob", "s3cret"));
        assert!(!verify_user(&[], "alice", "s3cret"));
    }

    #[test]
    fn logged_strings_are_short_and_on_one_line() {
        assert_eq!(loggable("admin"), "admin");
        let forged = "x\n2026-01-01T00:00:00Z INFO dashboard: login ok user=admin";
        assert!(!loggable(forged).contains('\n'));
        assert!(!loggable("a\u{202e}b").contains('\u{202e}'));
        let long = "a".repeat(1000);
        assert_eq!(loggable(&long).chars().count(), 65);
    }
}
