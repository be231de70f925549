//! Gateway overhead benchmark: streams chat completions from the fake provider directly and
//! through the gateway, and prints added time to first token, streams per second, the CPU per
//! completion of the gateway, of the conversation store and of the fake provider, and gateway
//! memory per open stream as markdown tables. The gateway, the store and the fake provider
//! each run as their own process on 127.0.0.1 (release binaries), the gateway pinned to a core
//! of its own.
//!
//! Two sweeps: the throughput sweep sends every stream as fast as it is read, so it finds the
//! most streams per second and the least CPU per stream, with every core busy; the latency
//! sweep paces the provider like a fast model, so TTFT measures the gateway's path rather
//! than the wait for a free core.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use colloquy_benches::chat::{DirectTarget, GatewayTarget, StreamError, Timing};
use colloquy_benches::cpu::{self, CpuUse};
use colloquy_benches::gateway::{self, Admission, GatewayConfig, Platform};
use colloquy_benches::histogram;
use colloquy_benches::latency::{self, LatencySummary, millis};
use colloquy_benches::level::{self, Window};
use colloquy_benches::process;
use colloquy_benches::provider::{self, ProviderProcess};
use colloquy_benches::service::{ServiceProcess, free_port, sibling_binary};
use colloquy_benches::store::{self as store_process, StoreConfig};
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

/// Gateway platform for the throughput sweep: the provider sends without pauses.
const FAST: &str = "bench";
/// Gateway platform for the latency sweep: the provider paces its pieces like a model.
const LATENCY: &str = "bench-latency";
/// Gateway platform for the memory runs: paced so that streams stay open.
const PACED: &str = "bench-paced";
/// Sequential streams through the gateway before its idle memory is read, so that lazily
/// built state (provider client, store connection, outbox pages) is in place.
const WARMUP_STREAMS: usize = 16;
/// Failed streams whose messages are printed per level; the rest are only counted.
const SHOWN_FAILURES: usize = 5;
/// How long the store may take to hold every record of the completed streams.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
const SETTLE_POLL: Duration = Duration::from_millis(100);
/// RSS readings taken while all held streams are open; the largest is reported.
const RSS_READINGS: usize = 10;
const RSS_INTERVAL: Duration = Duration::from_millis(50);
/// Cores busy outside the gateway and the bench process above which a level is flagged.
const FOREIGN_CORES_WARNING: f64 = 0.15;
/// Targets the figures are held against; missing them is reported, not a failure.
const TARGET_STREAMS: u32 = 64;
const TARGET_ADDED_TTFT_P99: Duration = Duration::from_millis(1);
const TARGET_KIB_PER_STREAM: f64 = 64.0;

#[derive(Parser, Debug)]
#[command(
    name = "gateway",
    about = "Measures the gateway's overhead over calling the provider directly"
)]
struct Args {
    /// Concurrent streams of each throughput level, run one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    streams: Vec<u32>,
    /// Measured seconds per throughput level and path.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Concurrent streams of each latency level, run one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    latency_streams: Vec<u32>,
    /// Measured seconds per latency level and path; a paced stream lasts about `chunks` times
    /// `latency-chunk-delay-ms`, so this bounds the TTFT samples of a level.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    latency_seconds: u64,
    /// Pause between the provider's pieces in the latency levels (`x-fake-chunk-delay-ms`);
    /// 10 ms is 100 pieces per second, faster than most models stream.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    latency_chunk_delay_ms: u64,
    /// Unmeasured seconds before each measurement.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup: u64,
    /// Text deltas per stream (the fake provider's `x-fake-chunks`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    chunks: u32,
    /// Pause between the provider's pieces in the throughput levels (`x-fake-chunk-delay-ms`);
    /// 0 sends each stream as fast as it is read.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    chunk_delay_ms: u64,
    /// Streams held open at once for each memory level, one level after the other.
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024",
          value_parser = clap::value_parser!(u32).range(1..=8192))]
    hold: Vec<u32>,
    /// Pause between the provider's pieces while streams are held open
    /// (`x-fake-chunk-delay-ms`); a stream lasts about `chunks` times this.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    hold_chunk_delay_ms: u64,
    /// Callers present an API key, every call takes a key rate limit (requests and tokens
    /// per minute far above the load) from a Redis server the benchmark starts, and its
    /// estimate from a daily budget on the key (far above what the run spends): the whole
    /// admission path, to compare with the same run without it.
    #[arg(long)]
    admission: bool,
    /// Skips the memory levels.
    #[arg(long)]
    skip_memory: bool,
    /// Skips the throughput levels.
    #[arg(long)]
    skip_throughput: bool,
    /// Skips the latency levels.
    #[arg(long)]
    skip_latency: bool,
    /// HTTP/2 connections to the gateway, shared round-robin by the streams.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    channels: u32,
    /// The `colloquy-gateway` executable; by default the one next to this benchmark's.
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// `RUST_LOG` of the gateway process.
    #[arg(long, default_value = "info")]
    gateway_log: String,
    /// The `colloquy-store` executable; by default the one next to this benchmark's.
    #[arg(long)]
    store_bin: Option<PathBuf>,
    /// `RUST_LOG` of the store process.
    #[arg(long, default_value = "info")]
    store_log: String,
    /// The `fake-provider` executable; by default the one next to this benchmark's.
    #[arg(long)]
    provider_bin: Option<PathBuf>,
    /// Runs no store: the gateway keeps every record in its outbox, so that its own cost can be
    /// compared with a proxy that keeps no ledger (not with `--admission`, whose keys and
    /// budgets live in the store).
    #[arg(long, conflicts_with = "admission")]
    no_store: bool,
    /// A short run to compare a change with: throughput levels 16 and 64 for 5 s each (1 s
    /// warm-up), no memory or latency levels; ends with the gateway's CPU per completion as a
    /// multiple of the fake provider's CPU per stream.
    #[arg(long)]
    quick: bool,
    /// Leaves every process on every core (by default the gateway gets core 0 to itself and
    /// the rest share the other cores).
    #[arg(long)]
    no_pin: bool,
    /// Keeps the temporary directory (gateway settings and log, outbox, store database).
    #[arg(long)]
    keep_temp: bool,
    /// Seconds after which an unfinished stream counts as failed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    stream_timeout: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.quick {
        args.streams = vec![16, 64];
        args.chunks = 20;
        args.seconds = 5;
        args.warmup = 1;
        args.skip_memory = true;
        args.skip_latency = true;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    colloquy_benches::logging::init();
    // reqwest is built without a default TLS provider; building a client needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = match &args.gateway_bin {
        Some(path) => path.clone(),
        None => sibling_binary("colloquy-gateway")?,
    };
    let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
    // Removed at the end unless kept; the gateway's settings and log are in it.
    let (dir, _temp) = if args.keep_temp {
        let kept = temp.keep();
        eprintln!("keeping {}", kept.display());
        (kept, None)
    } else {
        (temp.path().to_path_buf(), Some(temp))
    };
    let provider_bin = match &args.provider_bin {
        Some(path) => path.clone(),
        None => sibling_binary("fake-provider")?,
    };
    let fake = ProviderProcess::start(&provider_bin, dir.join("provider.log"))
        .await
        .context("the fake provider did not start")?;
    let store_process = if args.no_store {
        None
    } else {
        let binary = match &args.store_bin {
            Some(path) => path.clone(),
            None => sibling_binary("colloquy-store")?,
        };
        Some(
            store_process::start(&StoreConfig {
                binary,
                dir: dir.clone(),
                database_url: format!("sqlite://{}/store.db?mode=rwc", dir.display()),
                settings: Vec::new(),
                log_filter: args.store_log.clone(),
            })
            .await
            .context("the conversation store did not start")?,
        )
    };
    // Without a store the gateway's records go nowhere: nothing listens at this address.
    let store_addr = store_process
        .as_ref()
        .map_or_else(free_port, |store| Ok(store.addr()))?;
    // Keys are issued before the gateway starts, so its first load of them has the key.
    let redis = args.admission.then(colloquy_test_redis::TestRedis::start);
    let api_key = match &redis {
        Some(_) => Some(issue_key(store_addr).await?),
        None => None,
    };
    let env = BenchEnv {
        api_key,
        fake_base_url: fake.base_url().to_string(),
        provider_key: format!("sk-bench-{}", uuid::Uuid::new_v4().simple()),
        store_addr,
        gateway_metrics: free_port()?,
    };
    let config = GatewayConfig {
        binary,
        dir: dir.clone(),
        store: store_addr,
        provider_base_url: env.fake_base_url.clone(),
        provider_key: env.provider_key.clone(),
        platforms: vec![
            Platform {
                name: FAST.into(),
                headers: pacing_headers(args.chunks, args.chunk_delay_ms)
                    .into_iter()
                    .collect(),
            },
            Platform {
                name: LATENCY.into(),
                headers: pacing_headers(args.chunks, args.latency_chunk_delay_ms)
                    .into_iter()
                    .collect(),
            },
            Platform {
                name: PACED.into(),
                headers: pacing_headers(args.chunks, args.hold_chunk_delay_ms)
                    .into_iter()
                    .collect(),
            },
        ],
        log_filter: args.gateway_log.clone(),
        admission: redis.as_ref().map(|redis| Admission {
            redis_url: redis.url(),
        }),
        metrics: env.gateway_metrics,
        without_store: args.no_store,
    };
    warn_if_older(&config.binary);
    let gateway = gateway::start(&config).await?;
    let processes = Processes {
        gateway: &gateway,
        store: store_process.as_ref().map(ServiceProcess::pid),
        provider: fake.pid(),
    };
    // Read before pinning: this process then sees only the cores it was given.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = if args.no_pin {
        None
    } else {
        processes.pin(cores)?
    };
    describe(&args, &config, &processes, pinned.as_deref(), cores);
    // Interrupting still stops the gateway.
    let outcome = tokio::select! {
        outcome = bench(&args, &env, &gateway, &processes) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let stopped = gateway.stop().await;
    if let Some(store) = store_process {
        store.stop().await.ok();
    }
    fake.stop().await;
    if let (Err(_), Err(error)) = (&outcome, &stopped) {
        eprintln!("error: {error:#}");
    }
    outcome.and(stopped)
}

/// This benchmark is rebuilt whenever the gateway's code changes (it links the gateway's
/// settings), but `cargo run -p colloquy-benches` does not rebuild the gateway's binary; an
/// older binary may be measuring old code.
fn warn_if_older(gateway_binary: &std::path::Path) {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified());
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    if let (Ok(gateway), Ok(bench)) = (modified(gateway_binary), modified(&exe))
        && gateway < bench
    {
        eprintln!(
            "warning: {} is older than this benchmark; if the gateway changed, rebuild it with \
             `cargo build --release -p colloquy-gateway`",
            gateway_binary.display()
        );
    }
}

/// The fake provider's knobs for both paths: `chunks` text deltas, no first-byte delay, and
/// `delay_ms` between pieces.
fn pacing_headers(chunks: u32, delay_ms: u64) -> Vec<(String, String)> {
    vec![
        ("x-fake-chunks".into(), chunks.to_string()),
        ("x-fake-first-byte-delay-ms".into(), "0".into()),
        ("x-fake-chunk-delay-ms".into(), delay_ms.to_string()),
    ]
}

/// One series of levels run on both paths with the same provider pacing.
struct Sweep<'a> {
    name: &'static str,
    levels: &'a [u32],
    seconds: u64,
    chunk_delay_ms: u64,
    /// The gateway platform whose headers ask the provider for this pacing.
    platform: &'static str,
    skip: bool,
    /// Whether the TTFT target is read from this sweep.
    judges_ttft: bool,
}

/// An API key of the benchmark's tenant, for every platform and model, with a budget.
async fn issue_key(store: SocketAddr) -> anyhow::Result<String> {
    let mut client = ConversationStoreClient::new(
        Endpoint::from_shared(format!("http://{store}"))?
            .connect()
            .await
            .context("cannot connect to the store")?,
    );
    let created = client
        .create_api_key(colloquy_proto::store::v1::CreateApiKeyRequest {
            tenant: colloquy_benches::chat::TENANT.into(),
            ..Default::default()
        })
        .await
        .context("cannot issue the benchmark's API key")?
        .into_inner();
    // A budget far above what the run spends: every call takes its estimate from the
    // gateway's lease, and the store settles it, as under a budget that binds.
    let key_id = created.key.map(|key| key.id).unwrap_or_default();
    client
        .set_budget(colloquy_proto::store::v1::SetBudgetRequest {
            scope: colloquy_proto::store::v1::BudgetScope::Key as i32,
            subject: key_id,
            period: colloquy_proto::store::v1::BudgetPeriod::Day as i32,
            limit: Some(colloquy_proto::store::v1::Money {
                amount: "1000000".into(),
                currency: "USD".into(),
            }),
            ..Default::default()
        })
        .await
        .context("cannot set the benchmark key's budget")?;
    Ok(created.secret)
}

/// The processes whose CPU time a level reads.
struct Processes<'a> {
    gateway: &'a ServiceProcess,
    store: Option<u32>,
    provider: u32,
}

impl Processes<'_> {
    fn gateway_log_bytes(&self) -> u64 {
        self.gateway.log_bytes()
    }

    /// The gateway on core 0 alone; the store, the fake provider and this process (the
    /// clients) on the other cores. Answers the layout, or `None` on a single core.
    fn pin(&self, cores: usize) -> anyhow::Result<Option<String>> {
        if cores < 2 {
            return Ok(None);
        }
        let rest = if cores == 2 {
            "1".to_string()
        } else {
            format!("1-{}", cores - 1)
        };
        provider::pin(self.gateway.pid(), "0")?;
        for pid in [Some(self.provider), self.store, Some(std::process::id())]
            .into_iter()
            .flatten()
        {
            provider::pin(pid, &rest)?;
        }
        Ok(Some(format!(
            "gateway on core 0; store, fake provider and clients on core(s) {rest}"
        )))
    }

    /// CPU ticks of each so far.
    fn ticks(&self) -> ProcessTicks {
        ProcessTicks {
            gateway: process::cpu_ticks(self.gateway.pid()),
            store: self.store.and_then(process::cpu_ticks),
            provider: process::cpu_ticks(self.provider),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ProcessTicks {
    gateway: Option<u64>,
    store: Option<u64>,
    provider: Option<u64>,
}

impl ProcessTicks {
    /// Cores each kept busy on average between `earlier` and now, over `seconds`.
    fn since(&self, earlier: &ProcessTicks, seconds: f64) -> ProcessCores {
        let cores = |now, then| process::cores_between(now, then, seconds);
        ProcessCores {
            gateway: cores(self.gateway, earlier.gateway),
            store: cores(self.store, earlier.store),
            provider: cores(self.provider, earlier.provider),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ProcessCores {
    gateway: Option<f64>,
    store: Option<f64>,
    provider: Option<f64>,
}

/// What the clients talk to besides the gateway.
struct BenchEnv {
    /// The key callers present, when the admission path is measured.
    api_key: Option<String>,
    fake_base_url: String,
    provider_key: String,
    store_addr: SocketAddr,
    /// The gateway's Prometheus endpoint.
    gateway_metrics: SocketAddr,
}

/// `cores` are the machine's, read before pinning.
fn describe(
    args: &Args,
    config: &GatewayConfig,
    processes: &Processes<'_>,
    pinned: Option<&str>,
    cores: usize,
) {
    let store = match processes.store {
        Some(pid) => format!("SQLite store pid {pid} (RUST_LOG={})", args.store_log),
        None => "no store (records stay in the outbox)".into(),
    };
    eprintln!(
        "gateway bench: {} (pid {}, RUST_LOG={}); {store}; fake provider pid {}; clients pid \
         {}; {}; {cores} cores; {} chunks per stream; {} channel(s); {} s warm-up per \
         level; throughput levels paced at {} ms, {} s each; latency levels paced at {} ms, {} s \
         each; held streams paced at {} ms",
        config.binary.display(),
        processes.gateway.pid(),
        args.gateway_log,
        processes.provider,
        std::process::id(),
        pinned.unwrap_or("not pinned"),
        args.chunks,
        args.channels,
        args.warmup,
        args.chunk_delay_ms,
        args.seconds,
        args.latency_chunk_delay_ms,
        args.latency_seconds,
        args.hold_chunk_delay_ms,
    );
}

async fn bench(
    args: &Args,
    env: &BenchEnv,
    gateway: &ServiceProcess,
    processes: &Processes<'_>,
) -> anyhow::Result<()> {
    let channels = level::connect(gateway.addr(), args.channels, "gateway").await?;
    let store = if args.no_store {
        None
    } else {
        Some(ConversationStoreClient::new(
            Endpoint::from_shared(format!("http://{}", env.store_addr))?
                .connect()
                .await
                .context("cannot connect to the store")?,
        ))
    };
    let mut records = StoredRecords {
        store,
        since: SystemTime::now(),
        expected: 0,
    };
    let expected_text: Arc<str> =
        colloquy_fake_provider::expected_text(args.chunks as usize).into();
    let gateway_targets = |platform: &str| -> anyhow::Result<Vec<GatewayTarget>> {
        channels
            .iter()
            .map(|channel| {
                let target = GatewayTarget::new(
                    channel.clone(),
                    platform,
                    Arc::clone(&expected_text),
                    u64::from(args.chunks),
                );
                match &env.api_key {
                    Some(key) => target.with_api_key(key),
                    None => Ok(target),
                }
            })
            .collect::<anyhow::Result<Vec<_>>>()
    };

    // Memory first, on a fresh process: memory the allocator kept from earlier load would
    // hide what open streams take.
    let fast = gateway_targets(FAST)?;
    let mut memory = MemoryResults::default();
    if !args.skip_memory {
        let timeout = Duration::from_secs(args.stream_timeout);
        for target in fast.iter().cycle().take(WARMUP_STREAMS) {
            tokio::time::timeout(timeout, target.stream())
                .await
                .map_err(|_| anyhow!("a warm-up stream did not end within {timeout:?}"))?
                .map_err(|e| anyhow!("warm-up stream failed: {e}"))?;
        }
        records.completed(WARMUP_STREAMS as u64).await?;
        let idle = process::rss_bytes(gateway.pid()).context("cannot read the gateway's RSS")?;
        memory.idle = idle;
        print_memory_header(idle);
        let paced = gateway_targets(PACED)?;
        for &count in &args.hold {
            let level = hold_level(args, &paced, count, gateway).await?;
            print_memory_row(&level, idle);
            report_hold(&level);
            no_failures(&level.failures)?;
            records.completed(level.completed).await?;
            memory.levels.push(level);
        }
        println!();
    }

    let sweeps = [
        Sweep {
            name: "throughput",
            levels: &args.streams,
            seconds: args.seconds,
            chunk_delay_ms: args.chunk_delay_ms,
            platform: FAST,
            skip: args.skip_throughput,
            judges_ttft: false,
        },
        Sweep {
            name: "latency",
            levels: &args.latency_streams,
            seconds: args.latency_seconds,
            chunk_delay_ms: args.latency_chunk_delay_ms,
            platform: LATENCY,
            skip: args.skip_latency,
            judges_ttft: true,
        },
    ];
    let mut judged_rows = Vec::new();
    let mut throughput_rows = Vec::new();
    for sweep in sweeps.iter().filter(|sweep| !sweep.skip) {
        let direct = DirectTarget::new(
            &env.fake_base_url,
            &env.provider_key,
            pacing_headers(args.chunks, sweep.chunk_delay_ms),
            Arc::clone(&expected_text),
        )?;
        let through = gateway_targets(sweep.platform)?;
        let rows = run_sweep(args, sweep, &direct, &through, processes, &mut records).await?;
        if sweep.judges_ttft {
            judged_rows = rows;
        } else {
            throughput_rows = rows;
        }
    }
    print_targets(&judged_rows, &memory);
    print_provider_ratio(&throughput_rows);
    print_admission_checks(env.gateway_metrics).await;
    if records.store.is_some() {
        eprintln!(
            "verified: the store holds one record for each of the {} gateway streams",
            records.expected
        );
    }
    Ok(())
}

/// Runs every level of `sweep` on both paths and prints its tables; after each level the
/// store must hold one record for each gateway stream completed.
async fn run_sweep(
    args: &Args,
    sweep: &Sweep<'_>,
    direct: &DirectTarget,
    through: &[GatewayTarget],
    processes: &Processes<'_>,
    records: &mut StoredRecords,
) -> anyhow::Result<Vec<(u32, Level, Level)>> {
    println!(
        "{} sweep: {} chunks per stream, provider pause {} ms, {} s per level and path",
        sweep.name, args.chunks, sweep.chunk_delay_ms, sweep.seconds
    );
    println!();
    print_throughput_header();
    let mut rows = Vec::new();
    for &streams in sweep.levels {
        let run = |path| run_level(args, sweep.seconds, streams, path, processes);
        let direct = run(Path::Direct(direct.clone())).await?;
        print_throughput_row(streams, "direct", &direct);
        report_level(streams, "direct", &direct);
        no_failures(&direct.failures)?;
        let through = run(Path::Gateway(through.to_vec())).await?;
        print_throughput_row(streams, "gateway", &through);
        report_level(streams, "gateway", &through);
        no_failures(&through.failures)?;
        records.completed(through.completed).await?;
        rows.push((streams, direct, through));
    }
    println!();
    print_overhead(&rows);
    print_split(&rows);
    Ok(rows)
}

/// A failed stream ends the run: the level's figures would mix in the failure, and the
/// store's record count could no longer be checked against completed streams.
fn no_failures(failures: &Failures) -> anyhow::Result<()> {
    if failures.count > 0 {
        bail!(
            "{} stream(s) failed; see the messages above",
            failures.count
        );
    }
    Ok(())
}

/// The gateway streams completed so far in this run; the store must end up holding exactly
/// one record for each.
struct StoredRecords {
    /// `None` without a store: nothing is checked.
    store: Option<ConversationStoreClient<Channel>>,
    /// When the run started: turns are counted from here.
    since: SystemTime,
    expected: u64,
}

impl StoredRecords {
    /// Counts `streams` more completed streams and waits until the store holds exactly one
    /// record for each stream so far: the gateway's outbox has delivered every one, and
    /// nothing more. Keeps one level's deliveries out of the next.
    async fn completed(&mut self, streams: u64) -> anyhow::Result<()> {
        self.expected += streams;
        match &mut self.store {
            Some(store) => settle(store, self.since, self.expected).await,
            None => Ok(()),
        }
    }
}

async fn settle(
    store: &mut ConversationStoreClient<Channel>,
    since: SystemTime,
    expected: u64,
) -> anyhow::Result<()> {
    let give_up = Instant::now() + SETTLE_TIMEOUT;
    let mut stored = 0;
    while Instant::now() < give_up {
        stored = stored_turns(store, since).await?;
        if stored > expected {
            bail!("the store holds {stored} turns for {expected} completed gateway streams");
        }
        if stored == expected {
            return Ok(());
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
    bail!(
        "the store holds {stored} of {expected} records {SETTLE_TIMEOUT:?} after the streams \
         completed"
    )
}

async fn stored_turns(
    store: &mut ConversationStoreClient<Channel>,
    since: SystemTime,
) -> anyhow::Result<u64> {
    // Padded on both sides so that clock steps during the run cannot hide a turn.
    let hour = Duration::from_secs(3600);
    let start = since.checked_sub(hour).unwrap_or(SystemTime::UNIX_EPOCH);
    let summary = store
        .summarize_costs(store::SummarizeCostsRequest {
            start_time: Some(start.into()),
            end_time: Some((SystemTime::now() + hour).into()),
            ..Default::default()
        })
        .await
        .context("SummarizeCosts failed")?
        .into_inner();
    Ok(summary.groups.iter().map(|group| group.turns).sum())
}

// === throughput and time to first token ===

/// Where a level's streams go.
#[derive(Clone)]
enum Path {
    Direct(DirectTarget),
    /// One target per HTTP/2 connection.
    Gateway(Vec<GatewayTarget>),
}

/// One stream source of a closed-loop worker.
#[derive(Clone)]
enum Target {
    Direct(DirectTarget),
    Gateway(GatewayTarget),
}

impl Target {
    async fn stream(&self) -> Result<Timing, StreamError> {
        match self {
            Self::Direct(target) => target.stream().await,
            Self::Gateway(target) => target.stream().await,
        }
    }
}

#[derive(Default)]
struct Failures {
    count: u64,
    messages: Vec<String>,
}

impl Failures {
    fn add(&mut self, message: String) {
        self.count += 1;
        if self.messages.len() < SHOWN_FAILURES {
            self.messages.push(message);
        }
    }

    fn merge(&mut self, other: Failures) {
        self.count += other.count;
        let room = SHOWN_FAILURES.saturating_sub(self.messages.len());
        self.messages.extend(other.messages.into_iter().take(room));
    }
}

#[derive(Default)]
struct WorkerOutcome {
    first_tokens: Vec<Duration>,
    /// Through the gateway: its own TTFT, and the client's TTFT minus it (request transit
    /// to the gateway plus the first delta's way back), per stream.
    inside: Vec<Duration>,
    outside: Vec<Duration>,
    completed: u64,
    completed_in_window: u64,
    failures: Failures,
}

struct Level {
    streams_per_second: f64,
    ttft: Option<LatencySummary>,
    inside: Option<LatencySummary>,
    outside: Option<LatencySummary>,
    samples: usize,
    /// Every stream of the level that ended well, warm-up included.
    completed: u64,
    completed_in_window: u64,
    failures: Failures,
    measured: Duration,
    cpu: CpuUse,
    /// Cores the gateway, the store and the fake provider each kept busy over the window.
    cores: ProcessCores,
    gateway_log_bytes: u64,
}

impl Level {
    /// Gateway CPU time per stream completed in the window.
    fn gateway_cpu_per_stream(&self) -> Option<Duration> {
        self.per_stream(self.cores.gateway?)
    }

    /// Store CPU time per stream completed in the window (each stream is one record).
    fn store_cpu_per_record(&self) -> Option<Duration> {
        self.per_stream(self.cores.store?)
    }

    /// Fake provider CPU time per stream completed in the window.
    fn provider_cpu_per_stream(&self) -> Option<Duration> {
        self.per_stream(self.cores.provider?)
    }

    /// The gateway's CPU per completion in units of what producing the stream cost the fake
    /// provider: a figure that moves less with the machine's speed than either alone.
    fn gateway_to_provider(&self) -> Option<f64> {
        let provider = self.cores.provider.filter(|cores| *cores > 0.0)?;
        Some(self.cores.gateway? / provider)
    }

    /// CPU time of `cores` busy over the window, per stream completed in it.
    fn per_stream(&self, cores: f64) -> Option<Duration> {
        if self.completed_in_window == 0 {
            return None;
        }
        Some(
            self.measured
                .mul_f64(cores / self.completed_in_window as f64),
        )
    }

    /// Cores kept busy by processes other than the gateway, the store, the fake provider and
    /// this one: builds, tests or other benchmarks that make the figures incomparable.
    fn foreign_cores(&self) -> Option<f64> {
        let machine = self.cpu.machine?;
        Some(
            machine
                - self.cpu.own?
                - self.cores.gateway.unwrap_or(0.0)
                - self.cores.store.unwrap_or(0.0)
                - self.cores.provider.unwrap_or(0.0),
        )
    }
}

/// Runs `streams` closed-loop workers through warm-up and measurement: each starts its next
/// stream as soon as the previous one ended, so exactly `streams` are in flight.
async fn run_level(
    args: &Args,
    seconds: u64,
    streams: u32,
    path: Path,
    processes: &Processes<'_>,
) -> anyhow::Result<Level> {
    let measured = Duration::from_secs(seconds);
    let window = Window::after(Duration::from_secs(args.warmup), measured);
    let timeout = Duration::from_secs(args.stream_timeout);
    // Workers start spread over the first half of the warm-up: paced streams all last about
    // as long, so workers started together would keep starting their streams in bursts.
    let stagger = Duration::from_secs(args.warmup) / 2 / streams;
    let tasks: Vec<JoinHandle<WorkerOutcome>> = (0..streams)
        .map(|worker| {
            let target = match &path {
                Path::Direct(target) => Target::Direct(target.clone()),
                Path::Gateway(targets) => {
                    Target::Gateway(targets[worker as usize % targets.len()].clone())
                }
            };
            let first = Instant::now() + stagger * worker;
            tokio::spawn(worker_loop(target, first, window, timeout))
        })
        .collect();
    tokio::time::sleep_until(window.start).await;
    let cpu_start = cpu::sample();
    let ticks_start = processes.ticks();
    let log_start = processes.gateway_log_bytes();
    tokio::time::sleep_until(window.end).await;
    let cpu_used = cpu::sample().since(&cpu_start);
    let ticks_end = processes.ticks();
    let log_end = processes.gateway_log_bytes();

    let mut outcome = WorkerOutcome::default();
    for task in tasks {
        let worker = task.await.context("a stream worker panicked")?;
        outcome.first_tokens.extend(worker.first_tokens);
        outcome.inside.extend(worker.inside);
        outcome.outside.extend(worker.outside);
        outcome.completed += worker.completed;
        outcome.completed_in_window += worker.completed_in_window;
        outcome.failures.merge(worker.failures);
    }
    Ok(Level {
        streams_per_second: outcome.completed_in_window as f64 / measured.as_secs_f64(),
        samples: outcome.first_tokens.len(),
        ttft: latency::summarize(outcome.first_tokens),
        inside: latency::summarize(outcome.inside),
        outside: latency::summarize(outcome.outside),
        completed: outcome.completed,
        completed_in_window: outcome.completed_in_window,
        failures: outcome.failures,
        measured,
        cpu: cpu_used,
        cores: ticks_end.since(&ticks_start, measured.as_secs_f64()),
        gateway_log_bytes: log_end.saturating_sub(log_start),
    })
}

/// One closed-loop worker: streams until the window ends. It stops at its first failure,
/// which fails the run anyway, rather than spin on an error until the window ends.
async fn worker_loop(
    target: Target,
    first: Instant,
    window: Window,
    timeout: Duration,
) -> WorkerOutcome {
    let mut outcome = WorkerOutcome::default();
    tokio::time::sleep_until(first).await;
    while Instant::now() < window.end {
        match tokio::time::timeout(timeout, target.stream()).await {
            Ok(Ok(timing)) => {
                outcome.completed += 1;
                if window.samples(timing.started) {
                    let ttft = timing.time_to_first_token();
                    outcome.first_tokens.push(ttft);
                    if let Some(inside) = timing.gateway_first_token {
                        outcome.inside.push(inside);
                        outcome.outside.push(ttft.saturating_sub(inside));
                    }
                }
                if window.counts(timing.finished) {
                    outcome.completed_in_window += 1;
                }
            }
            Ok(Err(message)) => {
                outcome.failures.add(message);
                break;
            }
            Err(_) => {
                outcome
                    .failures
                    .add(format!("no end of stream within {timeout:?}"));
                break;
            }
        }
    }
    outcome
}

fn print_throughput_header() {
    println!(
        "| streams | path | streams/s | TTFT p50 ms | TTFT p99 ms | TTFT max ms | \
         gateway CPU ms/stream | store CPU ms/record | provider CPU ms/stream | gateway cores | \
         clients cores | machine cores |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn print_throughput_row(streams: u32, path: &str, level: &Level) {
    let (p50, p99, max) = match level.ttft {
        Some(l) => (ms(l.p50), ms(l.p99), ms(l.max)),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let through = path == "gateway";
    let only_through = |figure: Option<Duration>| match (through, figure) {
        (true, Some(figure)) => ms(figure),
        _ => "-".into(),
    };
    println!(
        "| {streams} | {path} | {:.0} | {p50} | {p99} | {max} | {} | {} | {} | {} | {} | {} |",
        level.streams_per_second,
        only_through(level.gateway_cpu_per_stream()),
        only_through(level.store_cpu_per_record()),
        level.provider_cpu_per_stream().map_or("-".into(), ms),
        cores(level.cores.gateway),
        cores(level.cpu.own),
        cores(level.cpu.machine),
    );
}

/// Details that do not belong in the table: counts, failures, the bench process's CPU per
/// stream, the gateway's log volume, and load from other processes.
fn report_level(streams: u32, path: &str, level: &Level) {
    let log_per_stream = if level.completed_in_window > 0 {
        level.gateway_log_bytes as f64 / level.completed_in_window as f64
    } else {
        0.0
    };
    let bench_cpu = level
        .cpu
        .own
        .and_then(|own| level.per_stream(own))
        .map_or("n/a".into(), ms);
    eprintln!(
        "  streams={streams} {path}: {} TTFT samples, {} completed in the window, {} in all, \
         {} failed; bench process CPU {bench_cpu} ms per stream; gateway logged {:.0} bytes \
         per stream; iowait {} cores",
        level.samples,
        level.completed_in_window,
        level.completed,
        level.failures.count,
        log_per_stream,
        cores(level.cpu.iowait),
    );
    if let Some(foreign) = level.foreign_cores()
        && foreign > FOREIGN_CORES_WARNING
    {
        eprintln!(
            "  warning: other processes kept {foreign:.2} cores busy; these figures are not \
             comparable"
        );
    }
    for message in &level.failures.messages {
        eprintln!("    failed: {message}");
    }
}

fn print_overhead(rows: &[(u32, Level, Level)]) {
    println!(
        "| streams | added TTFT p50 ms | added TTFT p99 ms | TTFT samples direct / gateway | \
         streams/s gateway ÷ direct | gateway CPU ms/stream | gateway ÷ provider CPU |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (streams, direct, through) in rows {
        let added = |pick: fn(&LatencySummary) -> Duration| match (direct.ttft, through.ttft) {
            (Some(d), Some(g)) => signed_ms(pick(&g), pick(&d)),
            _ => "-".into(),
        };
        let ratio = if direct.streams_per_second > 0.0 {
            format!(
                "{:.2}",
                through.streams_per_second / direct.streams_per_second
            )
        } else {
            "-".into()
        };
        println!(
            "| {streams} | {} | {} | {} / {} | {ratio} | {} | {} |",
            added(|l| l.p50),
            added(|l| l.p99),
            direct.samples,
            through.samples,
            through.gateway_cpu_per_stream().map_or("-".into(), ms),
            through
                .gateway_to_provider()
                .map_or("-".into(), |ratio| format!("{ratio:.2}")),
        );
    }
    println!();
}

/// Splits the TTFT seen through the gateway into the gateway's own (request received to the
/// provider's first delta read, from its `Terminal` timing) and the rest (the request's way
/// to the gateway and the first delta's way back), beside the direct TTFT.
fn print_split(rows: &[(u32, Level, Level)]) {
    println!(
        "| streams | direct TTFT p50 / p99 ms | gateway's own TTFT p50 / p99 ms | \
         rest of the way p50 / p99 ms |"
    );
    println!("|---:|---:|---:|---:|");
    let pair = |summary: Option<LatencySummary>| {
        summary.map_or("-".into(), |l| format!("{} / {}", ms(l.p50), ms(l.p99)))
    };
    for (streams, direct, through) in rows {
        println!(
            "| {streams} | {} | {} | {} |",
            pair(direct.ttft),
            pair(through.inside),
            pair(through.outside),
        );
    }
    println!();
}

// === memory per open stream ===

#[derive(Default)]
struct MemoryResults {
    idle: u64,
    levels: Vec<HoldLevel>,
}

struct HoldLevel {
    streams: u32,
    /// Largest RSS read while every stream was open.
    open_rss: u64,
    /// RSS once they all ended: what the allocator kept.
    after_rss: Option<u64>,
    ramp: Duration,
    completed: u64,
    failures: Failures,
}

impl HoldLevel {
    fn kib_per_stream(&self, idle: u64) -> f64 {
        self.open_rss.saturating_sub(idle) as f64 / 1024.0 / f64::from(self.streams)
    }
}

/// Opens `count` paced streams through the gateway at once, reads the gateway's RSS while all
/// of them are open (each has delivered text and none has ended), then reads them to the end.
async fn hold_level(
    args: &Args,
    targets: &[GatewayTarget],
    count: u32,
    gateway: &ServiceProcess,
) -> anyhow::Result<HoldLevel> {
    let flowing = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let timeout = Duration::from_secs(args.stream_timeout);
    let began = Instant::now();
    let tasks: Vec<JoinHandle<Result<Timing, StreamError>>> = (0..count as usize)
        .map(|i| {
            let target = targets[i % targets.len()].clone();
            let flowing = Arc::clone(&flowing);
            let ended = Arc::clone(&ended);
            tokio::spawn(async move {
                let streamed = target.stream_with(|_| {
                    flowing.fetch_add(1, Ordering::SeqCst);
                });
                let outcome = match tokio::time::timeout(timeout, streamed).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no end of stream within {timeout:?}")),
                };
                ended.fetch_add(1, Ordering::SeqCst);
                outcome
            })
        })
        .collect();

    // Bounded by the stream timeout: by then every stream has flowed or ended.
    let give_up = began + timeout;
    let all_open = loop {
        if ended.load(Ordering::SeqCst) > 0 {
            break false;
        }
        if flowing.load(Ordering::SeqCst) == count as usize {
            break true;
        }
        if Instant::now() >= give_up {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let ramp = began.elapsed();
    let mut open_rss = None;
    if all_open {
        for _ in 0..RSS_READINGS {
            let reading = process::rss_bytes(gateway.pid());
            // A reading only counts while no stream has ended.
            if ended.load(Ordering::SeqCst) > 0 {
                break;
            }
            open_rss = open_rss.max(reading);
            tokio::time::sleep(RSS_INTERVAL).await;
        }
    }
    let open_at_most = flowing.load(Ordering::SeqCst);

    let mut completed = 0;
    let mut failures = Failures::default();
    for task in tasks {
        match task.await.context("a held stream panicked")? {
            Ok(_) => completed += 1,
            Err(message) => failures.add(message),
        }
    }
    let Some(open_rss) = open_rss else {
        for message in &failures.messages {
            eprintln!("    failed: {message}");
        }
        bail!(
            "{count} streams were never open at once ({open_at_most} flowed before one ended, \
             {:?} after the start); raise --hold-chunk-delay-ms or lower --hold",
            ramp
        );
    };
    Ok(HoldLevel {
        streams: count,
        open_rss,
        after_rss: process::rss_bytes(gateway.pid()),
        ramp,
        completed,
        failures,
    })
}

fn print_memory_header(idle: u64) {
    println!("Gateway idle RSS: {:.1} MiB", mib(idle));
    println!();
    println!("| open streams | RSS with streams open MiB | added MiB | KiB per open stream |");
    println!("|---:|---:|---:|---:|");
}

fn print_memory_row(level: &HoldLevel, idle: u64) {
    println!(
        "| {} | {:.1} | {:.1} | {:.1} |",
        level.streams,
        mib(level.open_rss),
        mib(level.open_rss.saturating_sub(idle)),
        level.kib_per_stream(idle),
    );
}

fn report_hold(level: &HoldLevel) {
    eprintln!(
        "  hold={}: all open {:.0} ms after the first was started; {} completed, {} failed; \
         RSS after they ended {}",
        level.streams,
        millis(level.ramp),
        level.completed,
        level.failures.count,
        level
            .after_rss
            .map_or("n/a".into(), |rss| format!("{:.1} MiB", mib(rss))),
    );
    for message in &level.failures.messages {
        eprintln!("    failed: {message}");
    }
}

// === targets ===

/// Says whether the issue's targets are met by this run's figures; a benchmark reports them,
/// it does not fail on them. TTFT is judged on the latency sweep: in the throughput sweep it
/// is mostly the wait for a core on a saturated machine.
/// The time calls spent in the gateway's rate-limit and budget checks over the whole run, as
/// the gateway measured it (bucket bounds of its histogram).
async fn print_admission_checks(metrics: SocketAddr) {
    const NAME: &str = "colloquy_gateway_admission_checks_seconds";
    let text = match histogram::scrape(metrics).await {
        Ok(text) => text,
        Err(error) => {
            eprintln!("admission checks not read: {error:#}");
            return;
        }
    };
    let buckets = histogram::buckets(&text, NAME);
    let bound = |q| {
        histogram::quantile_bound(&buckets, q).map(|(bound, total)| (millis_text(bound), total))
    };
    if let (Some((p50, total)), Some((p99, _))) = (bound(0.5), bound(0.99)) {
        println!(
            "admission checks (rate limits and budgets) of {total} calls, as the gateway timed \
             them: p50 ≤ {p50} ms, p99 ≤ {p99} ms"
        );
    }
}

fn millis_text(seconds: f64) -> String {
    if seconds.is_finite() {
        format!("{:.3}", seconds * 1000.0)
    } else {
        "∞".into()
    }
}

/// One line to compare runs on machines or days of different speed: the gateway's CPU per
/// completion as a multiple of the fake provider's CPU per stream, per throughput level.
fn print_provider_ratio(rows: &[(u32, Level, Level)]) {
    let ratios: Vec<String> = rows
        .iter()
        .filter_map(|(streams, _, through)| {
            let ratio = through.gateway_to_provider()?;
            let cpu = ms(through.gateway_cpu_per_stream()?);
            Some(format!("{ratio:.2} at {streams} streams ({cpu} ms)"))
        })
        .collect();
    if !ratios.is_empty() {
        println!(
            "gateway CPU per completion ÷ fake provider CPU per stream: {}",
            ratios.join(", ")
        );
    }
}

fn print_targets(latency: &[(u32, Level, Level)], memory: &MemoryResults) {
    let mut lines = Vec::new();
    let ttft_target = format!(
        "- added TTFT p99 at {TARGET_STREAMS} streams under {} ms",
        millis(TARGET_ADDED_TTFT_P99)
    );
    match latency.iter().find(|(s, ..)| *s == TARGET_STREAMS) {
        Some((_, direct, through)) => {
            if let (Some(d), Some(g)) = (direct.ttft, through.ttft) {
                let added = g.p99.saturating_sub(d.p99);
                lines.push(format!(
                    "{ttft_target}: {} ({} ms)",
                    verdict(added < TARGET_ADDED_TTFT_P99),
                    signed_ms(g.p99, d.p99),
                ));
            }
        }
        None => lines.push(format!(
            "{ttft_target}: not measured (no {TARGET_STREAMS}-stream level in the latency sweep)"
        )),
    }
    for level in &memory.levels {
        let kib = level.kib_per_stream(memory.idle);
        lines.push(format!(
            "- memory per open stream at {} streams under {TARGET_KIB_PER_STREAM} KiB: {} \
             ({kib:.1} KiB)",
            level.streams,
            verdict(kib < TARGET_KIB_PER_STREAM),
        ));
    }
    if !lines.is_empty() {
        println!("Targets:");
        println!();
        for line in lines {
            println!("{line}");
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

// === formatting ===

fn ms(duration: Duration) -> String {
    format!("{:.3}", millis(duration))
}

/// `a - b` in milliseconds with its sign.
fn signed_ms(a: Duration, b: Duration) -> String {
    let difference = millis(a) - millis(b);
    format!("{difference:+.3}")
}

fn cores(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{v:.2}"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn added_time_keeps_its_sign() {
        let ms = Duration::from_micros;
        assert_eq!(signed_ms(ms(1500), ms(250)), "+1.250");
        assert_eq!(signed_ms(ms(250), ms(1500)), "-1.250");
    }

    #[test]
    fn memory_per_stream_is_the_growth_over_idle_divided_by_the_streams() {
        let level = HoldLevel {
            streams: 64,
            open_rss: 10 * 1024 * 1024 + 64 * 32 * 1024,
            after_rss: None,
            ramp: Duration::ZERO,
            completed: 64,
            failures: Failures::default(),
        };
        assert_eq!(level.kib_per_stream(10 * 1024 * 1024), 32.0);
        // RSS below idle (pages returned meanwhile) reads as nothing added, not a negative.
        assert_eq!(level.kib_per_stream(u64::MAX), 0.0);
    }

    #[test]
    fn failure_messages_are_capped_but_all_failures_counted() {
        let mut failures = Failures::default();
        for i in 0..SHOWN_FAILURES + 3 {
            failures.add(format!("f{i}"));
        }
        let mut more = Failures::default();
        more.add("g".into());
        failures.merge(more);
        assert_eq!(failures.count, SHOWN_FAILURES as u64 + 4);
        assert_eq!(failures.messages.len(), SHOWN_FAILURES);
    }

    #[test]
    fn gateway_cpu_per_stream_divides_cpu_time_by_completed_streams() {
        let level = Level {
            streams_per_second: 100.0,
            ttft: None,
            inside: None,
            outside: None,
            samples: 0,
            completed: 1000,
            completed_in_window: 1000,
            failures: Failures::default(),
            measured: Duration::from_secs(10),
            cpu: CpuUse::default(),
            cores: ProcessCores {
                gateway: Some(0.5),
                store: Some(0.2),
                provider: Some(0.25),
            },
            gateway_log_bytes: 0,
        };
        // 0.5 cores for 10 s over 1000 streams: 5 ms each.
        assert_eq!(
            level.gateway_cpu_per_stream(),
            Some(Duration::from_millis(5))
        );
        assert_eq!(level.store_cpu_per_record(), Some(Duration::from_millis(2)));
        assert_eq!(level.gateway_to_provider(), Some(2.0));
    }

    #[test]
    fn pacing_asks_for_no_first_byte_delay() {
        let headers: BTreeMap<_, _> = pacing_headers(100, 0).into_iter().collect();
        assert_eq!(headers["x-fake-chunks"], "100");
        assert_eq!(headers["x-fake-first-byte-delay-ms"], "0");
        assert_eq!(headers["x-fake-chunk-delay-ms"], "0");
    }
}
