//! TLS for heaplab's outgoing HTTPS (alert webhooks to Slack or Discord, a
//! device polled over `https://`): rustls with the `ring` provider. reqwest's
//! own `rustls` feature brings aws-lc-rs, whose build wants cmake; ring
//! builds with a C compiler alone, so heaplab still builds on a clean
//! machine. reqwest is built with `rustls-no-provider`, which means the
//! provider must be installed in the process before the first
//! `reqwest::Client` is built: `main` does it first thing, and the
//! integration tests do it when their binary loads.
//!
//! Server certificates are checked against the platform's roots
//! (rustls-platform-verifier); [`load_ca_file`] adds a team's own CA for
//! internal receivers (`[alerts] ca_file`).

use std::path::{Path, PathBuf};

/// Makes ring the process's rustls crypto provider. Idempotent: a second
/// call (or a provider installed by someone else first) changes nothing.
pub fn install_crypto_provider() {
    // Err only says a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `reqwest::Client::builder()` with the provider installed first, so a
/// client built outside `main` (the server started by a test or another
/// program) cannot hit the missing-provider panic.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// Why a CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read CA file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA file {path} is not PEM certificates: {source}")]
    Parse {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("CA file {path} holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)")]
    Empty { path: PathBuf },
    #[error("cannot build an HTTP client trusting {path}: {source}")]
    Client {
        path: PathBuf,
        source: reqwest::Error,
    },
}

/// Every certificate of a PEM bundle; a file without one is an error (a
/// key file or a DER file given by mistake would otherwise trust nothing,
/// silently).
pub fn load_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, CaFileError> {
    let pem = std::fs::read(path).map_err(|source| CaFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| CaFileError::Parse {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// A client that trusts the platform's roots and the CAs in `ca_file`.
pub fn client_trusting(ca_file: &Path, user_agent: &str) -> Result<reqwest::Client, CaFileError> {
    install_crypto_provider();
    let certs = load_ca_file(ca_file)?;
    reqwest::Client::builder()
        .user_agent(user_agent)
        .tls_certs_merge(certs)
        .build()
        .map_err(|source| CaFileError::Client {
            path: ca_file.to_owned(),
            source,
        })
}
