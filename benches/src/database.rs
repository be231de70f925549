//! A fresh, empty database per run: a SQLite file in a temporary directory, or a new Postgres
//! database created through an admin connection and dropped when the run ends.

use anyhow::{Context, bail};
use colloquy_store::db::redact;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tempfile::TempDir;

pub enum FreshDatabase {
    Sqlite {
        url: String,
        /// Deleted with the database file when dropped.
        _dir: TempDir,
    },
    Postgres {
        url: String,
        admin: DatabaseConnection,
        name: String,
    },
}

impl FreshDatabase {
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let url = format!("sqlite://{}/ingest.db?mode=rwc", dir.path().display());
        Ok(Self::Sqlite { url, _dir: dir })
    }

    /// Creates `colloquy_bench_<uuid>` on the server `admin_url` points at.
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let shown = redact(admin_url);
        let admin = Database::connect(admin_url)
            .await
            .with_context(|| format!("cannot connect to Postgres at {shown}"))?;
        let name = format!("colloquy_bench_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("cannot create database {name} on {shown}"))?;
        let url = sibling_database_url(admin_url, &name)?;
        Ok(Self::Postgres { url, admin, name })
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// Deletes the database. `FORCE` (Postgres 13+) closes connections a failed run left open;
    /// older servers get a plain `DROP`.
    pub async fn remove(self) -> anyhow::Result<()> {
        let Self::Postgres { admin, name, .. } = self else {
            return Ok(());
        };
        let forced = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        if forced.is_err() {
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .with_context(|| format!("cannot drop database {name}"))?;
        }
        admin.close().await?;
        Ok(())
    }
}

/// `admin_url` with its database replaced by `name`, keeping credentials, host and query.
fn sibling_database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        bail!("--postgres-url must look like postgres://user@host:port/database");
    };
    if !matches!(scheme, "postgres" | "postgresql") {
        bail!("--postgres-url must start with postgres:// or postgresql://");
    }
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_database_keeps_everything_but_the_name() {
        let url = |admin: &str| sibling_database_url(admin, "bench").unwrap();
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/bench"
        );
        assert_eq!(
            url("postgresql://u:pw@db/admin?sslmode=disable"),
            "postgresql://u:pw@db/bench?sslmode=disable"
        );
        assert_eq!(url("postgres://u@db:5433"), "postgres://u@db:5433/bench");
        assert!(sibling_database_url("mysql://u@db/x", "bench").is_err());
        assert!(sibling_database_url("localhost", "bench").is_err());
    }
}
