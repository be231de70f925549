//! Access to Colloquy's gRPC services: an optional shared bearer token that callers must send,
//! and optional TLS, configured alike on the gateway and the store. Health and reflection stay
//! open so that probes and `grpcurl` work without credentials.

mod tls;
mod token;

pub use tls::{TlsError, TlsSettings, client_tls, server_tls};
pub use token::{
    AttachToken, BearerToken, RequireToken, TokenChannel, TokenError, TokenSet, TokenSource,
};
