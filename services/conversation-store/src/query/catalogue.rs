//! The platforms records were made on, and the price rows the catalogue holds.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::entity::{platform, price};

/// Which price rows to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceFilter {
    /// Provider key, lower case.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Only rows in effect at this instant; `None` lists every row ever written.
    pub in_effect_at: Option<DateTime<Utc>>,
}

/// Every platform, by name.
pub async fn list_platforms(db: &DatabaseConnection) -> Result<Vec<platform::Model>, DbErr> {
    platform::Entity::find()
        .order_by_asc(platform::Column::Name)
        .all(db)
        .await
}

/// The price rows `filter` selects, by provider, model and start.
pub async fn list_prices(
    db: &DatabaseConnection,
    filter: &PriceFilter,
) -> Result<Vec<price::Model>, DbErr> {
    let mut query = price::Entity::find();
    if let Some(provider) = &filter.provider {
        query = query.filter(price::Column::Provider.eq(provider.as_str()));
    }
    if let Some(model) = &filter.model {
        query = query.filter(price::Column::Model.eq(model.as_str()));
    }
    if let Some(at) = filter.in_effect_at {
        query = query.filter(price::Column::EffectiveFrom.lte(at)).filter(
            Condition::any()
                .add(price::Column::EffectiveUntil.is_null())
                .add(price::Column::EffectiveUntil.gt(at)),
        );
    }
    query
        .order_by_asc(price::Column::Provider)
        .order_by_asc(price::Column::Model)
        .order_by_asc(price::Column::EffectiveFrom)
        .all(db)
        .await
}
