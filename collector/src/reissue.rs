//! `certfleet-collector reissue-server-cert` (issue 16): a new server certificate and key
//! signed by the deployment's existing CA, replacing the OpenSSL recipe. The agents pin the CA,
//! so they accept the new certificate without any change on the PCs.
//!
//! The CA key is kept offline (`init --ca-key-dir`), so this command runs wherever the key is
//! brought: it reads `ca.pem` and `ca-key.pem`, checks that they belong together, takes the
//! names from the current certificate (`--from server.pem`) or from `--san`, and writes
//! `server.pem` and `server-key.pem` into `--out-dir`. Existing files are kept unless
//! `--replace`, which renames them `*.replaced-<time>` first. The collector reads its
//! certificate at start: restart it afterwards.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustls_pki_types::{CertificateDer, pem::PemObject};

use crate::init::{SERVER_CERT, SERVER_KEY};
use crate::pki::{self, PemPair};

/// What to issue and where.
#[derive(Debug, Clone)]
pub struct Request {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// The current server certificate, whose names the new one keeps.
    pub from: Option<PathBuf>,
    /// Names for the new certificate (instead of, or in addition to, `from`'s).
    pub sans: Vec<String>,
    pub days: i64,
    pub out_dir: PathBuf,
    pub replace: bool,
}

/// What was written.
#[derive(Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub sans: Vec<String>,
    pub not_after: chrono::DateTime<chrono::Utc>,
    /// The files moved aside by `--replace`.
    pub replaced: Vec<PathBuf>,
    /// When the CA expires before the new certificate (agents stop trusting it then).
    pub ca_not_after: chrono::DateTime<chrono::Utc>,
}

fn der_of(pem: &str, what: &Path) -> Result<Vec<u8>> {
    Ok(CertificateDer::from_pem_slice(pem.as_bytes())
        .with_context(|| format!("{} holds no PEM certificate", what.display()))?
        .to_vec())
}

/// Issues and writes (see the module documentation).
pub fn reissue(req: &Request) -> Result<Issued> {
    let ca = PemPair {
        cert_pem: std::fs::read_to_string(&req.ca_cert)
            .with_context(|| format!("cannot read the CA certificate {}", req.ca_cert.display()))?,
        key_pem: std::fs::read_to_string(&req.ca_key).with_context(|| {
            format!(
                "cannot read the CA key {} (kept offline: bring it here for this command)",
                req.ca_key.display()
            )
        })?,
    };
    let mut sans = Vec::new();
    if let Some(from) = &req.from {
        let pem = std::fs::read_to_string(from)
            .with_context(|| format!("cannot read {}", from.display()))?;
        let names = certfleet_certinfo::server_cert_names(&der_of(&pem, from)?)
            .with_context(|| format!("{} is not a certificate", from.display()))?;
        sans.extend(names.subject_alt_names);
    }
    for san in &req.sans {
        if !sans.contains(san) {
            sans.push(san.clone());
        }
    }
    anyhow::ensure!(
        !sans.is_empty(),
        "no names for the certificate: give --from CURRENT-server.pem or --san NAME"
    );
    anyhow::ensure!(
        (1..=3650).contains(&req.days),
        "--days {} is outside 1..=3650",
        req.days
    );
    let issued = pki::reissue_server_cert(&ca, &sans, req.days).with_context(|| {
        format!(
            "cannot issue with {} and {}",
            req.ca_cert.display(),
            req.ca_key.display()
        )
    })?;
    let not_after =
        certfleet_certinfo::parse_der(&der_of(&issued.cert_pem, &req.ca_cert)?)?.not_after;
    let ca_not_after =
        certfleet_certinfo::parse_der(&der_of(&ca.cert_pem, &req.ca_cert)?)?.not_after;

    std::fs::create_dir_all(&req.out_dir)
        .with_context(|| format!("cannot create {}", req.out_dir.display()))?;
    let cert = req.out_dir.join(SERVER_CERT);
    let key = req.out_dir.join(SERVER_KEY);
    let existing: Vec<&PathBuf> = [&cert, &key].into_iter().filter(|p| p.exists()).collect();
    anyhow::ensure!(
        existing.is_empty() || req.replace,
        "{} already exists; pass --replace to move the current files aside, or choose another --out-dir",
        existing[0].display()
    );
    // Written next to their final names first, so a failure leaves the current pair intact.
    let new_cert = req.out_dir.join(format!("{SERVER_CERT}.new"));
    let new_key = req.out_dir.join(format!("{SERVER_KEY}.new"));
    write_new(&new_key, &issued.key_pem, true)?;
    write_new(&new_cert, &issued.cert_pem, false)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut replaced = Vec::new();
    for path in existing {
        let aside = PathBuf::from(format!("{}.replaced-{stamp}", path.display()));
        std::fs::rename(path, &aside)
            .with_context(|| format!("cannot move {} aside", path.display()))?;
        replaced.push(aside);
    }
    std::fs::rename(&new_key, &key).with_context(|| format!("cannot write {}", key.display()))?;
    std::fs::rename(&new_cert, &cert)
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok(Issued {
        cert,
        key,
        sans,
        not_after,
        replaced,
        ca_not_after,
    })
}

/// Creates `path` (never overwriting); a key gets mode 0600 from the moment it exists.
fn write_new(path: &Path, text: &str, secret: bool) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let _ = secret;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reissue_keeps_the_names_and_moves_the_old_pair_aside_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        crate::init::init(
            dir.path(),
            &["collector.example".into(), "192.0.2.7".into()],
            None,
            None,
        )
        .unwrap();
        let old = std::fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap();
        let mut req = Request {
            ca_cert: dir.path().join(crate::init::CA_CERT),
            ca_key: dir.path().join(crate::init::CA_KEY),
            from: Some(dir.path().join(SERVER_CERT)),
            sans: vec!["new.example".into()],
            days: 90,
            out_dir: dir.path().to_owned(),
            replace: false,
        };
        let err = reissue(&req).unwrap_err().to_string();
        assert!(err.contains("--replace"), "{err}");
        req.replace = true;
        let issued = reissue(&req).unwrap();
        assert_eq!(
            issued.sans,
            ["collector.example", "192.0.2.7", "new.example"]
        );
        assert_eq!(issued.replaced.len(), 2);
        assert_eq!(std::fs::read_to_string(&issued.replaced[0]).unwrap(), old);
        let new = std::fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap();
        assert_ne!(new, old);
        let days = (issued.not_after - chrono::Utc::now()).num_days();
        assert!((88..=90).contains(&days), "{days}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&issued.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another deployment's CA key is refused before anything is written.
        let other = tempfile::tempdir().unwrap();
        crate::init::init(other.path(), &["x.example".into()], None, None).unwrap();
        req.ca_key = other.path().join(crate::init::CA_KEY);
        let err = format!("{:#}", reissue(&req).unwrap_err());
        assert!(
            err.contains("does not belong to the CA certificate"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap(),
            new
        );
    }
}
