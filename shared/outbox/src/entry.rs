//! How one journal entry is laid out: when it was written, the W3C trace context of the
//! completion it belongs to, and the caller's opaque payload (the gateway's encoded record).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// The longest trace context kept; a `traceparent` is 55 bytes.
const MAX_TRACE_BYTES: usize = u8::MAX as usize;

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Frames `payload` with the current time and `trace_context`: eight bytes of microseconds
/// since the epoch, one byte of trace length, the trace, the payload.
pub(crate) fn encode(payload: &[u8], trace_context: Option<&str>) -> Bytes {
    let trace = trace_context
        .map(str::as_bytes)
        .filter(|t| t.len() <= MAX_TRACE_BYTES)
        .unwrap_or_default();
    let mut entry = Vec::with_capacity(9 + trace.len() + payload.len());
    entry.extend_from_slice(&now_micros().to_be_bytes());
    entry.push(trace.len() as u8);
    entry.extend_from_slice(trace);
    entry.extend_from_slice(payload);
    Bytes::from(entry)
}

/// One entry read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's key in the journal.
    pub key: u64,
    /// When it was written, in microseconds since the epoch.
    pub written_micros: u64,
    /// The W3C `traceparent` of the completion, when it was traced.
    pub trace_context: Option<String>,
    /// What the caller stored.
    pub payload: Bytes,
}

impl Entry {
    /// Splits a stored entry; `None` when it is shorter than its own header says.
    pub(crate) fn decode(key: u64, stored: &[u8]) -> Option<Self> {
        let written_micros = u64::from_be_bytes(stored.get(..8)?.try_into().ok()?);
        let trace_len = usize::from(*stored.get(8)?);
        let trace = stored.get(9..9 + trace_len)?;
        let payload = stored.get(9 + trace_len..)?;
        Some(Self {
            key,
            written_micros,
            trace_context: (!trace.is_empty()).then(|| String::from_utf8_lossy(trace).into_owned()),
            payload: Bytes::copy_from_slice(payload),
        })
    }

    /// How long ago the entry was written.
    pub fn age(&self) -> Duration {
        Duration::from_micros(now_micros().saturating_sub(self.written_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_short_ones_are_refused() {
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let stored = encode(b"record", Some(trace));
        let entry = Entry::decode(7, &stored).unwrap();
        assert_eq!(entry.key, 7);
        assert_eq!(entry.trace_context.as_deref(), Some(trace));
        assert_eq!(&entry.payload[..], b"record");
        assert!(entry.age() < Duration::from_secs(60));
        let untraced = Entry::decode(1, &encode(b"x", None)).unwrap();
        assert_eq!(untraced.trace_context, None);
        assert_eq!(Entry::decode(1, &stored[..5]), None);
        assert_eq!(Entry::decode(1, &stored[..20]), None);
    }
}
