//! Request routing: provider endpoints (record, authenticate, parse, pick the scenario) and
//! the `/_fake/*` control endpoints tests use to inspect the server.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::body::ScriptBody;
use crate::dialect::{AuthFailure, Dialect};
use crate::errors;
use crate::fixtures::Fixtures;
use crate::generate;
use crate::recorder::Recorder;
use crate::replay;
use crate::scenario::{self, Pacing, Params, Scenario};

/// Largest request body accepted; real APIs refuse far smaller prompts than this anyway.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// State shared by all connections.
pub(crate) struct App {
    fixtures: Fixtures,
    recorder: Arc<Recorder>,
}

impl App {
    pub(crate) fn new(fixtures: Fixtures, recorder: Arc<Recorder>) -> App {
        App { fixtures, recorder }
    }

    pub(crate) async fn handle(&self, req: Request<Incoming>) -> Response<ScriptBody> {
        let path = req.uri().path();
        if let Some(control) = path.strip_prefix("/_fake/") {
            let control = control.trim_end_matches('/').to_owned();
            return self.control(req.method(), &control);
        }
        let Some(dialect) = Dialect::from_path(path) else {
            return errors::invalid_url(req.method(), path);
        };
        if req.method() != Method::POST {
            return errors::invalid_url(req.method(), path);
        }
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return errors::too_large(dialect);
            }
            // The client went away while sending; nobody will read an answer.
            Err(_) => return errors::invalid_request(dialect, "Could not read the request body"),
        };
        self.recorder
            .record(&parts.method, &parts.uri, &parts.headers, &bytes);
        tracing::debug!(path = %parts.uri.path(), bytes = bytes.len(), "provider request");
        self.provider(dialect, &parts.headers, &bytes).await
    }

    async fn provider(
        &self,
        dialect: Dialect,
        headers: &http::HeaderMap,
        bytes: &Bytes,
    ) -> Response<ScriptBody> {
        match dialect.check_auth(headers) {
            Ok(()) => {}
            Err(AuthFailure::Unauthenticated) => return errors::unauthorized(dialect),
            Err(AuthFailure::MissingVersion) => return errors::missing_anthropic_version(),
        }
        let request: Value = match serde_json::from_slice(bytes) {
            Ok(v @ Value::Object(_)) => v,
            _ => return errors::bad_json(dialect),
        };
        let model = request.get("model").and_then(Value::as_str);
        match scenario::select(headers, model) {
            Scenario::Replay(case) => {
                let pacing = match Pacing::from_headers(headers) {
                    Ok(p) => p,
                    Err(e) => return errors::invalid_request(dialect, &e.to_string()),
                };
                match self.fixtures.get(case) {
                    Some(fixture) => replay::respond(fixture, pacing, &self.recorder).await,
                    None => errors::unknown_model(dialect, &format!("replay:{case}")),
                }
            }
            Scenario::Generate => {
                let params = match Params::from_headers(headers) {
                    Ok(p) => p,
                    Err(e) => return errors::invalid_request(dialect, &e.to_string()),
                };
                if let Err(message) = generate::validate(dialect, &request) {
                    return errors::invalid_request(dialect, message);
                }
                generate::respond(dialect, &request, &params, &self.recorder).await
            }
        }
    }

    fn control(&self, method: &Method, what: &str) -> Response<ScriptBody> {
        let json = match (method, what) {
            (&Method::GET, "requests") => serde_json::to_vec(&self.recorder.requests()),
            (&Method::DELETE, "requests") => {
                serde_json::to_vec(&serde_json::json!({ "cleared": self.recorder.clear() }))
            }
            (&Method::GET, "stats") => serde_json::to_vec(&self.recorder.stats()),
            (&Method::DELETE, "stats") => {
                self.recorder.reset_stats();
                serde_json::to_vec(&self.recorder.stats())
            }
            (&Method::GET, "fixtures") => serde_json::to_vec(&self.fixtures.names()),
            (&Method::GET, "health") => serde_json::to_vec(&serde_json::json!({ "status": "ok" })),
            _ => {
                return control_response(
                    StatusCode::NOT_FOUND,
                    br#"{"error":"unknown control endpoint"}"#.to_vec(),
                );
            }
        };
        match json {
            Ok(body) => control_response(StatusCode::OK, body),
            Err(e) => {
                let body = serde_json::json!({ "error": e.to_string() }).to_string();
                control_response(StatusCode::INTERNAL_SERVER_ERROR, body.into_bytes())
            }
        }
    }
}

fn control_response(status: StatusCode, body: Vec<u8>) -> Response<ScriptBody> {
    let mut resp = Response::new(ScriptBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
