//! `colloquy show | list | usage | costs`: the store's reads.

use colloquy_proto::store::v1 as pb;

use crate::connect::Target;
use crate::print;

pub async fn show(store: &Target, id: &str) -> anyhow::Result<()> {
    let conversation = store
        .store()
        .await?
        .get_conversation(pb::GetConversationRequest {
            conversation_id: id.into(),
        })
        .await?
        .into_inner();
    print::conversation(&conversation);
    for turn in &conversation.turns {
        println!();
        print::turn(turn);
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only this platform.
    #[arg(long, default_value = "")]
    platform: String,
    /// Only this tenant.
    #[arg(long, default_value = "")]
    tenant: String,
    /// Only calls made with this API key.
    #[arg(long, default_value = "")]
    key: String,
    /// How many.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

pub async fn list(store: &Target, args: ListArgs) -> anyhow::Result<()> {
    let page = store
        .store()
        .await?
        .list_conversations(pb::ListConversationsRequest {
            platform: args.platform,
            tenant: args.tenant,
            key_id: args.key,
            page_size: args.limit,
            ..Default::default()
        })
        .await?
        .into_inner();
    for conversation in &page.conversations {
        print::conversation(conversation);
    }
    Ok(())
}

pub async fn usage(store: &Target, id: &str) -> anyhow::Result<()> {
    let mut client = store.store().await?;
    let mut token = String::new();
    loop {
        let page = client
            .list_usage(pb::ListUsageRequest {
                conversation_id: id.into(),
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        for entry in &page.entries {
            let u = entry.usage.unwrap_or_default();
            let cost = entry
                .cost
                .as_ref()
                .and_then(|c| c.total.as_ref())
                .map(|m| format!("{} {}", m.amount, m.currency))
                .unwrap_or_else(|| "unpriced".into());
            println!(
                "#{:<4} {:<28} in {:>8} (cached {:>7}) out {:>7} (reasoning {:>6})  {cost}",
                entry.sequence,
                entry.model,
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.reasoning_tokens
            );
        }
        if page.next_page_token.is_empty() {
            return Ok(());
        }
        token = page.next_page_token;
    }
}

#[derive(clap::Args)]
pub struct CostArgs {
    /// Hours back from now.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Grouping keys: platform, model, day, tenant, key.
    #[arg(long, value_delimiter = ',', default_value = "platform,model")]
    group_by: Vec<String>,
}

pub async fn costs(store: &Target, args: CostArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::hours(args.hours);
    let ts = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    let group_by = args
        .group_by
        .iter()
        .map(|key| match key.as_str() {
            "platform" => Ok(pb::CostGrouping::Platform as i32),
            "model" => Ok(pb::CostGrouping::Model as i32),
            "day" => Ok(pb::CostGrouping::Day as i32),
            "tenant" => Ok(pb::CostGrouping::Tenant as i32),
            "key" => Ok(pb::CostGrouping::Key as i32),
            other => {
                anyhow::bail!("unknown grouping {other:?} (platform, model, day, tenant, key)")
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let summary = store
        .store()
        .await?
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(ts(start)),
            end_time: Some(ts(now + chrono::Duration::seconds(1))),
            group_by,
            ..Default::default()
        })
        .await?
        .into_inner();
    for group in &summary.groups {
        let keys: Vec<&str> = [
            &group.platform,
            &group.model,
            &group.day,
            &group.tenant,
            &group.key_id,
        ]
        .into_iter()
        .filter(|k| !k.is_empty())
        .map(String::as_str)
        .collect();
        let cost: Vec<String> = group
            .cost
            .iter()
            .map(|m| format!("{} {}", m.amount, m.currency))
            .collect();
        let u = group.usage.unwrap_or_default();
        // Where the provider reported its own cost: how far the ledger's is from it.
        let drift = if group.compared_turns > 0 {
            format!(
                "  vs provider {} over {} turns",
                signed(&group.provider_cost_difference),
                group.compared_turns
            )
        } else {
            String::new()
        };
        println!(
            "{:<40} turns {:>5}  tokens in {:>9} out {:>9}  cost {}  unpriced {}{drift}",
            keys.join(" / "),
            group.turns,
            u.input_tokens,
            u.output_tokens,
            if cost.is_empty() {
                "-".into()
            } else {
                cost.join(", ")
            },
            group.unpriced_turns
        );
    }
    Ok(())
}

/// A difference with its sign, `+0` when there is none.
fn signed(difference: &str) -> String {
    if difference.starts_with('-') {
        difference.to_string()
    } else {
        format!("+{difference}")
    }
}
