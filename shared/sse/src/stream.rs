use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::FusedStream;

use crate::{DecodeError, SseDecoder, SseError, SseEvent};

/// Decode a response body (e.g. reqwest's `bytes_stream()`) into events.
///
/// The stream yields every complete event, then ends. A body error is yielded once and ends
/// the stream. If the body ends inside an event, the last item is
/// `Err(DecodeError::Sse(SseError::Truncated { .. }))`.
pub fn decode<S, E>(body: S) -> SseStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    SseStream::with_decoder(body, SseDecoder::new())
}

/// Stream returned by [`decode`].
pub struct SseStream<S> {
    // Boxed once per stream so any body type can be polled without requiring `Unpin`.
    body: Pin<Box<S>>,
    decoder: SseDecoder,
    /// Events completed by the last chunk, reversed so that `pop` yields them in order.
    ready: Vec<SseEvent>,
    /// Framing error to yield once the events preceding it are drained.
    error: Option<SseError>,
    body_done: bool,
}

impl<S> SseStream<S> {
    /// Wrap `body` with a caller-configured decoder (e.g. a different size limit).
    pub fn with_decoder(body: S, decoder: SseDecoder) -> Self {
        Self {
            body: Box::pin(body),
            decoder,
            ready: Vec::new(),
            error: None,
            body_done: false,
        }
    }
}

impl<S> std::fmt::Debug for SseStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseStream")
            .field("decoder", &self.decoder)
            .field("ready", &self.ready.len())
            .field("error", &self.error)
            .field("body_done", &self.body_done)
            .finish_non_exhaustive()
    }
}

impl<S, E> Stream for SseStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Item = Result<SseEvent, DecodeError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.pop() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(err) = this.error.take() {
                return Poll::Ready(Some(Err(err.into())));
            }
            if this.body_done {
                return Poll::Ready(None);
            }
            match this.body.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(err) = this.decoder.feed(&chunk, &mut this.ready) {
                        this.error = Some(err);
                        this.body_done = true;
                    }
                    this.ready.reverse();
                }
                Poll::Ready(Some(Err(err))) => {
                    this.body_done = true;
                    return Poll::Ready(Some(Err(DecodeError::Body(err))));
                }
                Poll::Ready(None) => {
                    this.body_done = true;
                    this.error = this.decoder.finish().err();
                }
            }
        }
    }
}

impl<S, E> FusedStream for SseStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    fn is_terminated(&self) -> bool {
        self.body_done && self.ready.is_empty() && self.error.is_none()
    }
}
