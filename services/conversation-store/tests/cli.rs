//! The `colloquy-store` binary: migrations, price import and comparison from the command line,
//! and one-line errors for bad databases.

use std::process::Command;

fn store_command(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_colloquy-store"));
    command
        .env("COLLOQUY_STORE__DATABASE__URL", database_url)
        .env("RUST_LOG", "error");
    command
}

#[test]
fn imports_a_litellm_price_list_as_a_new_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
    let list = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/pricing/tests/data/litellm_excerpt.json"
    );

    let first = store_command(&url)
        .args(["import-prices", list, "--source", "excerpt"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.starts_with("import 1: "), "{stdout}");

    let second = store_command(&url)
        .args(["import-prices", list, "--source", "excerpt"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.starts_with("import 2: 0 inserted, 0 closed"),
        "{stdout}"
    );
}

#[test]
fn prices_diff_lists_where_the_catalogue_and_a_litellm_list_disagree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
    let list = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/pricing/tests/data/litellm_excerpt.json"
    );
    let diff = store_command(&url)
        .args(["prices", "diff", list])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert_eq!(
        stdout,
        "openrouter/openai/gpt-4o [standard] cached_input_per_mtok: catalogue 1.25 litellm 2.5\n\
         1 differences\n"
    );

    // Once the list is imported, the catalogue in effect is the list.
    let import = store_command(&url)
        .args(["import-prices", list])
        .output()
        .expect("runs");
    assert!(import.status.success());
    let again = store_command(&url)
        .args(["prices", "diff", list])
        .output()
        .expect("runs");
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout), "0 differences\n");
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let output = store_command("postgres://colloquy:secret@127.0.0.1:1/nowhere")
        .arg("migrate")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot open database postgres://colloquy:***@127.0.0.1:1/nowhere"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"));
}

#[test]
fn an_unknown_database_scheme_names_the_setting() {
    let output = store_command("mysql://localhost/x")
        .arg("migrate")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database.url"), "{stderr}");
}
