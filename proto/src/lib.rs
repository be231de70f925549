//! Generated gRPC types and service stubs of Colloquy's v1 contract (`proto/colloquy/`).
//!
//! The modules are compiled from the `.proto` files, which are the source of truth; only the
//! codec they use is written by hand. Domain types and their conversions live in
//! `colloquy-records`.

pub mod codec;

/// Types shared by both services: usage, identifiers, the completion summary, messages.
pub mod common {
    #[allow(
        clippy::large_enum_variant,
        clippy::doc_lazy_continuation,
        clippy::doc_overindented_list_items
    )]
    pub mod v1 {
        tonic::include_proto!("colloquy.common.v1");
    }
}

/// The gateway service.
pub mod gateway {
    #[allow(
        clippy::large_enum_variant,
        clippy::doc_lazy_continuation,
        clippy::doc_overindented_list_items
    )]
    pub mod v1 {
        tonic::include_proto!("colloquy.gateway.v1");
    }
}

/// The conversation store service.
pub mod store {
    #[allow(
        clippy::large_enum_variant,
        clippy::doc_lazy_continuation,
        clippy::doc_overindented_list_items
    )]
    pub mod v1 {
        tonic::include_proto!("colloquy.store.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Colloquy proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("colloquy_descriptor");
