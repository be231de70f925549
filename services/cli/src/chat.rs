//! `colloquy chat`: one streamed completion, printed as it arrives, then the terminal summary
//! and, on request, the turn the store recorded for it.

use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as gw;
use colloquy_proto::store::v1 as pb;
use tokio_stream::StreamExt;

use crate::connect::Target;
use crate::print;

#[derive(clap::Args)]
pub struct ChatArgs {
    /// The user message.
    message: String,
    /// The configured platform to call.
    #[arg(long, default_value = "openai")]
    platform: String,
    /// The model; the platform's default when empty.
    #[arg(long, default_value = "")]
    model: String,
    /// A system message to put first.
    #[arg(long)]
    system: Option<String>,
    /// Continue this conversation.
    #[arg(long)]
    conversation: Option<String>,
    /// Tenant to account the completion to.
    #[arg(long, default_value = "")]
    tenant: String,
    /// After the stream, wait for the store to record the turn and print it.
    #[arg(long)]
    show_record: bool,
}

fn message(role: common::Role, content: &str) -> common::Message {
    common::Message {
        role: role as i32,
        content: content.to_string(),
        ..Default::default()
    }
}

pub async fn run(gateway: &Target, store: &Target, args: ChatArgs) -> anyhow::Result<()> {
    let mut client = gateway.gateway().await?;
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(message(common::Role::System, system));
    }
    messages.push(message(common::Role::User, &args.message));
    let request = gw::ChatRequest {
        platform: args.platform.clone(),
        model: args.model.clone(),
        messages,
        conversation_id: args.conversation.clone(),
        tenant: args.tenant.clone(),
        ..Default::default()
    };
    let mut events = client.stream_chat(request).await?.into_inner();
    let mut started = None;
    let mut summary = None;
    let mut stdout = std::io::stdout();
    while let Some(event) = events.next().await {
        match event?.event {
            Some(gw::chat_event::Event::Started(s)) => {
                eprintln!(
                    "[{} · {} · conversation {}]",
                    s.platform, s.model, s.conversation_id
                );
                started = Some(s);
            }
            Some(gw::chat_event::Event::Delta(delta)) => {
                write!(stdout, "{}{}", delta.reasoning_text, delta.text)?;
                if let Some(call) = delta.tool_call {
                    write!(stdout, "{}{}", call.name, call.arguments_fragment)?;
                }
                stdout.flush()?;
            }
            Some(gw::chat_event::Event::Terminal(terminal)) => summary = terminal.summary,
            None => {}
        }
    }
    writeln!(stdout)?;
    let (Some(started), Some(summary)) = (started, summary) else {
        bail!("the stream ended without a terminal event");
    };
    println!("\n== terminal event");
    print::summary(&summary);
    if args.show_record {
        let turn = wait_for_turn(store, &started.conversation_id, &started.record_id).await?;
        println!("\n== recorded by the store");
        print::turn(&turn);
    }
    Ok(())
}

/// The gateway delivers the record after the terminal event; poll briefly until it is there.
async fn wait_for_turn(
    store: &Target,
    conversation_id: &str,
    record_id: &str,
) -> anyhow::Result<pb::Turn> {
    let mut client = store.store().await?;
    for _ in 0..100 {
        match client
            .get_conversation(pb::GetConversationRequest {
                conversation_id: conversation_id.to_string(),
            })
            .await
        {
            Ok(conversation) => {
                if let Some(turn) = conversation
                    .into_inner()
                    .turns
                    .into_iter()
                    .find(|t| t.record_id == record_id)
                {
                    return Ok(turn);
                }
            }
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => return Err(status.into()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the store has no turn {record_id} after 10 s")
}
