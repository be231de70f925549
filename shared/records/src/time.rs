//! Conversions between protobuf well-known time types and chrono/std ones.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::FieldError;

pub fn timestamp_from_proto(
    ts: &prost_types::Timestamp,
    field: &str,
) -> Result<DateTime<Utc>, FieldError> {
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| FieldError::new(field, "is not a valid timestamp"))
}

pub fn timestamp_to_proto(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub fn duration_from_proto(d: &prost_types::Duration, field: &str) -> Result<Duration, FieldError> {
    Duration::try_from(*d)
        .map_err(|_| FieldError::new(field, "is not a valid non-negative duration"))
}

pub fn duration_to_proto(d: Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(d).unwrap_or(prost_types::Duration {
        seconds: i64::MAX,
        nanos: 999_999_999,
    })
}
