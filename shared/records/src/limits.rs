//! The size limits a record must fit, shared by the gateway (which checks requests and cuts
//! records before they reach its outbox) and the store (which checks and cuts what it
//! receives), so both ends agree on what fits.

use std::collections::BTreeMap;

use crate::FieldError;

/// Limits on the text of a record. The defaults are the gateway's and the store's; both can
/// be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Largest text of one message (content, reasoning and tool calls together). Longer text
    /// is cut, never refused: the record keeps its usage and cost.
    pub max_message_bytes: usize,
    /// Longest id, name, identifier, label key or label value.
    pub max_identifier_bytes: usize,
    /// Most labels on one request or record.
    pub max_labels: usize,
    /// Most bytes of all label keys and values of one request or record together.
    pub max_labels_bytes: usize,
}

/// Largest gRPC message that carries records or conversation histories, in both directions
/// between the gateway and the store: a turn's content may be several messages of
/// `max_message_bytes` each.
pub const MAX_RECORD_MESSAGE_BYTES: usize = 64 << 20;

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 20,
            max_identifier_bytes: 512,
            max_labels: 128,
            max_labels_bytes: 32 << 10,
        }
    }
}

impl RecordLimits {
    /// Checks one caller-chosen name: its length, and that it holds no NUL character, which
    /// Postgres cannot store in text and which no name needs.
    pub fn check_name(&self, field: &str, value: &str) -> Result<(), FieldError> {
        if value.len() > self.max_identifier_bytes {
            return Err(too_long(field, value.len(), self.max_identifier_bytes));
        }
        refuse_nul(field, value)
    }

    /// Checks a label set: how many, how large in all, each key and value, in one pass.
    pub fn check_labels(&self, labels: &BTreeMap<String, String>) -> Result<(), FieldError> {
        if labels.len() > self.max_labels {
            return Err(FieldError::new(
                "labels",
                format!(
                    "has {} labels, over the limit of {}",
                    labels.len(),
                    self.max_labels
                ),
            ));
        }
        let mut total = 0usize;
        for (key, value) in labels {
            if key.trim().is_empty() {
                return Err(FieldError::new("labels", "a label key is empty"));
            }
            total = total.saturating_add(key.len() + value.len());
            // The field is named only when there is something to report.
            if key.len().max(value.len()) > self.max_identifier_bytes
                || key.contains('\0')
                || value.contains('\0')
            {
                let field = format!("labels[{:.32}]", key.escape_debug());
                self.check_name(&field, key)?;
                self.check_name(&field, value)?;
            }
        }
        if total > self.max_labels_bytes {
            return Err(FieldError::new(
                "labels",
                format!(
                    "keys and values total {total} bytes, over the limit of {}",
                    self.max_labels_bytes
                ),
            ));
        }
        Ok(())
    }
}

pub(crate) fn too_long(field: &str, len: usize, limit: usize) -> FieldError {
    FieldError::new(field, format!("is {len} bytes, over the limit of {limit}"))
}

/// Refuses a NUL character in a name the caller chose.
pub fn refuse_nul(field: &str, value: &str) -> Result<(), FieldError> {
    if value.contains('\0') {
        return Err(FieldError::new(
            field,
            "contains a NUL character (U+0000), which is not accepted in names",
        ));
    }
    Ok(())
}

/// Replaces NUL characters in a text a provider sent (an identifier, a finish reason, an error
/// message) with U+FFFD, so that it stores alike on every database.
pub fn replace_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

/// Cuts `text` to at most `budget` bytes at a character boundary; returns the bytes kept.
pub(crate) fn cut(text: &mut String, budget: usize) -> usize {
    if text.len() > budget {
        let mut end = budget;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_limited_in_count_size_and_characters() {
        let limits = RecordLimits {
            max_labels: 2,
            max_labels_bytes: 10,
            max_identifier_bytes: 6,
            ..RecordLimits::default()
        };
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            limits
                .check_labels(&labels(&[("a", "1"), ("b", "2")]))
                .is_ok()
        );
        let error = limits
            .check_labels(&labels(&[("a", "1"), ("b", "2"), ("c", "3")]))
            .unwrap_err();
        assert_eq!(error.field, "labels");
        assert!(error.reason.contains("3 labels"), "{error}");
        let error = limits
            .check_labels(&labels(&[("team", "ml"), ("env", "prod")]))
            .unwrap_err();
        assert!(error.reason.contains("total 13 bytes"), "{error}");
        assert_eq!(
            limits
                .check_labels(&labels(&[("k", "toolong")]))
                .unwrap_err()
                .field,
            "labels[k]"
        );
        let error = limits.check_labels(&labels(&[("k", "a\0b")])).unwrap_err();
        assert!(error.reason.contains("NUL"), "{error}");
        assert!(limits.check_labels(&labels(&[(" ", "x")])).is_err());
    }

    #[test]
    fn names_refuse_nul_and_provider_text_replaces_it() {
        let limits = RecordLimits::default();
        assert!(limits.check_name("tenant", "acme").is_ok());
        assert_eq!(
            limits.check_name("tenant", "ac\0me").unwrap_err().field,
            "tenant"
        );
        let mut text = String::from("id\0x");
        replace_nul(&mut text);
        assert_eq!(text, "id\u{FFFD}x");
    }

    #[test]
    fn cuts_at_character_boundaries() {
        let mut text = String::from("añb");
        assert_eq!(cut(&mut text, 2), 1);
        assert_eq!(text, "a");
        let mut short = String::from("abc");
        assert_eq!(cut(&mut short, 10), 3);
    }
}
