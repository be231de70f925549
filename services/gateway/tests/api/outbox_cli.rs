//! `colloquy-gateway outbox list | show | redrive` on the outbox file of a stopped gateway: a
//! record the store refused for good is listed with its id, shown whole, and sent back to
//! pending.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use colloquy_outbox::{
    DeliveryError, DeliverySettings, Outbox, OutboxFile, RecordTarget, WhenFull, deliver_pending,
};
use colloquy_proto::store::v1 as pb;
use prost::Message;

/// The store's answer to a record it will never take.
#[derive(Clone)]
struct Refusing;

impl RecordTarget for Refusing {
    async fn deliver(&self, _: Bytes, _: Option<String>) -> Result<(), DeliveryError> {
        Err(DeliveryError::Rejected("INVALID_ARGUMENT".into()))
    }
}

fn gateway(config: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_colloquy-gateway"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("COLLOQUY_GATEWAY_CONFIG")
        .output()
        .expect("the gateway binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn rejected_records_are_listed_shown_and_redriven() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox_path = dir.path().join("outbox.redb");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[outbox]\npath = {:?}\n[platforms.openai]\nkind = \"openai_chat\"\n\
             base_url = \"http://127.0.0.1:1/v1\"\napi_key_env = \"UNUSED_KEY\"\n",
            outbox_path.display().to_string()
        ),
    )
    .expect("settings");
    {
        let outbox = Outbox::open(&outbox_path, 10, WhenFull::Refuse).expect("outbox");
        let record = pb::CompletionRecord {
            record_id: "rec-refused-1".into(),
            conversation_id: "conv-1".into(),
            ..Default::default()
        };
        let admission = outbox.admit(b"fallback", None).await.expect("admitted");
        assert!(
            admission
                .complete(&record.encode_to_vec(), None)
                .await
                .is_ok()
        );
        let settings = DeliverySettings {
            initial_backoff: Duration::from_millis(1),
            ..DeliverySettings::default()
        };
        deliver_pending(Arc::clone(&outbox), Refusing, settings, async {}).await;
        assert_eq!(outbox.rejected().await.expect("count"), 1);
    }
    // The writer thread of the dropped outbox releases the file shortly after.
    let key = loop {
        match OutboxFile::open(&outbox_path) {
            Ok(file) => {
                break file.rejected().expect("rejected")[0]
                    .as_ref()
                    .expect("entry")
                    .key;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };

    let listed = gateway(&config, &["outbox", "list"]);
    assert!(listed.contains("0 pending"), "{listed}");
    assert!(listed.contains("1 rejected"), "{listed}");
    assert!(listed.contains("record rec-refused-1"), "{listed}");
    let shown = gateway(&config, &["outbox", "show", &key.to_string()]);
    assert!(shown.contains("conv-1"), "{shown}");
    let redriven = gateway(&config, &["outbox", "redrive", &key.to_string()]);
    assert!(
        redriven.contains("1 record(s) back to pending"),
        "{redriven}"
    );
    let listed = gateway(&config, &["outbox", "list"]);
    assert!(listed.contains("1 pending"), "{listed}");
    assert!(listed.contains("0 rejected"), "{listed}");
}
