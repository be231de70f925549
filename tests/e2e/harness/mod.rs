//! One test's world: the fake provider in process, the conversation store and the gateway as
//! child processes on their own ports, a database and a temporary directory for the gateway's
//! settings, API key, outbox and the services' logs. Everything is torn down when the test
//! ends; after a failure the directory and the database are kept and the logs printed.

pub mod clients;
pub mod keyed;
pub mod ports;
pub mod processes;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use colloquy_fake_provider::{FakeProvider, FakeProviderConfig};

pub use clients::{Collected, Gateway, Store, chat, status_of, usage_of, user};
pub use colloquy_test_databases::{Backend, TestDatabase};
pub use keyed::{key_costs, keyed_env, now_seconds, until_answered};
pub use processes::{ServiceProcess, log_field};
pub use tonic_health::pb::health_check_response::ServingStatus;

/// Platform names of the gateway's configuration, one per provider API.
pub const OPENAI: &str = "openai";
pub const RESPONSES: &str = "openai-responses";
pub const ANTHROPIC: &str = "anthropic";
pub const OPENROUTER: &str = "openrouter";

/// Every configured platform: name, kind, path under the fake's base URL, default model.
pub const PLATFORMS: [(&str, &str, &str, &str); 4] = [
    (OPENAI, "openai_chat", "/v1", "gpt-4o-mini"),
    (RESPONSES, "openai_responses", "/v1", "gpt-4.1"),
    (ANTHROPIC, "anthropic", "/v1", "claude-sonnet-4-5"),
    (
        OPENROUTER,
        "openrouter",
        "/api/v1",
        "anthropic/claude-sonnet-4.5",
    ),
];

const GATEWAY_SERVICE: &str = "colloquy.gateway.v1.ChatGateway";
const STORE_SERVICE: &str = "colloquy.store.v1.ConversationStore";

/// Runs an async scenario taking a [`Backend`] once on SQLite and once on Postgres, as the
/// tests `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $scenario:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $scenario($crate::harness::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $scenario($crate::harness::Backend::Postgres).await;
            }
        }
    };
}

/// What a test changes in the gateway's settings.
#[derive(Debug, Default, Clone)]
pub struct GatewayConfig {
    /// Headers the gateway sends with every request to a platform: the fake's `x-fake-*`
    /// scenario knobs.
    headers: BTreeMap<String, BTreeMap<String, String>>,
    /// Where the outbox lives, when not in the test's directory (a small tmpfs, say).
    outbox_dir: Option<PathBuf>,
    /// TOML tables appended to the settings (`[rate_limits]`, say).
    extra_toml: String,
}

impl GatewayConfig {
    /// Sends `name: value` with every request to `platform`.
    pub fn header(&mut self, platform: &str, name: &str, value: &str) -> &mut Self {
        self.headers
            .entry(platform.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
        self
    }

    /// Puts the outbox file in `dir`.
    pub fn outbox_in(&mut self, dir: &Path) -> &mut Self {
        self.outbox_dir = Some(dir.to_path_buf());
        self
    }

    /// Appends `toml` (whole tables) to the gateway's settings.
    pub fn append_toml(&mut self, toml: &str) -> &mut Self {
        self.extra_toml.push_str(toml);
        self.extra_toml.push('\n');
        self
    }

    /// Sends `name: value` with every request to every platform.
    pub fn header_everywhere(&mut self, name: &str, value: &str) -> &mut Self {
        for (platform, ..) in PLATFORMS {
            self.header(platform, name, value);
        }
        self
    }

    /// The gateway's TOML settings. Paths and URLs are written as JSON strings, which TOML
    /// reads as the same basic strings.
    fn toml(&self, paths: &GatewayPaths<'_>) -> String {
        let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut toml = String::new();
        let _ = writeln!(toml, "listen = {}", quoted(&paths.listen));
        let _ = writeln!(toml, "store_url = {}", quoted(paths.store_url));
        // JSON lines, so the tests can read the outbox's depth from the log.
        let _ = writeln!(toml, "log_format = \"json\"");
        let _ = writeln!(toml, "shutdown_grace_ms = 5000");
        let _ = writeln!(toml, "\n[outbox]");
        let _ = writeln!(
            toml,
            "path = {}",
            quoted(&paths.outbox.display().to_string())
        );
        // Short pauses while the store is down, so a restarted store gets its records soon.
        let _ = writeln!(toml, "max_backoff_ms = 200");
        let _ = writeln!(toml, "flush_timeout_ms = 2000");
        for (name, kind, base, model) in PLATFORMS {
            let _ = writeln!(toml, "\n[platforms.{}]", quoted(name));
            let _ = writeln!(toml, "kind = {}", quoted(kind));
            let _ = writeln!(
                toml,
                "base_url = {}",
                quoted(&format!("{}{base}", paths.fake))
            );
            let key_file = paths.key_file.display().to_string();
            let _ = writeln!(toml, "api_key_file = {}", quoted(&key_file));
            let _ = writeln!(toml, "default_model = {}", quoted(model));
            if let Some(headers) = self.headers.get(name) {
                let _ = writeln!(toml, "\n[platforms.{}.extra_headers]", quoted(name));
                for (header, value) in headers {
                    let _ = writeln!(toml, "{} = {}", quoted(header), quoted(value));
                }
            }
        }
        toml.push('\n');
        toml.push_str(&self.extra_toml);
        toml
    }
}

/// How a gateway is started: the first, and replicas like it ([`Env::start_replica`]).
struct ReplicaPlan {
    config: GatewayConfig,
    env: Vec<(String, String)>,
    key_file: PathBuf,
}

impl ReplicaPlan {
    /// A gateway on a free port with its settings written to `gateway{suffix}.toml` in `dir`
    /// and its log beside them; not started, and without the environment.
    fn gateway(
        &self,
        dir: &Path,
        suffix: &str,
        store_url: &str,
        fake: &str,
        outbox: &Path,
    ) -> ServiceProcess {
        let addr = ports::free_local_addr();
        let toml = self.config.toml(&GatewayPaths {
            listen: addr.to_string(),
            store_url,
            fake,
            outbox,
            key_file: &self.key_file,
        });
        let config_file = dir.join(format!("gateway{suffix}.toml"));
        std::fs::write(&config_file, toml).expect("writing the gateway settings");
        ServiceProcess::new(
            "colloquy-gateway",
            processes::binary("colloquy-gateway"),
            addr,
            GATEWAY_SERVICE,
            dir.join(format!("gateway{suffix}.log")),
        )
        .arg("--config")
        .arg(config_file.display().to_string())
    }
}

/// A store on a free port over `database_url`, its log `store{suffix}.log` in `dir`; not
/// started, and without the test's environment.
fn store_process(dir: &Path, suffix: &str, database_url: &str) -> ServiceProcess {
    let addr = ports::free_local_addr();
    ServiceProcess::new(
        "colloquy-store",
        processes::binary("colloquy-store"),
        addr,
        STORE_SERVICE,
        dir.join(format!("store{suffix}.log")),
    )
    .env("COLLOQUY_STORE__DATABASE__URL", database_url)
    .env("COLLOQUY_STORE__LISTEN", addr.to_string())
}

/// Writes `token` to the file `name` in `dir` and returns its path, for a `*_TOKEN_FILE`
/// setting.
pub fn token_file(dir: &Path, name: &str, token: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n")).expect("token file");
    path.display().to_string()
}

struct GatewayPaths<'a> {
    listen: String,
    store_url: &'a str,
    fake: &'a str,
    outbox: &'a Path,
    key_file: &'a Path,
}

/// A running gateway, store and fake provider.
pub struct Env {
    pub fake: FakeProvider,
    pub store: ServiceProcess,
    pub gateway: ServiceProcess,
    /// The gateway's outbox file.
    pub outbox: PathBuf,
    /// The API key the gateway sends every platform.
    pub api_key: String,
    /// What the first gateway was started with, for starting replicas like it.
    replica: ReplicaPlan,
    database: TestDatabase,
    /// Declared last: dropped after the processes have printed their logs from it.
    dir: Option<tempfile::TempDir>,
}

impl Env {
    /// Starts the fake provider, a store over a fresh `backend` database and a gateway
    /// configured by `configure`, and returns once both services report SERVING.
    pub async fn start(backend: Backend, configure: impl FnOnce(&mut GatewayConfig)) -> Env {
        Self::start_with_env(backend, &[], configure).await
    }

    /// Like [`Env::start`], with extra environment variables for both services.
    pub async fn start_with_env(
        backend: Backend,
        env: &[(&str, String)],
        configure: impl FnOnce(&mut GatewayConfig),
    ) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("colloquy-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let fake = FakeProvider::spawn(FakeProviderConfig::default())
            .await
            .expect("the fake provider starts");
        let database = TestDatabase::create(backend, dir.path(), "colloquy_e2e").await;

        let mut store = store_process(dir.path(), "", &database.url);

        let key_file = dir.path().join("api-key");
        let api_key = format!("sk-e2e-{}", uuid::Uuid::new_v4().simple());
        std::fs::write(&key_file, format!("{api_key}\n")).expect("writing the API key file");
        let mut config = GatewayConfig::default();
        configure(&mut config);
        let outbox = config
            .outbox_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("outbox"))
            .join("gateway-outbox.redb");
        let replica = ReplicaPlan {
            config,
            env: Vec::new(),
            key_file,
        };
        let mut gateway = replica.gateway(dir.path(), "", &store.url(), &fake.base_url(), &outbox);

        for (key, value) in env {
            store = store.env(key, value.clone());
            gateway = gateway.env(key, value.clone());
        }
        store.start().await;
        gateway.start().await;
        let replica = ReplicaPlan {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            ..replica
        };
        Env {
            fake,
            store,
            gateway,
            outbox,
            api_key,
            replica,
            database,
            dir: Some(dir),
        }
    }

    /// Starts another gateway like the first (same settings, environment, store and
    /// platforms) on its own port with its own outbox, and returns once it reports SERVING.
    pub async fn start_replica(&self, name: &str) -> ServiceProcess {
        self.start_replica_with(name, &[]).await
    }

    /// Like [`Env::start_replica`], with `env` added to (and overriding) the first's
    /// environment.
    pub async fn start_replica_with(&self, name: &str, env: &[(&str, String)]) -> ServiceProcess {
        let dir = self.dir.as_ref().expect("the test directory").path();
        let outbox = dir
            .join(format!("outbox-{name}"))
            .join("gateway-outbox.redb");
        let mut gateway = self.replica.gateway(
            dir,
            &format!("-{name}"),
            &self.store.url(),
            &self.fake.base_url(),
            &outbox,
        );
        let inherited = self.replica.env.iter().map(|(k, v)| (k.as_str(), v));
        for (key, value) in inherited.chain(env.iter().map(|(k, v)| (*k, v))) {
            gateway = gateway.env(key, value.clone());
        }
        gateway.start().await;
        gateway
    }

    /// Starts another store on the same database, with the first's environment, and returns
    /// once it reports SERVING.
    pub async fn start_store_replica(&self, name: &str) -> ServiceProcess {
        let dir = self.dir.as_ref().expect("the test directory").path();
        let mut store = store_process(dir, &format!("-{name}"), &self.database.url);
        for (key, value) in &self.replica.env {
            store = store.env(key, value.clone());
        }
        store.start().await;
        store
    }

    /// A new client of the gateway (its own connection).
    pub fn gateway_client(&self) -> Gateway {
        Gateway::new(&self.gateway.url())
    }

    /// A new client of the store (its own connection, so one made after a restart never
    /// carries a broken one).
    pub fn store_client(&self) -> Store {
        Store::new(&self.store.url())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.gateway.kill_now();
        self.store.kill_now();
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!("kept the test directory {}", dir.keep().display());
            }
            self.database.keep();
        } else {
            self.database.remove();
        }
    }
}
