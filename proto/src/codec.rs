//! The protobuf codec of every generated client and server: prost's, with a smaller encode
//! buffer. A server stream keeps its encode buffer for as long as it is open, and tonic's
//! default of 8 KiB is many times what a stream's events take at once (a delta is tens of
//! bytes, a terminal event under 1 KiB); the buffer grows when a message needs more.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

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
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(
            ENCODE_BUFFER_BYTES,
            YIELD_THRESHOLD_BYTES,
        ))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::default().decoder()
    }
}
