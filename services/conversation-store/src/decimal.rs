//! Money and token prices are stored and sent as exact decimal text.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::error::StoreError;

/// The shortest exact text of `value`: `0.00725`, not `0.007250000`.
pub fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// The decimal a stored text holds; `what` names the column when it holds none.
pub fn parse_decimal(text: &str, what: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a decimal: {text:?}")))
}
