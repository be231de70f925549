//! `colloquy keys create | list | revoke | rotate`: the store's API keys, with an admin
//! credential (`list` also with a read one).

use anyhow::Context;
use colloquy_proto::store::v1 as pb;

use crate::connect::Target;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Issue a key; its secret is printed this once.
    Create(CreateArgs),
    /// List the keys, active ones unless --all.
    List {
        /// Only this tenant's keys.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Revoked and expired keys too.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key: every gateway refuses it within its refresh interval.
    Revoke {
        /// The key's id (`key_…`).
        id: String,
    },
    /// Issue a replacement with the same tenant and scopes; the old key keeps working for the
    /// grace period, then stops.
    Rotate {
        /// The key's id (`key_…`).
        id: String,
        /// Seconds the old key keeps working; 0 revokes it at once.
        #[arg(long, default_value_t = 0)]
        grace_seconds: u32,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The tenant every call with the key is accounted to.
    #[arg(long)]
    tenant: String,
    /// A platform the key may call (repeat for several); none means every platform.
    #[arg(long = "platform")]
    platforms: Vec<String>,
    /// A model the key may ask for (repeat for several); none means every model.
    #[arg(long = "model")]
    models: Vec<String>,
    /// Days until the key stops working; none means it does not expire.
    #[arg(long)]
    expires_in_days: Option<u32>,
    /// A label as NAME=VALUE (repeat for several), such as owner=search-team.
    #[arg(long = "label", value_parser = label)]
    labels: Vec<(String, String)>,
}

fn label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

pub async fn run(store: &Target, command: KeysCommand) -> anyhow::Result<()> {
    let mut client = store.store().await?;
    match command {
        KeysCommand::Create(args) => {
            let expires_at = args.expires_in_days.map(|days| prost_types::Timestamp {
                seconds: (chrono::Utc::now() + chrono::Duration::days(i64::from(days))).timestamp(),
                nanos: 0,
            });
            let created = client
                .create_api_key(pb::CreateApiKeyRequest {
                    tenant: args.tenant,
                    allowed_platforms: args.platforms,
                    allowed_models: args.models,
                    expires_at,
                    labels: args.labels.into_iter().collect(),
                })
                .await?
                .into_inner();
            print_created(created)
        }
        KeysCommand::List { tenant, all } => {
            let keys = client
                .list_api_keys(pb::ListApiKeysRequest {
                    tenant,
                    include_inactive: all,
                })
                .await?
                .into_inner()
                .keys;
            for key in &keys {
                print_key(key);
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let key = client
                .revoke_api_key(pb::RevokeApiKeyRequest { id })
                .await?
                .into_inner();
            print_key(&key);
            Ok(())
        }
        KeysCommand::Rotate { id, grace_seconds } => {
            let created = client
                .rotate_api_key(pb::RotateApiKeyRequest { id, grace_seconds })
                .await?
                .into_inner();
            print_created(created)
        }
    }
}

fn print_created(created: pb::CreatedApiKey) -> anyhow::Result<()> {
    let key = created.key.context("the store answered without the key")?;
    print_key(&key);
    println!("secret: {}", created.secret);
    eprintln!("The secret is shown only now; the store keeps its hash.");
    Ok(())
}

fn print_key(key: &pb::ApiKey) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "*".to_string()
        } else {
            items.join(",")
        }
    };
    let time = |ts: &Option<prost_types::Timestamp>| {
        ts.as_ref()
            .and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    let state = if key.revoked {
        "revoked".to_string()
    } else {
        match time(&key.expires_at) {
            Some(at) => format!("expires {at}"),
            None => "active".to_string(),
        }
    };
    let mut labels: Vec<String> = key.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    println!(
        "{}  tenant {}  platforms {}  models {}  {state}  last used {}{}{}",
        key.id,
        key.tenant,
        list(&key.allowed_platforms),
        list(&key.allowed_models),
        time(&key.last_used_at).unwrap_or_else(|| "never".into()),
        if key.rotated_from.is_empty() {
            String::new()
        } else {
            format!("  replaces {}", key.rotated_from)
        },
        if labels.is_empty() {
            String::new()
        } else {
            format!("  {}", labels.join(" "))
        },
    );
}
