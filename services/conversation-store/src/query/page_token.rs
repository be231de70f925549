//! Opaque, stable page tokens: the sort key of the last row returned, so a page never repeats
//! or skips rows when new ones arrive, bound to the request that issued them: a token from one
//! RPC or filter is refused by another, rather than silently paging a different result.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub at: DateTime<Utc>,
    pub id: String,
}

/// What a token is bound to: the RPC and the filter of the request that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageScope(String);

impl PageScope {
    /// A short digest of `rpc` and the filter's parts, in a fixed order.
    pub fn new(rpc: &str, parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(rpc.as_bytes());
        for part in parts {
            // Lengths first, so that no two different filters concatenate alike.
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        Self(URL_SAFE_NO_PAD.encode(&digest[..9]))
    }
}

impl PageToken {
    pub fn encode(&self, scope: &PageScope) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}|{}",
            scope.0,
            self.at.timestamp_micros(),
            self.id
        ))
    }

    pub fn decode(token: &str, scope: &PageScope) -> Result<Option<Self>, StoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || StoreError::invalid("page_token", "is not a token this store issued");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (issued_for, rest) = text.split_once('|').ok_or_else(invalid)?;
        if issued_for != scope.0 {
            return Err(StoreError::invalid(
                "page_token",
                "was issued for another RPC or filter; page with the filter that issued it",
            ));
        }
        let (micros, id) = rest.split_once('|').ok_or_else(invalid)?;
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
        let scope = PageScope::new("ListUsage", &["acme", ""]);
        assert_eq!(
            PageToken::decode(&token.encode(&scope), &scope).unwrap(),
            Some(token.clone())
        );
        assert_eq!(PageToken::decode("", &scope).unwrap(), None);
        assert!(PageToken::decode("!!", &scope).is_err());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode("x|y"), &scope).is_err());
        for other in [
            PageScope::new("ListConversations", &["acme", ""]),
            PageScope::new("ListUsage", &["acme", "x"]),
            PageScope::new("ListUsage", &["acm", "e"]),
        ] {
            let error = PageToken::decode(&token.encode(&scope), &other).unwrap_err();
            assert!(
                error.to_string().contains("another RPC or filter"),
                "{error}"
            );
        }
    }
}
