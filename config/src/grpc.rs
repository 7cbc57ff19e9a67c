//! `[grpc]`: the agents' listener beyond its address: reflection, the connection cap, the TLS
//! handshake timeout and how many calls may be read at once.

use std::time::Duration;

use serde::Deserialize;

use crate::bounded;
use crate::error::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    /// Serve the gRPC reflection service (what `grpcurl` lists). Default true; the production
    /// example turns it off.
    pub reflection: Option<bool>,
    /// Open connections at most; one more is closed at once, before its TLS handshake.
    pub max_connections: Option<usize>,
    /// Seconds a client has to complete its TLS handshake.
    pub tls_handshake_timeout_seconds: Option<u64>,
    /// Calls whose message may be read at the same time; more are refused before their
    /// message is read (each may be up to `limits.max_message_bytes`).
    pub max_inflight_requests: Option<usize>,
}

/// The resolved `[grpc]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcSettings {
    pub reflection: bool,
    pub max_connections: usize,
    pub tls_handshake_timeout: Duration,
    pub max_inflight_requests: usize,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            reflection: true,
            // Agents hold a connection for one report (seconds), so a fleet reconnecting after
            // an outage needs a few hundred at a time; the cap bounds idle ones held open.
            max_connections: 2048,
            tls_handshake_timeout: Duration::from_secs(10),
            // 256 messages of at most 4 MiB: the worst case of memory before any is checked.
            max_inflight_requests: 256,
        }
    }
}

impl GrpcSettings {
    pub fn resolve(section: &GrpcSection) -> Result<Self, ConfigError> {
        let mut s = GrpcSettings::default();
        if let Some(v) = section.reflection {
            s.reflection = v;
        }
        if let Some(v) = section.max_connections {
            s.max_connections = bounded("grpc.max_connections", v, 1, 1_000_000)?;
        }
        if let Some(v) = section.tls_handshake_timeout_seconds {
            let v = bounded("grpc.tls_handshake_timeout_seconds", v as usize, 1, 300)?;
            s.tls_handshake_timeout = Duration::from_secs(v as u64);
        }
        if let Some(v) = section.max_inflight_requests {
            s.max_inflight_requests = bounded("grpc.max_inflight_requests", v, 1, 100_000)?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let s = GrpcSettings::resolve(&GrpcSection::default()).unwrap();
        assert_eq!(s, GrpcSettings::default());
        assert!(s.reflection);
        let section: GrpcSection =
            toml::from_str("reflection = false\nmax_connections = 10\n").unwrap();
        let s = GrpcSettings::resolve(&section).unwrap();
        assert!(!s.reflection);
        assert_eq!(s.max_connections, 10);
        let section: GrpcSection = toml::from_str("tls_handshake_timeout_seconds = 0\n").unwrap();
        let err = GrpcSettings::resolve(&section).unwrap_err().to_string();
        assert!(
            err.starts_with("grpc.tls_handshake_timeout_seconds"),
            "{err}"
        );
    }
}
