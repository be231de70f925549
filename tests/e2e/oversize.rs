//! A prompt and an answer far over the store's 1 MiB message limit, both within the gateway's
//! 4 MiB request limit: the caller gets its whole answer, and the turn is recorded with its
//! usage, identifiers, status and cost, its text cut and flagged with the original size.

use colloquy_fake_provider::expected_text;
use colloquy_proto::common::v1 as common;

use crate::harness::*;

const MESSAGE_LIMIT: usize = 1 << 20;
/// Text deltas of 4 KiB each: a 4.4 MB answer.
const DELTAS: usize = 1100;
const DELTA_BYTES: usize = 4096;

async fn oversize_prompt_and_answer_are_recorded_cut(backend: Backend) {
    let env = Env::start(backend, |config| {
        config
            .header(OPENAI, "x-fake-chunks", &DELTAS.to_string())
            .header(OPENAI, "x-fake-delta-bytes", &DELTA_BYTES.to_string());
    })
    .await;
    let prompt = "p".repeat(3_900_000);
    let collected = env
        .gateway_client()
        .stream(chat(OPENAI, &prompt))
        .await
        .expect("an oversize prompt is served");
    assert_eq!(
        status_of(&collected.summary),
        common::CompletionStatus::Completed
    );
    assert_eq!(
        collected.text.len(),
        DELTAS * DELTA_BYTES,
        "the whole answer"
    );
    assert!(collected.text.starts_with(&expected_text(1)));

    let conversation = env
        .store_client()
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    let turn = &conversation.turns[0];
    assert!(turn.content_truncated, "the cut is flagged");
    assert_eq!(
        turn.content_bytes,
        (prompt.len() + collected.text.len()) as u64,
        "the original size is kept"
    );
    assert_eq!(turn.input_messages[0].content.len(), MESSAGE_LIMIT);
    let answer = &turn.output_message.as_ref().expect("the answer").content;
    assert!(answer.len() <= MESSAGE_LIMIT);
    assert!(collected.text.starts_with(answer.as_str()));
    let summary = turn.summary.as_ref().expect("summary");
    assert_eq!(usage_of(summary), usage_of(&collected.summary));
    assert!(usage_of(summary).input_tokens > 0);
    assert!(turn.cost.as_ref().expect("cost").priced, "{:?}", turn.cost);
}

crate::on_both_databases!(
    oversize_content,
    super::oversize_prompt_and_answer_are_recorded_cut
);
