//! The `decode` adapter over a byte stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use colloquy_sse::{DecodeError, SseDecoder, SseError, SseEvent, SseStream, decode};
use futures_util::Stream;
use futures_util::stream::{self, FusedStream};

/// Polls to completion; the test bodies never wait on I/O, so a no-op waker suffices.
fn collect<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut items = Vec::new();
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(item)) => items.push(item),
            Poll::Ready(None) => return items,
            Poll::Pending => {}
        }
    }
}

fn body(chunks: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, Infallible>> + use<> {
    let chunks: Vec<_> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
    stream::iter(chunks)
}

fn data(items: &[Result<SseEvent, DecodeError<impl std::fmt::Debug>>]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|e| e.data.as_str())
        .collect()
}

#[test]
fn yields_events_across_chunks_in_order() {
    let items = collect(decode(body(&[
        b"data: a\n\nda",
        b"ta: b\n\ndata: c\n",
        b"\n",
    ])));
    assert_eq!(items.len(), 3);
    assert_eq!(data(&items), ["a", "b", "c"]);
}

#[test]
fn reports_truncation_after_the_complete_events() {
    let items = collect(decode(body(&[b"data: a\n\ndata: [DONE]"])));
    assert_eq!(data(&items), ["a"]);
    assert!(matches!(
        items.last(),
        Some(Err(DecodeError::Sse(SseError::Truncated {
            pending_bytes: 12
        })))
    ));
}

#[test]
fn body_error_ends_the_stream() {
    let chunks: Vec<Result<Bytes, &str>> = vec![
        Ok(Bytes::from_static(b"data: a\n\ndata: b")),
        Err("connection reset"),
        Ok(Bytes::from_static(b"\n\n")),
    ];
    let mut stream = decode(stream::iter(chunks));
    let items = collect(&mut stream);
    assert_eq!(data(&items), ["a"]);
    assert!(matches!(
        items.last(),
        Some(Err(DecodeError::Body("connection reset")))
    ));
    assert_eq!(items.len(), 2);
    assert!(stream.is_terminated());
}

#[test]
fn size_limit_error_follows_the_events_before_it() {
    let decoder = SseDecoder::with_max_event_bytes(8);
    let stream = SseStream::with_decoder(body(&[b"data: a\n\ndata: 0123456789\n\n"]), decoder);
    let items = collect(stream);
    assert_eq!(data(&items), ["a"]);
    assert!(matches!(
        items.last(),
        Some(Err(DecodeError::Sse(SseError::EventTooLarge { limit: 8 })))
    ));
}

/// Returns `Pending` before every chunk, waking itself, like a slow network.
struct Slow<S> {
    inner: S,
    ready: bool,
}

impl<S: Stream + Unpin> Stream for Slow<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.ready = !self.ready;
        if self.ready {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[test]
fn pending_body_is_propagated() {
    let inner = body(&[b"event: x\n", b"data: a\n", b"\n"]);
    let items = collect(decode(Slow {
        inner: Box::pin(inner),
        ready: false,
    }));
    assert_eq!(items.len(), 1);
    let event = items[0].as_ref().unwrap();
    assert_eq!(event.event.as_deref(), Some("x"));
    assert_eq!(event.data, "a");
}

#[test]
fn decode_error_is_a_std_error_with_source() {
    fn source_of<E: std::error::Error>(err: &E) -> Option<String> {
        err.source().map(ToString::to_string)
    }
    let err: DecodeError<std::io::Error> = DecodeError::Body(std::io::Error::other("reset"));
    assert_eq!(source_of(&err).as_deref(), Some("reset"));
    let err: DecodeError<std::io::Error> = SseError::EventTooLarge { limit: 3 }.into();
    assert_eq!(
        err.to_string(),
        "server-sent event exceeds the 3-byte limit"
    );
}
