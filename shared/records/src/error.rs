//! The one error of this crate: a field of an incoming message that is missing or wrong.

/// A field that failed validation, named by its path in the contract (`summary.usage.total_tokens`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Dotted path of the field in the `.proto` message.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Prefixes the field path with the enclosing message's field.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}
