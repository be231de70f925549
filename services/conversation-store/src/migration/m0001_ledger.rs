//! The ledger's tables: platforms, conversations with their labels and cost totals, turns,
//! usage rows, turn costs, and the versioned price catalogue.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn create(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).if_not_exists().take()
}

fn index(
    name: &'static str,
    table: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table).if_not_exists();
    for column in columns {
        index.col(*column);
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                create("platforms")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("name"))
                    .col(string("kind"))
                    .col(text("base_url"))
                    .col(string("default_model"))
                    .col(boolean("store_content"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                create("conversations")
                    .col(string("id").primary_key())
                    .col(big_integer("platform_id"))
                    .col(string("tenant"))
                    .col(string("end_user"))
                    .col(text("labels"))
                    .col(string_null("continuation_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(integer("turn_count"))
                    .col(string("last_status"))
                    .col(big_integer("input_tokens"))
                    .col(big_integer("output_tokens"))
                    .col(big_integer("cached_input_tokens"))
                    .col(big_integer("cache_creation_input_tokens"))
                    .col(big_integer("reasoning_tokens"))
                    .col(integer("unpriced_turns"))
                    .col(string_null("provider_cost_total"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("conversations", "platform_id")
                            .to("platforms", "id"),
                    )
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("conversations_created", &["created_at", "id"][..]),
            ("conversations_updated", &["updated_at"][..]),
            ("conversations_tenant", &["tenant", "created_at"][..]),
            ("conversations_platform", &["platform_id", "created_at"][..]),
        ] {
            manager
                .create_index(index(name, "conversations", columns))
                .await?;
        }

        manager
            .create_table(
                create("conversation_labels")
                    .col(string("conversation_id"))
                    .col(string("key"))
                    .col(string("value"))
                    .primary_key(Index::create().col("conversation_id").col("key"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("conversation_labels", "conversation_id")
                            .to("conversations", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "conversation_labels_key_value",
                "conversation_labels",
                &["key", "value"],
            ))
            .await?;

        manager
            .create_table(
                create("conversation_costs")
                    .col(string("conversation_id"))
                    .col(string("currency"))
                    .col(string("total"))
                    .primary_key(Index::create().col("conversation_id").col("currency"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("conversation_costs", "conversation_id")
                            .to("conversations", "id"),
                    )
                    .take(),
            )
            .await?;

        manager
            .create_table(
                create("turns")
                    .col(string("record_id").primary_key())
                    .col(string("conversation_id"))
                    .col(integer("sequence"))
                    .col(string("record_fingerprint"))
                    .col(big_integer("platform_id"))
                    .col(string("gateway_request_id"))
                    .col(string("requested_model"))
                    .col(string_null("resolved_model"))
                    .col(string("status"))
                    .col(string("finish_reason"))
                    .col(string_null("response_id"))
                    .col(string_null("provider_request_id"))
                    .col(string_null("generation_id"))
                    .col(string_null("upstream_provider"))
                    .col(string_null("system_fingerprint"))
                    .col(string_null("service_tier"))
                    .col(string_null("continuation_id"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(big_integer_null("time_to_first_token_us"))
                    .col(big_integer("total_duration_us"))
                    .col(string_null("error_code"))
                    .col(text_null("error_message"))
                    .col(boolean_null("error_retryable"))
                    .col(integer_null("error_http_status"))
                    .col(big_integer_null("error_retry_after_ms"))
                    .col(text_null("input_messages"))
                    .col(text_null("output_message"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("turns", "conversation_id")
                            .to("conversations", "id"),
                    )
                    .take(),
            )
            .await?;
        // Two turns can never share a place in a conversation: the database enforces the
        // gap-free numbering the writer computes.
        manager
            .create_index(
                index(
                    "turns_conversation_sequence",
                    "turns",
                    &["conversation_id", "sequence"],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                create("usage_rows")
                    .col(string("record_id").primary_key())
                    .col(string("conversation_id"))
                    .col(integer("sequence"))
                    .col(big_integer("platform_id"))
                    .col(string("tenant"))
                    .col(string("model"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(big_integer("input_tokens"))
                    .col(big_integer("output_tokens"))
                    .col(big_integer("cached_input_tokens"))
                    .col(big_integer("cache_creation_input_tokens"))
                    .col(big_integer("reasoning_tokens"))
                    .col(big_integer("total_tokens"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("usage_rows", "record_id")
                            .to("turns", "record_id"),
                    )
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("usage_rows_recorded", &["recorded_at", "record_id"][..]),
            (
                "usage_rows_conversation",
                &["conversation_id", "sequence"][..],
            ),
        ] {
            manager
                .create_index(index(name, "usage_rows", columns))
                .await?;
        }

        manager
            .create_table(
                create("price_imports")
                    .col(big_pk_auto("id"))
                    .col(text("source"))
                    .col(timestamp_with_time_zone("imported_at"))
                    .col(timestamp_with_time_zone("effective_from"))
                    .col(integer("inserted"))
                    .col(integer("closed"))
                    .col(integer("unchanged"))
                    .col(integer("skipped"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                create("prices")
                    .col(big_pk_auto("id"))
                    .col(string("provider"))
                    .col(string("model"))
                    .col(string("currency"))
                    .col(string("input_per_mtok"))
                    .col(string_null("cached_input_per_mtok"))
                    .col(string_null("cache_creation_per_mtok"))
                    .col(string("output_per_mtok"))
                    .col(string_null("reasoning_per_mtok"))
                    .col(timestamp_with_time_zone("effective_from"))
                    .col(timestamp_with_time_zone_null("effective_until"))
                    .col(text("source"))
                    .col(big_integer_null("import_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("prices", "import_id")
                            .to("price_imports", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "prices_model",
                "prices",
                &["provider", "model", "effective_from"],
            ))
            .await?;

        manager
            .create_table(
                create("turn_costs")
                    .col(string("record_id").primary_key())
                    .col(boolean("priced"))
                    .col(big_integer_null("price_id"))
                    .col(string_null("currency"))
                    .col(string_null("uncached_input"))
                    .col(string_null("cached_input"))
                    .col(string_null("cache_creation"))
                    .col(string_null("output"))
                    .col(string_null("reasoning"))
                    .col(string_null("total"))
                    .col(text_null("unpriced_reason"))
                    .col(string_null("provider_cost"))
                    .col(string_null("provider_cost_currency"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("turn_costs", "record_id")
                            .to("turns", "record_id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("turn_costs", "price_id")
                            .to("prices", "id"),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "turn_costs",
            "prices",
            "price_imports",
            "usage_rows",
            "turns",
            "conversation_costs",
            "conversation_labels",
            "conversations",
            "platforms",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
