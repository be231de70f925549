//! The gRPC face of the store: validates requests, calls the ingest and query layers, and
//! converts their answers to the wire types.

mod access;
mod convert;
mod requests;
mod service;

pub use access::{STORE_SERVICE, store_access};
pub use service::StoreService;
