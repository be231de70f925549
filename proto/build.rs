//! Compiles `proto/colloquy/**.proto` with the pure-Rust `protox`, so no system `protoc` is
//! needed, and keeps the descriptor set for gRPC reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "colloquy/common/v1/completion.proto",
    "colloquy/gateway/v1/gateway.proto",
    "colloquy/store/v1/store.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }

    let descriptors = protox::compile(PROTOS, [&root])?;
    std::fs::write(
        out_dir.join("colloquy_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        // Ordered maps make the encoding of a record deterministic, which the store's
        // idempotency check relies on when it fingerprints a record.
        .btree_map(".")
        // Every event of a stream takes the size of the largest one in the gateway's event
        // queue; boxing the terminal summary keeps the per-delta slots small.
        .boxed(".colloquy.gateway.v1.Terminal.summary")
        // Smaller encode buffers per stream; see `src/codec.rs`.
        .codec_path("crate::codec::SmallBufferCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
