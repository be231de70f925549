//! Ingest benchmark: starts the conversation store (its release binary, as its own process) on
//! 127.0.0.1 over a fresh database, keeps exactly N `RecordCompletion` calls in flight for each
//! level of `--writers`, prints records/s, ack latency and the store's CPU per record per level
//! as markdown rows, then checks that every acknowledged record is stored exactly once.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, ValueEnum};
use colloquy_benches::cpu::{self, CpuUse};
use colloquy_benches::database::FreshDatabase;
use colloquy_benches::latency::{self, LatencySummary, millis};
use colloquy_benches::level::{self, Window};
use colloquy_benches::process;
use colloquy_benches::record;
use colloquy_benches::service::{ServiceProcess, sibling_binary};
use colloquy_benches::store::{self, StoreConfig};
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_store::db::redact;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

type Client = ConversationStoreClient<Channel>;

/// Failed calls whose messages are printed per level; the rest are only counted.
const SHOWN_FAILURES: usize = 5;
/// Page sizes of the verification reads: the largest the store serves.
const USAGE_PAGE: u32 = 1000;
const CONVERSATION_PAGE: u32 = 500;

#[derive(Parser, Debug)]
#[command(
    name = "ingest",
    about = "Measures RecordCompletion throughput and ack latency of the conversation store"
)]
struct Args {
    /// Database the store writes to; created empty for this run and removed after it.
    #[arg(long, value_enum)]
    database: Backend,
    /// Admin connection used to create and drop the run's Postgres database.
    #[arg(
        long,
        env = "COLLOQUY_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Concurrent in-flight calls of each level, run one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    writers: Vec<u32>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Unmeasured seconds before each level's measurement.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup: u64,
    /// Conversations the records are spread over: record i goes to conversation i % N.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    conversations: u32,
    /// Sends every record to one conversation, the most contended case.
    #[arg(long)]
    same_conversation: bool,
    /// HTTP/2 connections the calls share, assigned round-robin to the writers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    channels: u32,
    /// Store setting `ingest.max_batch`: most records per transaction.
    #[arg(long)]
    max_batch: Option<usize>,
    /// Store setting `ingest.writers`: parallel batch writers (SQLite always uses one).
    #[arg(long)]
    store_writers: Option<usize>,
    /// Store setting `database.max_connections`.
    #[arg(long)]
    max_connections: Option<u32>,
    /// Seconds after which an unanswered call counts as failed.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    call_timeout: u64,
    /// Labels on every record (the store's label limits are raised to take them); 10000 shows
    /// what one large label set costs to write.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    labels: u32,
    /// The `colloquy-store` executable; by default the one next to this benchmark's.
    #[arg(long)]
    store_bin: Option<std::path::PathBuf>,
    /// `RUST_LOG` of the store process.
    #[arg(long, default_value = "warn")]
    store_log: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    colloquy_benches::logging::init();
    let database = match args.database {
        Backend::Sqlite => FreshDatabase::sqlite()?,
        Backend::Postgres => FreshDatabase::postgres(&args.postgres_url).await?,
    };
    // Interrupting still removes the database.
    let outcome = tokio::select! {
        outcome = bench(&args, &database) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let removed = database.remove().await;
    if let (Err(_), Err(error)) = (&outcome, &removed) {
        eprintln!("error: {error:#}");
    }
    outcome.and(removed)
}

async fn bench(args: &Args, database: &FreshDatabase) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let config = StoreConfig {
        binary: match &args.store_bin {
            Some(path) => path.clone(),
            None => sibling_binary("colloquy-store")?,
        },
        dir: dir.path().to_path_buf(),
        database_url: database.url().to_string(),
        settings: store_settings(args),
        log_filter: args.store_log.clone(),
    };
    describe(args, &config, database.backend());
    let store = store::start(&config).await?;
    let outcome = load_and_verify(args, database.backend(), &store).await;
    let stopped = store.stop().await;
    outcome.and(stopped)
}

/// The store's settings beyond its defaults, as `COLLOQUY_STORE__*` variables.
fn store_settings(args: &Args) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    let mut set = |key: &str, value: String| settings.push((key.to_string(), value));
    if let Some(max_batch) = args.max_batch {
        set("INGEST__MAX_BATCH", max_batch.to_string());
    }
    if let Some(writers) = args.store_writers {
        set("INGEST__WRITERS", writers.to_string());
    }
    if let Some(max_connections) = args.max_connections {
        set("DATABASE__MAX_CONNECTIONS", max_connections.to_string());
    }
    if args.labels > 1 {
        set("LIMITS__MAX_LABELS", args.labels.to_string());
        set(
            "LIMITS__MAX_LABELS_BYTES",
            (args.labels as u64 * 64).to_string(),
        );
    }
    settings
}

fn describe(args: &Args, config: &StoreConfig, backend: &str) {
    let setting = |key: &str, default: &str| {
        config
            .settings
            .iter()
            .find(|(k, _)| k == key)
            .map_or(default.to_string(), |(_, v)| v.clone())
    };
    let store_writers = match args.database {
        Backend::Sqlite => "1 (sqlite)".to_string(),
        Backend::Postgres => setting("INGEST__WRITERS", "default"),
    };
    eprintln!(
        "ingest bench: {} (RUST_LOG={}) on {backend} at {}, store max_batch={} \
         writers={store_writers} max_connections={}; {} conversation(s), {} label(s) per \
         record, {} channel(s), {} s warm-up + {} s per level",
        config.binary.display(),
        config.log_filter,
        redact(&config.database_url),
        setting("INGEST__MAX_BATCH", "default"),
        setting("DATABASE__MAX_CONNECTIONS", "default"),
        conversation_count(args),
        args.labels,
        args.channels,
        args.warmup,
        args.seconds,
    );
}

async fn load_and_verify(args: &Args, backend: &str, store: &ServiceProcess) -> anyhow::Result<()> {
    // Writers share the connections round-robin.
    let channels = level::connect(store.addr(), args.channels, "store").await?;
    let conversations = conversation_ids(args);
    // One counter across levels, so every level keeps rotating over all the conversations.
    let next = Arc::new(AtomicU64::new(0));
    let mut acks = Vec::new();
    let mut failures = 0;
    print_header();
    for &writers in &args.writers {
        let level = run_level(args, writers, &channels, &conversations, &next, store).await?;
        print_row(backend, writers, &level);
        report_level(writers, &level);
        failures += level.failures;
        acks.extend(level.acks);
    }
    // Conversations with many labels make pages far past tonic's default of 4 MiB.
    let client = Client::new(channels[0].clone()).max_decoding_message_size(usize::MAX);
    verify(client, &conversations, &acks).await?;
    if failures > 0 {
        bail!("{failures} call(s) failed; see the messages above");
    }
    Ok(())
}

fn conversation_count(args: &Args) -> u32 {
    if args.same_conversation {
        1
    } else {
        args.conversations
    }
}

fn conversation_ids(args: &Args) -> Arc<[String]> {
    (0..conversation_count(args))
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect()
}

/// One acknowledged record: what the verification expects to find stored.
struct Acked {
    record_id: String,
    conversation: usize,
    sequence: u32,
}

#[derive(Default)]
struct WriterOutcome {
    acks: Vec<Acked>,
    latencies: Vec<Duration>,
    completed_in_window: u64,
    failures: u64,
    failure_messages: Vec<String>,
}

impl WriterOutcome {
    fn acked(&mut self, ack: Acked, started: Instant, finished: Instant, window: Window) {
        self.acks.push(ack);
        if window.samples(started) {
            self.latencies.push(finished - started);
        }
        if window.counts(finished) {
            self.completed_in_window += 1;
        }
    }

    fn failed(&mut self, message: String) {
        self.failures += 1;
        if self.failure_messages.len() < SHOWN_FAILURES {
            self.failure_messages.push(message);
        }
    }

    fn merge(&mut self, other: WriterOutcome) {
        self.acks.extend(other.acks);
        self.latencies.extend(other.latencies);
        self.completed_in_window += other.completed_in_window;
        self.failures += other.failures;
        let room = SHOWN_FAILURES.saturating_sub(self.failure_messages.len());
        self.failure_messages
            .extend(other.failure_messages.into_iter().take(room));
    }
}

struct Level {
    records_per_second: f64,
    latency: Option<LatencySummary>,
    calls: usize,
    acks: Vec<Acked>,
    failures: u64,
    failure_messages: Vec<String>,
    cpu: CpuUse,
    /// The store process's CPU milliseconds per record completed in the window.
    store_ms_per_record: Option<f64>,
}

/// Runs `writers` closed-loop callers through warm-up and measurement; each starts its next
/// call as soon as the previous one is answered, so exactly `writers` calls are in flight.
async fn run_level(
    args: &Args,
    writers: u32,
    channels: &[Channel],
    conversations: &Arc<[String]>,
    next: &Arc<AtomicU64>,
    store: &ServiceProcess,
) -> anyhow::Result<Level> {
    let measured = Duration::from_secs(args.seconds);
    let window = Window::after(Duration::from_secs(args.warmup), measured);
    let call_timeout = Duration::from_secs(args.call_timeout);
    let tasks: Vec<JoinHandle<WriterOutcome>> = (0..writers as usize)
        .map(|writer| {
            let client = Client::new(channels[writer % channels.len()].clone());
            tokio::spawn(writer_loop(
                client,
                Arc::clone(conversations),
                Arc::clone(next),
                window,
                call_timeout,
                args.labels,
            ))
        })
        .collect();
    tokio::time::sleep_until(window.start).await;
    let cpu_start = cpu::sample();
    let store_start = process::cpu_ticks(store.pid());
    tokio::time::sleep_until(window.end).await;
    let cpu_used = cpu::sample().since(&cpu_start);
    let store_ticks = process::cpu_ticks(store.pid())
        .zip(store_start)
        .map(|(end, start)| end.saturating_sub(start));

    let mut outcome = WriterOutcome::default();
    for task in tasks {
        outcome.merge(task.await.context("a writer task panicked")?);
    }
    let calls = outcome.latencies.len();
    let store_ms_per_record =
        store_ticks
            .filter(|_| outcome.completed_in_window > 0)
            .map(|ticks| {
                ticks as f64 * 1000.0
                    / process::TICKS_PER_SECOND
                    / outcome.completed_in_window as f64
            });
    Ok(Level {
        store_ms_per_record,
        records_per_second: outcome.completed_in_window as f64 / measured.as_secs_f64(),
        latency: latency::summarize(outcome.latencies),
        calls,
        acks: outcome.acks,
        failures: outcome.failures,
        failure_messages: outcome.failure_messages,
        cpu: cpu_used,
    })
}

/// One caller: sends fresh records until the window ends, timing each call.
async fn writer_loop(
    mut client: Client,
    conversations: Arc<[String]>,
    next: Arc<AtomicU64>,
    window: Window,
    call_timeout: Duration,
    labels: u32,
) -> WriterOutcome {
    let mut outcome = WriterOutcome::default();
    while Instant::now() < window.end {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let conversation = (index % conversations.len() as u64) as usize;
        let mut sent = record::completion(&conversations[conversation], index);
        if labels != 1 {
            sent.labels = record::labels(labels as usize, index);
        }
        let record_id = sent.record_id.clone();
        let started = Instant::now();
        let answer = tokio::time::timeout(call_timeout, client.record_completion(sent)).await;
        let finished = Instant::now();
        match check_ack(
            answer,
            &record_id,
            &conversations[conversation],
            call_timeout,
        ) {
            Ok(sequence) => {
                let ack = Acked {
                    record_id,
                    conversation,
                    sequence,
                };
                outcome.acked(ack, started, finished, window);
            }
            Err(message) => outcome.failed(message),
        }
    }
    outcome
}

/// The ack's sequence, or why the answer is not a fresh acknowledgement of this record.
fn check_ack(
    answer: Result<
        Result<tonic::Response<pb::RecordAck>, tonic::Status>,
        tokio::time::error::Elapsed,
    >,
    record_id: &str,
    conversation_id: &str,
    call_timeout: Duration,
) -> Result<u32, String> {
    let ack = match answer {
        Err(_) => return Err(format!("{record_id}: no answer within {call_timeout:?}")),
        Ok(Err(status)) => {
            return Err(format!(
                "{record_id}: {:?}: {}",
                status.code(),
                status.message()
            ));
        }
        Ok(Ok(response)) => response.into_inner(),
    };
    if ack.record_id != record_id || ack.conversation_id != conversation_id {
        return Err(format!(
            "{record_id}: acknowledged as {} in {}",
            ack.record_id, ack.conversation_id
        ));
    }
    if !ack.created {
        return Err(format!(
            "{record_id}: a fresh record was answered as a retry"
        ));
    }
    Ok(ack.sequence)
}

fn print_header() {
    println!("| backend | writers | records/s | p50 ms | p99 ms | max ms | store CPU ms/record |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
}

fn print_row(backend: &str, writers: u32, level: &Level) {
    let (p50, p99, max) = match level.latency {
        Some(l) => (
            format!("{:.2}", millis(l.p50)),
            format!("{:.2}", millis(l.p99)),
            format!("{:.2}", millis(l.max)),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let cpu = level
        .store_ms_per_record
        .map_or("-".to_string(), |ms| format!("{ms:.3}"));
    println!(
        "| {backend} | {writers} | {:.0} | {p50} | {p99} | {max} | {cpu} |",
        level.records_per_second
    );
}

/// Details that do not belong in the table: call counts, failures and where CPU went.
fn report_level(writers: u32, level: &Level) {
    let cores = |value: Option<f64>| value.map_or("n/a".to_string(), |v| format!("{v:.2}"));
    let machine = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "  writers={writers}: {} measured calls, {} failed; cores busy: bench process {}, \
         postgres {}, machine {} of {machine} (iowait {})",
        level.calls,
        level.failures,
        cores(level.cpu.own),
        cores(level.cpu.postgres),
        cores(level.cpu.machine),
        cores(level.cpu.iowait),
    );
    for message in &level.failure_messages {
        eprintln!("    failed: {message}");
    }
}

/// Reads everything back through the store's API: each acknowledged record appears exactly
/// once in `ListUsage` with its acknowledged conversation and sequence, nothing else appears,
/// sequences are gap-free per conversation, and turn counts match the acknowledgements.
async fn verify(
    mut client: Client,
    conversations: &[String],
    acks: &[Acked],
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let expected = expected_records(acks, &mut problems);
    check_sequences(conversations.len(), acks, &mut problems);
    let stored = list_usage(&mut client, acks.len()).await?;
    compare_usage(&expected, conversations, &stored, &mut problems);
    let turn_counts = list_turn_counts(&mut client, conversations.len()).await?;
    compare_turn_counts(conversations, acks, &turn_counts, &mut problems);
    if !problems.is_empty() {
        bail!("verification failed:\n  {}", problems.join("\n  "));
    }
    eprintln!(
        "verified: {} acknowledged records stored exactly once in {} conversation(s)",
        acks.len(),
        turn_counts.len()
    );
    Ok(())
}

fn expected_records<'a>(
    acks: &'a [Acked],
    problems: &mut Vec<String>,
) -> HashMap<&'a str, &'a Acked> {
    let mut expected = HashMap::with_capacity(acks.len());
    let mut repeated = 0;
    for ack in acks {
        if expected.insert(ack.record_id.as_str(), ack).is_some() {
            repeated += 1;
        }
    }
    if repeated > 0 {
        problems.push(format!("{repeated} record id(s) were acknowledged twice"));
    }
    expected
}

/// The database starts empty, so each conversation's acknowledged sequences are 1..=n.
fn check_sequences(conversations: usize, acks: &[Acked], problems: &mut Vec<String>) {
    let mut sequences: Vec<Vec<u32>> = vec![Vec::new(); conversations];
    for ack in acks {
        sequences[ack.conversation].push(ack.sequence);
    }
    let mut broken = 0;
    for seqs in &mut sequences {
        seqs.sort_unstable();
        if seqs.iter().zip(1..).any(|(&seq, want)| seq != want) {
            broken += 1;
        }
    }
    if broken > 0 {
        problems.push(format!(
            "{broken} conversation(s) got duplicate or missing sequence numbers"
        ));
    }
}

struct StoredTurn {
    record_id: String,
    conversation_id: String,
    sequence: u32,
}

/// Every usage entry, oldest first. The page bound stops a store that keeps returning pages.
async fn list_usage(client: &mut Client, expected: usize) -> anyhow::Result<Vec<StoredTurn>> {
    let max_pages = expected / USAGE_PAGE as usize + 10;
    let mut stored = Vec::with_capacity(expected);
    let mut page_token = String::new();
    for _ in 0..max_pages {
        let page = client
            .list_usage(pb::ListUsageRequest {
                page_size: USAGE_PAGE,
                page_token,
                ..Default::default()
            })
            .await
            .context("ListUsage failed")?
            .into_inner();
        stored.extend(page.entries.into_iter().map(|entry| StoredTurn {
            record_id: entry.record_id,
            conversation_id: entry.conversation_id,
            sequence: entry.sequence,
        }));
        if page.next_page_token.is_empty() {
            return Ok(stored);
        }
        page_token = page.next_page_token;
    }
    bail!("ListUsage returned more than {max_pages} pages for {expected} records")
}

fn compare_usage(
    expected: &HashMap<&str, &Acked>,
    conversations: &[String],
    stored: &[StoredTurn],
    problems: &mut Vec<String>,
) {
    let mut seen: HashMap<&str, u32> = HashMap::with_capacity(stored.len());
    let (mut unacknowledged, mut misplaced) = (0, 0);
    for turn in stored {
        *seen.entry(turn.record_id.as_str()).or_default() += 1;
        match expected.get(turn.record_id.as_str()) {
            None => unacknowledged += 1,
            Some(ack) => {
                if conversations[ack.conversation] != turn.conversation_id
                    || ack.sequence != turn.sequence
                {
                    misplaced += 1;
                }
            }
        }
    }
    let missing = expected.keys().filter(|id| !seen.contains_key(*id)).count();
    let duplicated = seen.values().filter(|&&count| count > 1).count();
    for (count, what) in [
        (missing, "acknowledged record(s) missing from ListUsage"),
        (duplicated, "record(s) listed more than once"),
        (unacknowledged, "stored record(s) never acknowledged"),
        (
            misplaced,
            "record(s) stored with another conversation or sequence than acknowledged",
        ),
    ] {
        if count > 0 {
            problems.push(format!("{count} {what}"));
        }
    }
}

/// Turn counts of every conversation, by id.
async fn list_turn_counts(
    client: &mut Client,
    expected: usize,
) -> anyhow::Result<HashMap<String, u32>> {
    let max_pages = expected / CONVERSATION_PAGE as usize + 10;
    let mut counts = HashMap::with_capacity(expected);
    let mut page_token = String::new();
    for _ in 0..max_pages {
        let page = client
            .list_conversations(pb::ListConversationsRequest {
                page_size: CONVERSATION_PAGE,
                page_token,
                ..Default::default()
            })
            .await
            .context("ListConversations failed")?
            .into_inner();
        counts.extend(
            page.conversations
                .into_iter()
                .map(|conversation| (conversation.id, conversation.turn_count)),
        );
        if page.next_page_token.is_empty() {
            return Ok(counts);
        }
        page_token = page.next_page_token;
    }
    bail!("ListConversations returned more than {max_pages} pages for {expected} conversations")
}

fn compare_turn_counts(
    conversations: &[String],
    acks: &[Acked],
    turn_counts: &HashMap<String, u32>,
    problems: &mut Vec<String>,
) {
    let mut acknowledged = vec![0u32; conversations.len()];
    for ack in acks {
        acknowledged[ack.conversation] += 1;
    }
    let wrong = conversations
        .iter()
        .zip(&acknowledged)
        .filter(|&(id, &count)| turn_counts.get(id.as_str()).copied().unwrap_or(0) != count)
        .count();
    if wrong > 0 {
        problems.push(format!(
            "{wrong} conversation(s) with a turn count other than their acknowledged records"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(record_id: &str, conversation: usize, sequence: u32) -> Acked {
        Acked {
            record_id: record_id.into(),
            conversation,
            sequence,
        }
    }

    fn stored(record_id: &str, conversation_id: &str, sequence: u32) -> StoredTurn {
        StoredTurn {
            record_id: record_id.into(),
            conversation_id: conversation_id.into(),
            sequence,
        }
    }

    fn conversations() -> Vec<String> {
        vec!["c0".into(), "c1".into()]
    }

    fn acks() -> Vec<Acked> {
        vec![acked("r1", 0, 1), acked("r2", 1, 1), acked("r3", 0, 2)]
    }

    fn usage_problems(stored_turns: &[StoredTurn]) -> Vec<String> {
        let acks = acks();
        let mut problems = Vec::new();
        let expected = expected_records(&acks, &mut problems);
        compare_usage(&expected, &conversations(), stored_turns, &mut problems);
        problems
    }

    #[test]
    fn a_complete_store_passes() {
        let all = [
            stored("r1", "c0", 1),
            stored("r2", "c1", 1),
            stored("r3", "c0", 2),
        ];
        assert!(usage_problems(&all).is_empty());
        let mut problems = Vec::new();
        check_sequences(2, &acks(), &mut problems);
        let counts = HashMap::from([("c0".to_string(), 2), ("c1".to_string(), 1)]);
        compare_turn_counts(&conversations(), &acks(), &counts, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn missing_duplicated_stray_and_misplaced_records_are_each_reported() {
        let problems = usage_problems(&[
            stored("r1", "c0", 1),
            stored("r1", "c0", 1),
            stored("r2", "c0", 1),
            stored("r9", "c1", 2),
        ]);
        let text = problems.join("\n");
        for expected in [
            "1 acknowledged record(s) missing",
            "1 record(s) listed more than once",
            "1 stored record(s) never acknowledged",
            "1 record(s) stored with another conversation",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }

    #[test]
    fn repeated_or_skipped_sequences_and_wrong_counts_are_reported() {
        let mut problems = Vec::new();
        check_sequences(
            2,
            &[acked("a", 0, 1), acked("b", 0, 1), acked("c", 1, 2)],
            &mut problems,
        );
        assert!(problems[0].starts_with("2 conversation(s)"), "{problems:?}");

        let mut problems = Vec::new();
        let counts = HashMap::from([("c0".to_string(), 3)]);
        compare_turn_counts(&conversations(), &acks(), &counts, &mut problems);
        assert!(problems[0].starts_with("2 conversation(s)"), "{problems:?}");
    }

    #[test]
    fn only_a_fresh_ack_of_the_sent_record_counts() {
        let answer = |ack: pb::RecordAck| Ok(Ok(tonic::Response::new(ack)));
        let ack = |record_id: &str, created: bool| pb::RecordAck {
            record_id: record_id.into(),
            created,
            conversation_id: "c0".into(),
            sequence: 4,
        };
        let timeout = Duration::from_secs(1);
        assert_eq!(
            check_ack(answer(ack("r1", true)), "r1", "c0", timeout),
            Ok(4)
        );
        assert!(check_ack(answer(ack("r1", false)), "r1", "c0", timeout).is_err());
        assert!(check_ack(answer(ack("r2", true)), "r1", "c0", timeout).is_err());
        assert!(check_ack(answer(ack("r1", true)), "r1", "c1", timeout).is_err());
        let refused = Ok(Err(tonic::Status::unavailable("down")));
        assert!(check_ack(refused, "r1", "c0", timeout).is_err());
    }
}
