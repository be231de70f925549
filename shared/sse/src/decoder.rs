use std::borrow::Cow;
use std::mem;

use crate::{SseError, SseEvent};

/// Limit used by [`SseDecoder::new`]: far above any real provider event, low enough that a
/// hostile or broken upstream cannot grow the buffers without bound.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// Buffers that grew past this while holding one big event are shrunk back after it, so a
/// single large event does not pin megabytes for the rest of a long-lived stream.
const RETAINED_CAPACITY: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental, byte-oriented event-stream parser.
///
/// Chunks may split the stream at any byte, including inside a CRLF pair or a multi-byte
/// UTF-8 character. Only the unfinished tail of a line is copied between calls; lines that lie
/// wholly inside one chunk are parsed in place. Text is decoded per complete field value, with
/// invalid UTF-8 replaced by U+FFFD.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    max_event_bytes: usize,
    /// Start of a line whose terminator has not arrived yet.
    partial: Vec<u8>,
    /// The previous chunk ended in CR: an LF opening the next chunk completes that line end
    /// rather than ending an empty line (which would dispatch).
    after_cr: bool,
    /// No line has completed yet, so a leading BOM is still to be stripped.
    at_start: bool,
    data: String,
    event_type: String,
    last_event_id: String,
    event_retry: Option<u64>,
    reconnection_time: Option<u64>,
    /// Raw bytes of field lines since the last blank line; non-zero means an event is open.
    block_bytes: usize,
    /// Set once a limit was exceeded. The stream position is lost at that point, so every
    /// later call repeats the error instead of parsing from the middle of a line.
    failed: Option<SseError>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// Decoder with the default limit of [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// Decoder that rejects any line, and any event's joined data, longer than `n` bytes.
    pub fn with_max_event_bytes(n: usize) -> Self {
        Self {
            max_event_bytes: n,
            partial: Vec::new(),
            after_cr: false,
            at_start: true,
            data: String::new(),
            event_type: String::new(),
            last_event_id: String::new(),
            event_retry: None,
            reconnection_time: None,
            block_bytes: 0,
            failed: None,
        }
    }

    /// The configured size limit.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// The last event ID seen so far (empty if none); what a reconnect would send as
    /// `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The most recent valid `retry:` value in milliseconds, whether or not its event was
    /// dispatched.
    pub fn reconnection_time(&self) -> Option<u64> {
        self.reconnection_time
    }

    /// Feed one network chunk; append every event completed by it to `out`.
    ///
    /// On error, events completed earlier in the same chunk have already been appended.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.feed_lines(chunk, out);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// End of body. Per spec nothing without its blank line is dispatched; this reports whether
    /// such an unterminated event (or an unterminated line) was pending, so callers can tell a
    /// stream that was cut mid-event. Complete comment lines after the last event do not count.
    ///
    /// The line state is reset afterwards; the last event ID and reconnection time are kept,
    /// as they carry over to a reconnected stream.
    pub fn finish(&mut self) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let partial = if self.at_start && self.partial.starts_with(BOM) {
            self.partial.len() - BOM.len()
        } else {
            self.partial.len()
        };
        let pending_bytes = self.block_bytes.saturating_add(partial);
        self.partial.clear();
        self.after_cr = false;
        self.at_start = true;
        self.data.clear();
        self.event_type.clear();
        self.event_retry = None;
        self.block_bytes = 0;
        if pending_bytes > 0 {
            Err(SseError::Truncated { pending_bytes })
        } else {
            Ok(())
        }
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            limit: self.max_event_bytes,
        }
    }

    fn feed_lines(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = chunk;
        if self.after_cr
            && let Some((&first, tail)) = rest.split_first()
        {
            self.after_cr = false;
            if first == b'\n' {
                rest = tail;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, terminator) = rest.split_at(end);
            let terminator_len = match terminator {
                [b'\r', b'\n', ..] => 2,
                [b'\r'] => {
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            rest = &terminator[terminator_len..];
            if self.partial.is_empty() {
                self.process_line(line, out)?;
            } else {
                self.buffer(line)?;
                // Moved out and back so the line can be borrowed while `self` is mutated,
                // keeping the buffer's allocation for the next partial line.
                let buffered = mem::take(&mut self.partial);
                let result = self.process_line(&buffered, out);
                self.partial = buffered;
                self.partial.clear();
                self.partial.shrink_to(RETAINED_CAPACITY);
                result?;
            }
        }
        self.buffer(rest)
    }

    fn buffer(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.partial.len().saturating_add(bytes.len()) > self.max_event_bytes {
            return Err(self.too_large());
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        // Checked on the raw bytes, BOM included, so the outcome does not depend on whether the
        // line arrived in one chunk or was buffered.
        if line.len() > self.max_event_bytes {
            return Err(self.too_large());
        }
        let line = if mem::take(&mut self.at_start) {
            line.strip_prefix(BOM).unwrap_or(line)
        } else {
            line
        };
        match line.first() {
            None => {
                self.dispatch(out);
                return Ok(());
            }
            Some(b':') => return Ok(()),
            Some(_) => {}
        }
        self.block_bytes = self.block_bytes.saturating_add(line.len());
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                let text = String::from_utf8_lossy(value);
                if self.data.len().saturating_add(text.len() + 1) > self.max_event_bytes {
                    return Err(self.too_large());
                }
                // Sized for the usual event of one data line, which `dispatch` hands on whole;
                // later lines of the same event grow it the amortised way.
                if self.data.is_empty() {
                    self.data.reserve_exact(text.len() + 1);
                }
                self.data.push_str(&text);
                self.data.push('\n');
            }
            b"event" => replace(&mut self.event_type, String::from_utf8_lossy(value)),
            // A NUL cannot be sent back in a Last-Event-ID header, so the spec drops such ids.
            b"id" if !value.contains(&0) => {
                replace(&mut self.last_event_id, String::from_utf8_lossy(value));
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.event_retry = Some(ms);
                    self.reconnection_time = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        self.block_bytes = 0;
        let retry = self.event_retry.take();
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        self.data.pop(); // the '\n' appended after the last data line
        out.push(SseEvent {
            event: non_empty(&self.event_type),
            // Moved, not copied: the next event's first data line sizes a buffer of its own.
            data: mem::take(&mut self.data),
            id: non_empty(&self.last_event_id),
            retry,
        });
        self.event_type.clear();
    }
}

fn replace(buf: &mut String, value: Cow<'_, str>) {
    buf.clear();
    buf.push_str(&value);
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The spec accepts only ASCII digits; a value too large for `u64` is ignored like any other
/// invalid one.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |ms, &b| {
        if b.is_ascii_digit() {
            ms.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests;
