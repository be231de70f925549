//! Money and token prices are stored and sent as exact decimal text.

use rust_decimal::Decimal;

/// The shortest exact text of `value`: `0.00725`, not `0.007250000`.
pub fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}
