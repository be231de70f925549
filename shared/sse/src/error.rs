/// Failure of the event-stream framing itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A single line, or the data of one event, grew past the configured limit. The decoder
    /// refuses further input afterwards, since its position in the stream is lost.
    #[error("server-sent event exceeds the {limit}-byte limit")]
    EventTooLarge { limit: usize },
    /// The body ended inside an event: bytes after the last blank line were never dispatched.
    #[error("event stream ended inside an event ({pending_bytes} bytes not dispatched)")]
    Truncated { pending_bytes: usize },
}

/// Error yielded by [`crate::decode`]: either the underlying body failed or its bytes did not
/// frame correctly.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError<E> {
    /// The byte stream itself reported an error (e.g. a network failure).
    #[error("reading event stream body: {0}")]
    Body(#[source] E),
    /// The bytes received could not be decoded as an event stream.
    #[error(transparent)]
    Sse(#[from] SseError),
}
