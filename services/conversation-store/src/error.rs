//! The store's errors and their one mapping to gRPC statuses. Database errors are sorted by
//! cause: a lost connection, a timeout or an exhausted pool is worth retrying (UNAVAILABLE);
//! data the database refuses is the record's fault (INVALID_ARGUMENT, FAILED_PRECONDITION)
//! and retrying it would never end. Driver text stays in the store's log, never in an answer.

use std::ops::Deref;

use sea_orm::{DbErr, RuntimeErr};
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
    /// The database cannot be reached or cannot answer now.
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable(#[source] DbErr),
    /// The database refused a value of the request (encoding, range, type).
    #[error("the database refused a value of the record ({code})")]
    DatabaseRefusedData { code: String, source: DbErr },
    /// The write breaks a constraint of the stored data.
    #[error("the record conflicts with stored data ({code})")]
    DatabaseConflict { code: String, source: DbErr },
    /// The database failed in a way no retry of the caller fixes soon; see the store's log.
    #[error("internal database error")]
    DatabaseInternal(#[source] DbErr),
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
            Self::InvalidArgument { .. } | Self::DatabaseRefusedData { .. } => {
                Code::InvalidArgument
            }
            Self::RecordConflict { .. } => Code::AlreadyExists,
            Self::DatabaseConflict { .. } => Code::FailedPrecondition,
            Self::NotFound { .. } => Code::NotFound,
            Self::DatabaseUnavailable(_) | Self::Unavailable => Code::Unavailable,
            Self::DatabaseInternal(_) | Self::Corrupt(_) => Code::Internal,
        }
    }

    /// Whether the same write may succeed when tried again at once (a lost race).
    pub fn may_pass_again(&self) -> bool {
        matches!(
            self,
            Self::DatabaseConflict { .. } | Self::DatabaseInternal(_)
        )
    }
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        match classify(&error) {
            Fault::Unavailable => Self::DatabaseUnavailable(error),
            Fault::Data(code) => Self::DatabaseRefusedData {
                code,
                source: error,
            },
            Fault::Conflict(code) => Self::DatabaseConflict {
                code,
                source: error,
            },
            Fault::Internal => Self::DatabaseInternal(error),
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
        match &error {
            StoreError::DatabaseUnavailable(source) => {
                tracing::warn!(error = %source, "request failed: database unavailable")
            }
            StoreError::DatabaseRefusedData { source, .. }
            | StoreError::DatabaseConflict { source, .. }
            | StoreError::DatabaseInternal(source) => {
                tracing::error!(error = %source, answer = %error, "request failed")
            }
            StoreError::Corrupt(_) => tracing::error!(%error, "request failed"),
            _ => {}
        }
        Status::new(error.code(), error.to_string())
    }
}

/// What a database error says about the request.
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    Unavailable,
    Data(String),
    Conflict(String),
    Internal,
}

fn classify(error: &DbErr) -> Fault {
    let sqlx = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return Fault::Unavailable,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e.deref(),
        _ => return Fault::Internal,
    };
    use sea_orm::sqlx::Error as E;
    match sqlx {
        E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::BeginFailed => Fault::Unavailable,
        E::Encode(_) => Fault::Data("encoding".into()),
        E::Database(database) => {
            let code = database.code().map(|c| c.into_owned()).unwrap_or_default();
            if database
                .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                postgres(&code)
            } else {
                sqlite(&code)
            }
        }
        _ => Fault::Internal,
    }
}

/// By SQLSTATE class.
fn postgres(sqlstate: &str) -> Fault {
    match sqlstate.get(..2).unwrap_or_default() {
        // Data exception: invalid encoding (a NUL byte), value out of range, bad text.
        "22" => Fault::Data(format!("SQLSTATE {sqlstate}")),
        // Integrity constraint violation.
        "23" => Fault::Conflict(format!("SQLSTATE {sqlstate}")),
        // Connection exception, transaction rollback (serialization, deadlock), insufficient
        // resources (disk full, out of memory), operator intervention (shutdown, statement
        // timeout), system error (I/O).
        "08" | "40" | "53" | "57" | "58" => Fault::Unavailable,
        _ => Fault::Internal,
    }
}

/// By SQLite primary result code (the low byte of the extended code).
fn sqlite(code: &str) -> Fault {
    let Ok(extended) = code.parse::<u32>() else {
        return Fault::Internal;
    };
    match extended & 0xff {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL,
        // SQLITE_CANTOPEN, SQLITE_PROTOCOL.
        5 | 6 | 7 | 10 | 13 | 14 | 15 => Fault::Unavailable,
        // SQLITE_CONSTRAINT.
        19 => Fault::Conflict(format!("SQLite {extended}")),
        // SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE.
        18 | 20 | 25 => Fault::Data(format!("SQLite {extended}")),
        _ => Fault::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_errors_are_sorted_by_class() {
        assert_eq!(postgres("22021"), Fault::Data("SQLSTATE 22021".into()));
        assert_eq!(postgres("22003"), Fault::Data("SQLSTATE 22003".into()));
        assert_eq!(postgres("23505"), Fault::Conflict("SQLSTATE 23505".into()));
        for transient in [
            "08006", "40001", "40P01", "53100", "57P01", "57014", "58030",
        ] {
            assert_eq!(postgres(transient), Fault::Unavailable, "{transient}");
        }
        assert_eq!(postgres("42P01"), Fault::Internal);
    }

    #[test]
    fn sqlite_errors_are_sorted_by_primary_code() {
        assert_eq!(sqlite("5"), Fault::Unavailable);
        assert_eq!(sqlite("13"), Fault::Unavailable);
        assert_eq!(sqlite("2067"), Fault::Conflict("SQLite 2067".into()));
        assert_eq!(sqlite("18"), Fault::Data("SQLite 18".into()));
        assert_eq!(sqlite("11"), Fault::Internal);
        assert_eq!(sqlite("x"), Fault::Internal);
    }

    #[test]
    fn lost_connections_are_unavailable_and_answers_carry_no_driver_text() {
        let lost = StoreError::from(DbErr::Conn(RuntimeErr::Internal(
            "connection reset by peer at 10.0.0.7:5432".into(),
        )));
        assert_eq!(lost.code(), Code::Unavailable);
        assert!(!Status::from(lost).message().contains("10.0.0.7"));
    }
}
