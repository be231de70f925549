//! The store's errors and their one mapping to gRPC statuses.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A field of the request is missing or wrong.
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// A different record already holds this `record_id`.
    #[error("record {record_id} already exists with different content; the stored record is kept")]
    RecordConflict { record_id: String },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// The ingest writers are gone (the store is shutting down).
    #[error("the store is shutting down")]
    Unavailable,
    /// A stored value that cannot be read back.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument { .. } => Code::InvalidArgument,
            Self::RecordConflict { .. } => Code::AlreadyExists,
            Self::NotFound { .. } => Code::NotFound,
            Self::Database(_) | Self::Unavailable => Code::Unavailable,
            Self::Corrupt(_) => Code::Internal,
        }
    }
}

impl From<colloquy_records::FieldError> for StoreError {
    fn from(error: colloquy_records::FieldError) -> Self {
        Self::InvalidArgument {
            field: error.field,
            reason: error.reason,
        }
    }
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        if matches!(error, StoreError::Database(_) | StoreError::Corrupt(_)) {
            tracing::error!(%error, "request failed");
        }
        Status::new(error.code(), error.to_string())
    }
}
