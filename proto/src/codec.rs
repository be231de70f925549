//! The protobuf codec of every generated client and server: prost's, with a smaller encode
//! buffer and decode errors answered as the caller's fault.
//!
//! A server stream keeps its encode buffer for as long as it is open, and tonic's default of
//! 8 KiB is many times what a stream's events take at once (a delta is tens of bytes, a
//! terminal event under 1 KiB); the buffer grows when a message needs more.
//!
//! prost's decoder answers bytes that are not the message (invalid UTF-8 in a string, nesting
//! past its limit, a truncated field) with INTERNAL, which tells a caller the server failed
//! and that retrying may help. A server that cannot decode a request got a bad request:
//! INVALID_ARGUMENT, which no client retries.

use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Initial size of each encode buffer.
const ENCODE_BUFFER_BYTES: usize = 1024;
/// Encoded bytes gathered before they are handed to the transport (tonic's default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = InvalidArgumentDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(
            ENCODE_BUFFER_BYTES,
            YIELD_THRESHOLD_BYTES,
        ))
    }

    fn decoder(&mut self) -> Self::Decoder {
        InvalidArgumentDecoder(PhantomData)
    }
}

/// prost's decoding, with undecodable bytes answered INVALID_ARGUMENT.
#[derive(Debug)]
pub struct InvalidArgumentDecoder<U>(PhantomData<U>);

impl<U: prost::Message + Default> Decoder for InvalidArgumentDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode_message(buf)
    }
}

fn decode_message<U: prost::Message + Default>(
    buf: impl prost::bytes::Buf,
) -> Result<Option<U>, Status> {
    U::decode(buf).map(Some).map_err(|error| {
        Status::invalid_argument(format!("the message is not valid protobuf: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::common::v1 as common;

    #[test]
    fn undecodable_bytes_are_the_callers_fault() {
        // Field 2 (`content`) as a length-delimited string holding invalid UTF-8.
        let invalid: &[u8] = &[0x12, 0x02, 0xff, 0xfe];
        let error = decode_message::<common::Message>(invalid).expect_err("invalid UTF-8");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);

        let good = common::Message {
            content: "hello".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let decoded = decode_message::<common::Message>(&good[..]).unwrap();
        assert_eq!(decoded.map(|m| m.content).as_deref(), Some("hello"));
    }
}
