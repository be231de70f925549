//! TLS for the gRPC servers and for the gateway's calls to the store, from PEM files.

use std::path::PathBuf;

use serde::Deserialize;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A server's certificate and key; both set turns TLS on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: set both cert_file and key_file, or neither")]
    Incomplete { key: String },
    #[error("{key}: cannot read {path}: {reason}")]
    File {
        key: String,
        path: String,
        reason: String,
    },
}

fn read(path: &PathBuf, key: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        key: key.into(),
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The server's TLS configuration, or `None` to serve plain HTTP/2.
pub fn server_tls(settings: &TlsSettings, key: &str) -> Result<Option<ServerTlsConfig>, TlsError> {
    match (&settings.cert_file, &settings.key_file) {
        (None, None) => Ok(None),
        (Some(cert), Some(private_key)) => {
            let identity = Identity::from_pem(read(cert, key)?, read(private_key, key)?);
            Ok(Some(ServerTlsConfig::new().identity(identity)))
        }
        _ => Err(TlsError::Incomplete { key: key.into() }),
    }
}

/// TLS for a client that trusts the CA in `ca_file`.
pub fn client_tls(ca_file: &PathBuf, key: &str) -> Result<ClientTlsConfig, TlsError> {
    Ok(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca_file, key)?)))
}
