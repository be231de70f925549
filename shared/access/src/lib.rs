//! Access to Colloquy's gRPC services: an optional shared bearer token that callers must send,
//! the format of the API keys callers may send instead, and optional TLS, configured alike on the gateway and the store. Health and reflection stay
//! open so that probes and `grpcurl` work without credentials.

mod api_key;
mod tls;
mod token;

pub use api_key::{KEY_SECRET_PREFIX, digests_match, key_id_of, secret_digest};
pub use tls::{TlsError, TlsSettings, client_tls, server_tls};
pub use token::{
    AttachToken, BearerToken, RequireToken, TokenChannel, TokenError, TokenSet, TokenSource,
};
