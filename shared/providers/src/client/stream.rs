//! Reading one provider answer: body chunks through the shared SSE decoder and the adapter,
//! yielded as deltas one at a time, under the idle and total timeouts.

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use colloquy_records::CompletionSummary;
use colloquy_sse::{SseDecoder, SseError, SseEvent};
use reqwest::Response;
use tokio::time::{Sleep, sleep_until, timeout_at};

use super::ApiKey;
use super::endpoint::saturating_add;
use super::send::{Answer, describe};
use super::summary::{self, Ending};
use super::{RequestClock, StreamEnd, Timeouts};
use crate::{Adapter, Delta, ErrorKind, Outcome, ProviderError};

/// A non-streamed answer larger than this is refused rather than buffered.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// After the end-of-stream marker the rest of the body (normally just the end of the chunked
/// encoding) is read for this long, so the connection goes back to the pool instead of being
/// closed.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
const DRAIN_LIMIT: usize = 64 * 1024;

/// One completion's answer, read as the caller asks for deltas.
///
/// `next_delta` is cancel-safe: dropping its future (e.g. in `tokio::select!`) loses no data.
pub struct CompletionStream {
    adapter: Box<dyn Adapter>,
    /// The open response; `None` once the body ended or was given up, which closes an
    /// unfinished connection.
    response: Option<Response>,
    /// What `start` already read, handled before anything else.
    pending: Option<Read>,
    body: Body,
    /// Deltas of the last chunk; `ready[next..]` are still to be yielded. Reused across
    /// chunks, so steady streaming allocates only the deltas' own text.
    ready: Vec<Delta>,
    next: usize,
    /// No more bytes will be read.
    ended: bool,
    /// Why reading stopped early (timeout, broken body, unreadable bytes).
    failure: Option<ProviderError>,
    /// Bytes of an unfinished event left when the body ended.
    truncated_bytes: Option<usize>,
    timeouts: Timeouts,
    total_deadline: Instant,
    /// The idle (or total) deadline of the current read. One timer for the whole stream,
    /// moved forward before each read, rather than a new one per chunk.
    read_deadline: Pin<Box<Sleep>>,
    clock: RequestClock,
    first_delta_at: Option<Instant>,
    attempts: u32,
    /// Scrubbed from the provider's in-stream error message.
    api_key: ApiKey,
}

/// How the body is interpreted.
enum Body {
    Events {
        decoder: SseDecoder,
        /// Reused buffer for the events one chunk completes.
        events: Vec<SseEvent>,
    },
    /// A non-streamed JSON body, collected whole for `Adapter::on_body`.
    Whole(Vec<u8>),
}

/// The result of waiting for one body chunk.
enum Read {
    Chunk(Bytes),
    End,
    Failed(ProviderError),
}

impl CompletionStream {
    pub(crate) fn new(
        adapter: Box<dyn Adapter>,
        answer: Answer,
        streaming: bool,
        timeouts: Timeouts,
        clock: RequestClock,
        attempts: u32,
        api_key: ApiKey,
    ) -> Self {
        let body = if streaming {
            Body::Events {
                decoder: SseDecoder::new(),
                events: Vec::new(),
            }
        } else {
            Body::Whole(Vec::new())
        };
        Self {
            adapter,
            response: Some(answer.response),
            pending: Some(answer.first_chunk.map_or(Read::End, Read::Chunk)),
            body,
            ready: Vec::new(),
            next: 0,
            ended: false,
            failure: None,
            truncated_bytes: None,
            timeouts,
            total_deadline: clock.deadline(timeouts.total),
            read_deadline: Box::pin(sleep_until(clock.deadline(timeouts.total).into())),
            clock,
            first_delta_at: None,
            attempts,
            api_key,
        }
    }

    /// The next delta; `None` once the completion ended: terminator seen, body ended, provider
    /// error in the stream, unreadable bytes, or a timeout (idle gap, total) fired. Never
    /// panics on bad bytes.
    pub async fn next_delta(&mut self) -> Option<Delta> {
        loop {
            if let Some(delta) = self.pop_ready() {
                self.first_delta_at.get_or_insert_with(Instant::now);
                return Some(delta);
            }
            if self.ended {
                return None;
            }
            self.advance().await;
        }
    }

    /// Ends the completion and builds its summary. Drops the HTTP response first, so an
    /// unfinished upstream request is aborted at once (the connection is closed, no more
    /// tokens are generated). `Cancelled` only counts while the completion was still running;
    /// once it ended, the summary says how it ended.
    pub fn finish(mut self, end: StreamEnd) -> CompletionSummary {
        self.response = None;
        let cancelled = match end {
            StreamEnd::Cancelled { reason } if !self.ended => Some(reason),
            _ => None,
        };
        let mut summary = summary::build(Ending {
            outcome: self.adapter.take_outcome(),
            failure: self.failure,
            truncated_bytes: self.truncated_bytes,
            cancelled,
            clock: self.clock,
            first_delta_at: self.first_delta_at,
        });
        if let Some(error) = &mut summary.error {
            self.api_key.redact(&mut error.message);
        }
        summary
    }

    /// Attempts made (1 = no retry), for logs and metrics.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn pop_ready(&mut self) -> Option<Delta> {
        while let Some(slot) = self.ready.get_mut(self.next) {
            // Taking leaves an empty `Delta` behind, which allocates nothing.
            let delta = mem::take(slot);
            self.next += 1;
            // Role-only or empty chunks carry nothing worth forwarding.
            if !delta.text.is_empty()
                || !delta.reasoning_text.is_empty()
                || delta.tool_call.is_some()
            {
                return Some(delta);
            }
        }
        self.ready.clear();
        self.next = 0;
        None
    }

    /// Reads and handles one chunk, or ends the stream.
    async fn advance(&mut self) {
        if is_over(self.adapter.outcome()) {
            self.drain().await;
            self.end();
            return;
        }
        let read = match self.pending.take() {
            Some(read) => read,
            None => self.read().await,
        };
        match read {
            Read::Chunk(bytes) => self.on_chunk(&bytes),
            Read::End => self.on_body_end(),
            Read::Failed(error) => self.fail(error),
        }
    }

    async fn read(&mut self) -> Read {
        let Some(response) = self.response.as_mut() else {
            return Read::End;
        };
        let idle_deadline = saturating_add(Instant::now(), self.timeouts.idle);
        let deadline = idle_deadline.min(self.total_deadline);
        self.read_deadline.as_mut().reset(deadline.into());
        // The chunk first, as `timeout_at` would: a chunk that is ready wins over the timer.
        let read = tokio::select! {
            biased;
            chunk = response.chunk() => Ok(chunk),
            () = self.read_deadline.as_mut() => Err(()),
        };
        match read {
            Ok(Ok(Some(bytes))) => Read::Chunk(bytes),
            Ok(Ok(None)) => Read::End,
            Ok(Err(error)) => Read::Failed(ProviderError::local(
                ErrorKind::Truncated,
                format!("the provider's response broke off: {}", describe(error)),
            )),
            Err(_) if deadline == self.total_deadline => Read::Failed(ProviderError::local(
                ErrorKind::Timeout,
                format!(
                    "the completion passed its total timeout of {:?}",
                    self.timeouts.total
                ),
            )),
            Err(_) => Read::Failed(ProviderError::local(
                ErrorKind::Timeout,
                format!(
                    "the provider sent nothing for {:?} (idle timeout)",
                    self.timeouts.idle
                ),
            )),
        }
    }

    fn on_chunk(&mut self, bytes: &[u8]) {
        match &mut self.body {
            Body::Events { decoder, events } => {
                // Events completed before a framing error are still handled.
                let framing = decoder.feed(bytes, events);
                let mut failure = framing.err().map(protocol_from_sse);
                for event in events.drain(..) {
                    if failure.is_some() || is_over(self.adapter.outcome()) {
                        break;
                    }
                    if let Err(error) = self.adapter.on_event(&event, &mut self.ready) {
                        failure = Some(protocol(error));
                    }
                }
                if let Some(error) = failure {
                    self.fail(error);
                }
            }
            Body::Whole(buffer) => {
                if buffer.len() + bytes.len() > MAX_BODY_BYTES {
                    self.fail(ProviderError::local(
                        ErrorKind::Protocol,
                        format!("the provider's answer is larger than {MAX_BODY_BYTES} bytes"),
                    ));
                } else {
                    buffer.extend_from_slice(bytes);
                }
            }
        }
    }

    fn on_body_end(&mut self) {
        match &mut self.body {
            Body::Events { decoder, .. } => {
                if let Err(SseError::Truncated { pending_bytes }) = decoder.finish() {
                    self.truncated_bytes = Some(pending_bytes);
                }
            }
            Body::Whole(buffer) => {
                let body = mem::take(buffer);
                if let Err(error) = self.adapter.on_body(&body, &mut self.ready) {
                    self.failure.get_or_insert(protocol(error));
                }
            }
        }
        self.end();
    }

    /// Reads what follows the end-of-stream marker, briefly, so that a finished body returns
    /// its connection to the pool.
    async fn drain(&mut self) {
        let Some(mut response) = self.response.take() else {
            return;
        };
        let deadline = saturating_add(Instant::now(), DRAIN_GRACE).min(self.total_deadline);
        let mut left = DRAIN_LIMIT;
        let _ = timeout_at(deadline.into(), async {
            while let Ok(Some(chunk)) = response.chunk().await {
                left = left.saturating_sub(chunk.len());
                if left == 0 {
                    break;
                }
            }
        })
        .await;
    }

    fn fail(&mut self, error: ProviderError) {
        self.failure.get_or_insert(error);
        self.end();
    }

    fn end(&mut self) {
        self.ended = true;
        self.pending = None;
        // Dropping an unfinished response closes its connection, which stops the upstream
        // generation.
        self.response = None;
    }
}

impl fmt::Debug for CompletionStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletionStream")
            .field("attempts", &self.attempts)
            .field("ended", &self.ended)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// The API's end-of-stream marker or an error the provider sent arrived; nothing after it is
/// part of the answer.
fn is_over(outcome: &Outcome) -> bool {
    outcome.finished || outcome.error.is_some()
}

/// A 2xx answer the adapter could not understand.
fn protocol(error: ProviderError) -> ProviderError {
    ProviderError {
        kind: ErrorKind::Protocol,
        ..error
    }
}

fn protocol_from_sse(error: SseError) -> ProviderError {
    ProviderError::local(
        ErrorKind::Protocol,
        format!("the provider's event stream is malformed: {error}"),
    )
}
