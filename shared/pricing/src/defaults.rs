//! The built-in price catalogue shipped with the binary (`catalogue/default.json`), used to
//! seed an empty store.

use thiserror::Error;

use crate::price::{PriceEntry, PriceError};

/// The default catalogue's JSON text: an array of [`PriceEntry`] objects with decimal prices
/// written as strings and RFC 3339 timestamps.
pub const DEFAULT_CATALOGUE_JSON: &str = include_str!("../catalogue/default.json");

/// Why a catalogue document could not be loaded.
#[derive(Debug, Error)]
pub enum CatalogueError {
    /// The document is not a JSON array of price rows.
    #[error("price catalogue is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A row parsed but is not usable.
    #[error("price catalogue row {index} is invalid: {source}")]
    InvalidEntry {
        /// Zero-based position of the row in the array.
        index: usize,
        /// What is wrong with it.
        source: PriceError,
    },
}

/// Parses and validates a catalogue document in the format of `catalogue/default.json`.
pub fn parse_catalogue(json: &str) -> Result<Vec<PriceEntry>, CatalogueError> {
    let entries: Vec<PriceEntry> = serde_json::from_str(json)?;
    for (index, entry) in entries.iter().enumerate() {
        entry
            .validate()
            .map_err(|source| CatalogueError::InvalidEntry { index, source })?;
    }
    Ok(entries)
}

/// The built-in catalogue: current OpenAI, Anthropic and OpenRouter models with the dates their
/// prices took effect and the page each figure comes from.
pub fn default_catalogue() -> Result<Vec<PriceEntry>, CatalogueError> {
    parse_catalogue(DEFAULT_CATALOGUE_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_row_names_its_source_and_when_it_was_checked() {
        for entry in default_catalogue().expect("built-in catalogue") {
            assert!(
                entry.source.starts_with("https://"),
                "{}/{}: {}",
                entry.provider,
                entry.model,
                entry.source
            );
            assert!(
                entry.checked_on.is_some(),
                "{}/{} has no check date",
                entry.provider,
                entry.model
            );
        }
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(matches!(
            parse_catalogue("{"),
            Err(CatalogueError::Malformed(_))
        ));
        assert!(matches!(
            parse_catalogue("{}"),
            Err(CatalogueError::Malformed(_))
        ));
        assert!(matches!(
            parse_catalogue(r#"[{"provider": "x"}]"#),
            Err(CatalogueError::Malformed(_))
        ));
    }

    #[test]
    fn invalid_rows_are_reported_by_index() {
        let json = r#"[{
            "provider": "openai", "model": "m", "currency": "USD",
            "input_per_mtok": "-1", "output_per_mtok": "1",
            "effective_from": "2025-01-01T00:00:00Z", "source": "test"
        }]"#;
        let err = parse_catalogue(json).unwrap_err();
        assert!(
            matches!(err, CatalogueError::InvalidEntry { index: 0, .. }),
            "{err}"
        );
    }
}
