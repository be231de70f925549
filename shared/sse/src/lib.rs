//! Incremental Server-Sent Events decoder shared by every provider adapter.
//!
//! Parsing follows the WHATWG HTML "Server-sent events" interpretation rules. The decoder is
//! provider-agnostic: sentinels such as `data: [DONE]` are ordinary events here and are
//! interpreted by the adapters.
//!
//! [`SseDecoder`] is the synchronous core: feed it network chunks split at arbitrary byte
//! offsets and it appends the events those chunks complete. [`decode`] wraps it around a byte
//! stream such as `reqwest::Response::bytes_stream()`.
//!
//! ```
//! use colloquy_sse::{SseDecoder, SseError};
//!
//! let mut decoder = SseDecoder::new();
//! let mut events = Vec::new();
//! decoder.feed(b"event: ping\ndata: {\"a\":", &mut events)?;
//! decoder.feed(b"1}\n\ndata: [DONE]", &mut events)?;
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].event.as_deref(), Some("ping"));
//! assert_eq!(events[0].data, r#"{"a":1}"#);
//! // The body was cut before the blank line that would dispatch `[DONE]`.
//! assert_eq!(decoder.finish(), Err(SseError::Truncated { pending_bytes: 12 }));
//! # Ok::<(), SseError>(())
//! ```

mod decoder;
mod error;
mod event;
mod stream;

pub use decoder::{DEFAULT_MAX_EVENT_BYTES, SseDecoder};
pub use error::{DecodeError, SseError};
pub use event::SseEvent;
pub use stream::{SseStream, decode};
