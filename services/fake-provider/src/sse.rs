//! Writes server-sent events into one buffer and remembers where each event ends, so the
//! body can later be sent one event per network write.

use std::fmt::{Arguments, Write};

use bytes::Bytes;

pub(crate) struct SseWriter {
    buf: String,
    cuts: Vec<usize>,
}

impl SseWriter {
    pub(crate) fn with_capacity(bytes: usize, events: usize) -> Self {
        Self {
            buf: String::with_capacity(bytes),
            cuts: Vec::with_capacity(events),
        }
    }

    /// `event: <name>` plus one `data:` line.
    pub(crate) fn event(&mut self, name: &str, data: Arguments<'_>) {
        self.buf.push_str("event: ");
        self.buf.push_str(name);
        self.buf.push('\n');
        self.data(data);
    }

    /// One `data:` line and the blank line that dispatches the event.
    pub(crate) fn data(&mut self, data: Arguments<'_>) {
        self.buf.push_str("data: ");
        // Writing into a String cannot fail.
        let _ = self.buf.write_fmt(data);
        self.buf.push_str("\n\n");
        self.cuts.push(self.buf.len());
    }

    /// An SSE comment line (`: text`), which clients must ignore.
    pub(crate) fn comment(&mut self, text: &str) {
        self.buf.push_str(": ");
        self.buf.push_str(text);
        self.buf.push_str("\n\n");
        self.cuts.push(self.buf.len());
    }

    pub(crate) fn finish(self) -> (Bytes, Vec<usize>) {
        (Bytes::from(self.buf), self.cuts)
    }
}

/// End offsets of the events in a recorded stream: after every blank line, whichever of
/// LF, CRLF or CR ends the lines. Trailing bytes without a blank line form a last piece.
pub(crate) fn event_boundaries(data: &[u8]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut line_start = 0;
    let mut i = 0;
    while i < data.len() {
        let eol_len = match data[i] {
            b'\n' => 1,
            b'\r' if data.get(i + 1) == Some(&b'\n') => 2,
            b'\r' => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        let next = i + eol_len;
        if i == line_start && next > cuts.last().copied().unwrap_or(0) {
            cuts.push(next);
        }
        line_start = next;
        i = next;
    }
    if cuts.last().copied().unwrap_or(0) < data.len() {
        cuts.push(data.len());
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_after_blank_lines() {
        let lf = b"data: a\n\ndata: b\n\n";
        assert_eq!(event_boundaries(lf), vec![9, 18]);
        let crlf = b"event: x\r\ndata: a\r\n\r\ndata: b\r\n\r\n";
        assert_eq!(event_boundaries(crlf), vec![21, 32]);
        assert_eq!(event_boundaries(b"data: a\n\ntail"), vec![9, 13]);
        assert_eq!(event_boundaries(b"{\"a\":1}"), vec![7]);
        assert_eq!(event_boundaries(b""), Vec::<usize>::new());
    }

    #[test]
    fn writer_cuts_per_event() {
        let mut w = SseWriter::with_capacity(64, 4);
        w.comment("OPENROUTER PROCESSING");
        w.event("ping", format_args!("{{\"type\": \"ping\"}}"));
        w.data(format_args!("[DONE]"));
        let (body, cuts) = w.finish();
        assert_eq!(
            &body[..],
            b": OPENROUTER PROCESSING\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(cuts.len(), 3);
        assert_eq!(*cuts.last().unwrap(), body.len());
    }
}
