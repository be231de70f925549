//! Price rows written by migrations. A migration runs against the schema as it stood when it
//! was written, so it names its columns itself rather than going through the `price` entity,
//! whose columns are those of the latest schema.

use colloquy_pricing::PriceEntry;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use sea_orm_migration::prelude::*;

use crate::decimal::decimal_text;

/// The built-in catalogue, for migrations that seed or complete it.
pub(super) fn built_in() -> Result<Vec<PriceEntry>, DbErr> {
    colloquy_pricing::default_catalogue()
        .map_err(|e| DbErr::Custom(format!("built-in price catalogue: {e}")))
}

/// Whether the database holds any price row of `provider`'s `model`.
pub(super) async fn model_priced<C: ConnectionTrait>(
    db: &C,
    provider: &str,
    model: &str,
) -> Result<bool, DbErr> {
    let rows = Condition::all()
        .add(Expr::col(Alias::new("provider")).eq(provider))
        .add(Expr::col(Alias::new("model")).eq(model));
    Ok(!select(db, &["id"], rows).await?.is_empty())
}

/// The row of `entry` as the built-in catalogue wrote it: same model, conditions (tier and
/// long-context threshold), start and figures, not imported.
pub(super) fn as_seeded(entry: &PriceEntry) -> Condition {
    let column = |name: &'static str| Expr::col(Alias::new(name));
    let threshold = crate::prices::threshold_column(entry);
    Condition::all()
        .add(column("provider").eq(entry.provider.to_ascii_lowercase()))
        .add(column("model").eq(entry.model.clone()))
        .add(column("effective_from").eq(entry.effective_from))
        .add(column("input_per_mtok").eq(decimal_text(entry.input_per_mtok)))
        .add(column("output_per_mtok").eq(decimal_text(entry.output_per_mtok)))
        .add(column("import_id").is_null())
        .add(equals_or_null(
            "service_tier",
            entry.service_tier.clone().map(Into::into),
        ))
        .add(equals_or_null(
            "above_input_tokens",
            threshold.map(Into::into),
        ))
}

/// The columns of `prices` as m0001 created them, and their values for `entry`.
fn base_columns(entry: &PriceEntry) -> Vec<(&'static str, SimpleExpr)> {
    let decimal = |value: Option<rust_decimal::Decimal>| value.map(decimal_text).into();
    vec![
        ("provider", entry.provider.to_ascii_lowercase().into()),
        ("model", entry.model.clone().into()),
        ("currency", entry.currency.clone().into()),
        ("input_per_mtok", decimal_text(entry.input_per_mtok).into()),
        (
            "cached_input_per_mtok",
            decimal(entry.cached_input_per_mtok),
        ),
        (
            "cache_creation_per_mtok",
            decimal(entry.cache_creation_per_mtok),
        ),
        (
            "output_per_mtok",
            decimal_text(entry.output_per_mtok).into(),
        ),
        ("reasoning_per_mtok", decimal(entry.reasoning_per_mtok)),
        ("effective_from", entry.effective_from.into()),
        ("effective_until", entry.effective_until.into()),
        ("source", entry.source.clone().into()),
    ]
}

/// The columns m0007 added, and their values for `entry`.
pub(super) fn billing_columns(entry: &PriceEntry) -> Vec<(&'static str, SimpleExpr)> {
    let decimal = |value: Option<rust_decimal::Decimal>| value.map(decimal_text).into();
    let threshold = crate::prices::threshold_column(entry);
    vec![
        (
            "cache_creation_1h_per_mtok",
            decimal(entry.cache_creation_1h_per_mtok),
        ),
        ("web_search_per_call", decimal(entry.web_search_per_call)),
        ("web_fetch_per_call", decimal(entry.web_fetch_per_call)),
        ("file_search_per_call", decimal(entry.file_search_per_call)),
        (
            "code_interpreter_per_container",
            decimal(entry.code_interpreter_per_container),
        ),
        ("service_tier", entry.service_tier.clone().into()),
        ("above_input_tokens", threshold.into()),
        (
            "checked_on",
            entry.checked_on.map(|date| date.to_string()).into(),
        ),
    ]
}

/// Inserts `entry` into the schema of m0001 (a standard-tier row; the columns added later
/// keep their defaults).
pub(super) async fn insert_base_price<C: ConnectionTrait>(
    db: &C,
    entry: &PriceEntry,
) -> Result<(), DbErr> {
    insert(db, base_columns(entry)).await
}

/// Inserts `entry` with every column up to m0007.
pub(super) async fn insert_billing_price<C: ConnectionTrait>(
    db: &C,
    entry: &PriceEntry,
) -> Result<(), DbErr> {
    let mut columns = base_columns(entry);
    columns.extend(billing_columns(entry));
    insert(db, columns).await
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    columns: Vec<(&'static str, SimpleExpr)>,
) -> Result<(), DbErr> {
    let (names, values): (Vec<_>, Vec<_>) = columns.into_iter().unzip();
    let statement = Query::insert()
        .into_table(Alias::new("prices"))
        .columns(names.into_iter().map(Alias::new))
        .values_panic(values)
        .to_owned();
    db.execute(&statement).await.map(|_| ())
}

/// Rows of `prices` matching `condition`, with the columns named.
pub(super) async fn select<C: ConnectionTrait>(
    db: &C,
    columns: &[&'static str],
    condition: Condition,
) -> Result<Vec<QueryResult>, DbErr> {
    let statement = Query::select()
        .from(Alias::new("prices"))
        .columns(columns.iter().copied().map(Alias::new))
        .cond_where(condition)
        .to_owned();
    db.query_all(&statement).await
}

/// `column = value`, or `column IS NULL` for no value.
pub(super) fn equals_or_null(column: &'static str, value: Option<sea_orm::Value>) -> SimpleExpr {
    match value {
        Some(value) => Expr::col(Alias::new(column)).eq(value),
        None => Expr::col(Alias::new(column)).is_null(),
    }
}
