//! Connects to the database named by the settings and brings its schema up to date.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;
use crate::settings::DatabaseSettings;

/// Prepared statements kept per connection. A batch's multi-row statements differ by their
/// row count, so a busy store uses a few hundred distinct ones; the driver's default of 100
/// would prepare them again and again.
const STATEMENT_CACHE: usize = 1024;

/// Opens the pool and runs pending migrations. Errors are one line naming the database
/// without its password.
pub async fn connect_and_migrate(
    settings: &DatabaseSettings,
) -> anyhow::Result<DatabaseConnection> {
    let shown = redact(&settings.url);
    if let Some(path) = sqlite_file(&settings.url)
        && let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {} for {shown}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .max_connections(settings.max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers run while the single writer commits; NORMAL sync is durable
        // across process crashes in WAL mode, and the busy timeout covers a second process.
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .statement_cache_capacity(STATEMENT_CACHE)
        })
        .map_sqlx_postgres_opts(|opts| opts.statement_cache_capacity(STATEMENT_CACHE));
    let db = Database::connect(options).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {shown}: {}",
            first_line(&e.to_string())
        )
    })?;
    Migrator::up(&db, None).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot migrate database {shown}: {}",
            first_line(&e.to_string())
        )
    })?;
    if !matches!(
        db.get_database_backend(),
        DbBackend::Sqlite | DbBackend::Postgres
    ) {
        bail!("database {shown} is neither SQLite nor Postgres");
    }
    Ok(db)
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact("sqlite://./data/colloquy.db?mode=rwc"),
            "sqlite://./data/colloquy.db?mode=rwc"
        );
    }

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            sqlite_file("sqlite://./data/c.db?mode=rwc"),
            Some("./data/c.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }

    #[tokio::test]
    async fn unreachable_databases_give_one_clear_line() {
        let settings = DatabaseSettings {
            url: "postgres://nobody:pw@127.0.0.1:1/none".into(),
            max_connections: 1,
        };
        let error = connect_and_migrate(&settings)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot open database postgres://nobody:***@127.0.0.1:1/none"),
            "{error}"
        );
        assert!(!error.contains('\n') && !error.contains("pw"), "{error}");
    }
}
