//! The gRPC face of the store: validates requests, calls the ingest and query layers, and
//! converts their answers to the wire types.

mod convert;
mod requests;
mod service;

pub use service::StoreService;
