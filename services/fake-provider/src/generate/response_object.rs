//! The OpenAI Responses `response` object and its output items, rendered as text in the
//! API's key order.

use serde_json::Value;

use super::responses::Accent;
use super::{Plan, expected_reasoning};
use crate::ids;
use crate::json::{echo, quote};

/// The `error` of a failed response.
const FAILURE: &str = r#"{"code":"server_error","message":"An error occurred while processing your request. You can retry your request, or contact us through our help center at help.openai.com if the error persists."}"#;

/// Request settings the response object repeats back, rendered once per request.
struct Echo {
    instructions: String,
    max_output_tokens: String,
    parallel_tool_calls: String,
    previous_response_id: String,
    effort: String,
    summary: String,
    store: String,
    temperature: String,
    tool_choice: String,
    tools: String,
    top_p: String,
    metadata: String,
}

impl Echo {
    fn from_request(request: &Value) -> Echo {
        let reasoning = request.get("reasoning");
        let field = |name: &str, default: &str| echo(request.get(name), default);
        Echo {
            instructions: field("instructions", "null"),
            max_output_tokens: field("max_output_tokens", "null"),
            parallel_tool_calls: field("parallel_tool_calls", "true"),
            previous_response_id: field("previous_response_id", "null"),
            effort: echo(reasoning.and_then(|r| r.get("effort")), "null"),
            summary: echo(reasoning.and_then(|r| r.get("summary")), "null"),
            store: field("store", "true"),
            temperature: field("temperature", "1.0"),
            tool_choice: field("tool_choice", "\"auto\""),
            tools: field("tools", "[]"),
            top_p: field("top_p", "1.0"),
            metadata: field("metadata", "{}"),
        }
    }
}

/// One response's id, settings and plan; renders the object at each stage.
pub(super) struct ResponseObject<'a> {
    plan: &'a Plan,
    echo: Echo,
    pub(super) id: String,
    accent: Accent,
}

impl<'a> ResponseObject<'a> {
    pub(super) fn new(plan: &'a Plan, request: &Value, accent: Accent) -> Self {
        let id = match accent {
            Accent::OpenAi => ids::hex("resp_", 50),
            // OpenRouter's response id is its generation id.
            Accent::OpenRouter => super::openrouter::generation_id(plan.created),
        };
        ResponseObject {
            plan,
            echo: Echo::from_request(request),
            id,
            accent,
        }
    }

    /// Status `in_progress`, no output yet.
    pub(super) fn in_progress(&self) -> String {
        self.render("in_progress", "null", "", "null")
    }

    /// Status `failed` with a server error.
    pub(super) fn failed(&self) -> String {
        self.render("failed", FAILURE, "", "null")
    }

    /// Status `completed` with every output item and the usage.
    pub(super) fn completed(&self, items: &Items) -> String {
        self.render("completed", "null", &items.done(self.plan), &self.usage())
    }

    fn render(&self, status: &str, error: &str, output: &str, usage: &str) -> String {
        let e = &self.echo;
        format!(
            r#"{{"id":"{}","object":"response","created_at":{},"status":"{status}","background":false,"error":{error},"incomplete_details":null,"instructions":{},"max_output_tokens":{},"max_tool_calls":null,"model":{},"output":[{output}],"parallel_tool_calls":{},"previous_response_id":{},"prompt_cache_key":null,"reasoning":{{"effort":{},"summary":{}}},"safety_identifier":null,"service_tier":"default","store":{},"temperature":{},"text":{{"format":{{"type":"text"}},"verbosity":"medium"}},"tool_choice":{},"tools":{},"top_logprobs":0,"top_p":{},"truncation":"disabled","usage":{usage},"user":null,"metadata":{}}}"#,
            self.id,
            self.plan.created,
            e.instructions,
            e.max_output_tokens,
            self.plan.model_json,
            e.parallel_tool_calls,
            e.previous_response_id,
            e.effort,
            e.summary,
            e.store,
            e.temperature,
            e.tool_choice,
            e.tools,
            e.top_p,
            e.metadata,
        )
    }

    /// `usage`: `input_tokens` includes the cached tokens, `output_tokens` the reasoning.
    /// OpenRouter adds what it billed, in credits.
    fn usage(&self) -> String {
        let p = self.plan;
        let (input, output) = (p.prompt_total(), p.output_tokens());
        let billed = match self.accent {
            Accent::OpenAi => String::new(),
            Accent::OpenRouter => {
                let (cost, input_cost, output_cost) = super::openrouter::credits(p, output);
                format!(
                    r#","cost":{cost},"is_byok":false,"cost_details":{{"upstream_inference_cost":null,"upstream_inference_input_cost":{input_cost},"upstream_inference_output_cost":{output_cost}}}"#
                )
            }
        };
        format!(
            r#"{{"input_tokens":{input},"input_tokens_details":{{"cached_tokens":{}}},"output_tokens":{output},"output_tokens_details":{{"reasoning_tokens":{}}},"total_tokens":{}{billed}}}"#,
            p.cached_tokens,
            p.reasoning,
            input + output
        )
    }
}

/// The output items of a response, in order: their ids decide which ones exist.
pub(super) struct Items {
    pub(super) reasoning: Option<String>,
    pub(super) message: Option<String>,
    /// Item id and `call_id`.
    pub(super) call: Option<(String, String)>,
}

impl Items {
    pub(super) fn new(plan: &Plan) -> Items {
        Items {
            reasoning: (plan.reasoning > 0).then(|| ids::hex("rs_", 50)),
            message: (plan.text > 0 || !plan.tool_call).then(|| ids::hex("msg_", 50)),
            call: plan
                .tool_call
                .then(|| (ids::hex("fc_", 50), ids::alnum("call_", 24))),
        }
    }

    pub(super) fn reasoning_done(id: &str, plan: &Plan) -> String {
        let text = quote(&expected_reasoning(plan.reasoning));
        format!(
            r#"{{"id":"{id}","type":"reasoning","summary":[{{"type":"summary_text","text":{text}}}]}}"#
        )
    }

    pub(super) fn message(id: &str, status: &str, content: &str) -> String {
        format!(
            r#"{{"id":"{id}","type":"message","status":"{status}","content":[{content}],"role":"assistant"}}"#
        )
    }

    pub(super) fn text_part(text: &str) -> String {
        format!(r#"{{"type":"output_text","annotations":[],"logprobs":[],"text":{text}}}"#)
    }

    pub(super) fn call(ids: &(String, String), status: &str, arguments: &str) -> String {
        format!(
            r#"{{"id":"{}","type":"function_call","status":"{status}","arguments":{arguments},"call_id":"{}","name":"{}"}}"#,
            ids.0,
            ids.1,
            super::TOOL_NAME
        )
    }

    /// All items completed, comma-separated for the `output` array.
    fn done(&self, plan: &Plan) -> String {
        let mut out = Vec::new();
        if let Some(id) = &self.reasoning {
            out.push(Self::reasoning_done(id, plan));
        }
        if let Some(id) = &self.message {
            let text = Self::text_part(&quote(&plan.text_of(plan.text)));
            out.push(Self::message(id, "completed", &text));
        }
        if let Some(ids) = &self.call {
            out.push(Self::call(ids, "completed", &quote(super::TOOL_ARGUMENTS)));
        }
        out.join(",")
    }
}
