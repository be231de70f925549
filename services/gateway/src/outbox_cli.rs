//! `colloquy-gateway outbox …`: an operator's look into the outbox file of a stopped gateway —
//! how many records wait, which ones the store refused for good and why, and sending chosen
//! ones again once what made them invalid is fixed.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use colloquy_outbox::{Entry, OutboxFile};
use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;
use prost::Message;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// How many records are admitted, pending and rejected, and each rejected record.
    List,
    /// One rejected record, whole.
    Show {
        /// Its key, as `list` prints it.
        key: u64,
    },
    /// Moves rejected records back to pending; the gateway sends them at its next start.
    Redrive {
        /// Keys, as `list` prints them.
        #[arg(required = true)]
        keys: Vec<u64>,
    },
}

/// Runs `command` on the outbox file at `path`, printing to stdout.
pub fn run(path: &Path, command: OutboxCommand) -> anyhow::Result<()> {
    let file = OutboxFile::open(path).with_context(|| format!("outbox {}", path.display()))?;
    match command {
        OutboxCommand::List => {
            let counts = file.counts()?;
            println!(
                "{}: {} pending, {} admitted (delivered as interrupted at the next start), {} rejected",
                path.display(),
                counts.pending,
                counts.admitted,
                counts.rejected
            );
            for entry in file.rejected()? {
                println!("{}", summary_line(&entry));
            }
        }
        OutboxCommand::Show { key } => {
            let entry = file
                .rejected()?
                .into_iter()
                .find(|entry| entry_key(entry) == key)
                .with_context(|| format!("no rejected record has key {key}"))?;
            match entry {
                Ok(entry) => match pb::CompletionRecord::decode(entry.payload.clone()) {
                    Ok(record) => println!("{}\n{record:#?}", summary_line(&Ok(entry))),
                    Err(error) => println!("key {key}: not a completion record ({error})"),
                },
                Err(key) => println!("key {key}: unreadable entry"),
            }
        }
        OutboxCommand::Redrive { keys } => {
            let moved = file.redrive(&keys)?;
            for key in &keys {
                if !moved.contains(key) {
                    println!("key {key}: no such rejected record");
                }
            }
            println!(
                "{} record(s) back to pending; they are sent when the gateway starts",
                moved.len()
            );
        }
    }
    Ok(())
}

fn entry_key(entry: &Result<Entry, u64>) -> u64 {
    match entry {
        Ok(entry) => entry.key,
        Err(key) => *key,
    }
}

/// `key  written  record_id  status  conversation`, for one rejected entry.
fn summary_line(entry: &Result<Entry, u64>) -> String {
    let entry = match entry {
        Ok(entry) => entry,
        Err(key) => return format!("{key:>8}  (unreadable entry)"),
    };
    let written = i64::try_from(entry.written_micros)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .map_or_else(|| "?".to_string(), |at| at.to_rfc3339());
    match pb::CompletionRecord::decode(entry.payload.clone()) {
        Ok(record) => {
            let status = record
                .summary
                .as_ref()
                .and_then(|s| common::CompletionStatus::try_from(s.status).ok())
                .map_or("?", |s| s.as_str_name());
            format!(
                "{:>8}  {written}  record {}  {status}  conversation {}",
                entry.key, record.record_id, record.conversation_id
            )
        }
        Err(error) => format!(
            "{:>8}  {written}  (not a completion record: {error})",
            entry.key
        ),
    }
}
