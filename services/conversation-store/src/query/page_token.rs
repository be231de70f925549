//! Opaque, stable page tokens: the sort key of the last row returned, so a page never repeats
//! or skips rows when new ones arrive.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub at: DateTime<Utc>,
    pub id: String,
}

impl PageToken {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.timestamp_micros(), self.id))
    }

    pub fn decode(token: &str) -> Result<Option<Self>, StoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || StoreError::invalid("page_token", "is not a token this store issued");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(invalid)?;
        Ok(Some(Self {
            at,
            id: id.to_string(),
        }))
    }
}

/// Cuts rows fetched with one extra (`page_size + 1`) down to a page, and gives the token of
/// the next page when there is one.
pub fn split_page<T>(
    mut rows: Vec<T>,
    page_size: u64,
    key: impl Fn(&T) -> PageToken,
) -> (Vec<T>, Option<PageToken>) {
    if rows.len() as u64 > page_size {
        rows.truncate(page_size as usize);
        let next = rows.last().map(key);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let token = PageToken {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: "conv|1".into(),
        };
        assert_eq!(PageToken::decode(&token.encode()).unwrap(), Some(token));
        assert_eq!(PageToken::decode("").unwrap(), None);
        assert!(PageToken::decode("!!").is_err());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode("x|y")).is_err());
    }
}
