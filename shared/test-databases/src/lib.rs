//! One fresh conversation-store database per test: a SQLite file in the test's directory, or
//! a new database on the Postgres server named by `COLLOQUY_TEST_POSTGRES_URL`, dropped when
//! the test is done with it. Shared by the store's tests and the end-to-end suite.

use std::path::Path;

use sea_orm::{ConnectionTrait, Database};

/// Where the Postgres tests create their databases. Postgres must be reachable: a missing
/// server fails those tests instead of skipping them.
pub fn postgres_admin_url() -> String {
    std::env::var("COLLOQUY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The store's database engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists only for one test.
pub struct TestDatabase {
    /// The URL the store is started with.
    pub url: String,
    /// For Postgres: the server's admin URL and the database name, so it can be dropped.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates the database; for SQLite the file is created by the store inside `dir`.
    /// Postgres databases are named `<prefix>_<uuid>`.
    pub async fn create(backend: Backend, dir: &Path, prefix: &str) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}/store.db?mode=rwc", dir.display()),
                postgres: None,
            },
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|error| {
                    panic!(
                        "Postgres is required for this test: cannot connect to {admin_url} \
                         (set COLLOQUY_TEST_POSTGRES_URL): {error}"
                    )
                });
                let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
                let _ = admin.close().await;
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                TestDatabase {
                    url: format!("{base}/{name}"),
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// Drops a Postgres database; a SQLite file goes with the test's directory. Runs on a
    /// thread of its own because it is called from `Drop`, inside the test's runtime.
    pub fn remove(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async move {
                let admin = Database::connect(&admin_url).await?;
                // FORCE ends the sessions of a store that was killed rather than stopped.
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("the test database could not be dropped: {error}");
        }
    }

    /// Leaves a Postgres database in place for inspection after a failure.
    pub fn keep(&mut self) {
        if let Some((_, name)) = self.postgres.take() {
            eprintln!("kept the Postgres test database {name}");
        }
    }
}
