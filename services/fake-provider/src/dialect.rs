//! The four wire dialects, which endpoint speaks which, and how each authenticates.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// A provider API dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI Chat Completions, `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI Responses, `POST /v1/responses`.
    Responses,
    /// OpenRouter's Chat Completions, `POST /api/v1/chat/completions`.
    OpenRouter,
    /// OpenRouter's Responses API, `POST /api/v1/responses`.
    OpenRouterResponses,
    /// Anthropic Messages, `POST /v1/messages`.
    Anthropic,
}

/// Why a request was refused before reaching a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No usable credential: answered with the provider's 401.
    Unauthenticated,
    /// Anthropic without `anthropic-version`: the real API answers 400.
    MissingVersion,
}

impl Dialect {
    /// The dialect served at `path`, if any.
    pub fn from_path(path: &str) -> Option<Dialect> {
        match path.trim_end_matches('/') {
            "/v1/chat/completions" => Some(Dialect::OpenAiChat),
            "/api/v1/chat/completions" => Some(Dialect::OpenRouter),
            "/api/v1/responses" => Some(Dialect::OpenRouterResponses),
            "/v1/responses" => Some(Dialect::Responses),
            "/v1/messages" => Some(Dialect::Anthropic),
            _ => None,
        }
    }

    /// The API family whose error envelope and headers this dialect uses.
    pub(crate) fn is_openai_family(self) -> bool {
        matches!(self, Dialect::OpenAiChat | Dialect::Responses)
    }

    /// OpenRouter's dialects, which share its error envelope and headers.
    pub(crate) fn is_openrouter(self) -> bool {
        matches!(self, Dialect::OpenRouter | Dialect::OpenRouterResponses)
    }

    /// Checks credentials the way the real API does: OpenAI and OpenRouter want
    /// `Authorization: Bearer <key>`, Anthropic wants `x-api-key` and `anthropic-version`.
    pub(crate) fn check_auth(self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        let present = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| !v.trim().is_empty())
        };
        match self {
            Dialect::Anthropic => {
                if !present("x-api-key") {
                    Err(AuthFailure::Unauthenticated)
                } else if !present("anthropic-version") {
                    Err(AuthFailure::MissingVersion)
                } else {
                    Ok(())
                }
            }
            _ => {
                let bearer = headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        let (scheme, token) = v.trim().split_once(' ')?;
                        scheme
                            .eq_ignore_ascii_case("bearer")
                            .then_some(token.trim())
                    })
                    .is_some_and(|token| !token.is_empty());
                if bearer {
                    Ok(())
                } else {
                    Err(AuthFailure::Unauthenticated)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn paths_map_to_dialects() {
        let cases = [
            ("/v1/chat/completions", Some(Dialect::OpenAiChat)),
            ("/api/v1/chat/completions", Some(Dialect::OpenRouter)),
            ("/v1/responses", Some(Dialect::Responses)),
            ("/api/v1/responses", Some(Dialect::OpenRouterResponses)),
            ("/v1/messages", Some(Dialect::Anthropic)),
            ("/v1/embeddings", None),
        ];
        for (path, dialect) in cases {
            assert_eq!(Dialect::from_path(path), dialect, "{path}");
        }
    }

    #[test]
    fn bearer_and_anthropic_auth() {
        let chat = Dialect::OpenAiChat;
        assert!(
            chat.check_auth(&headers(&[("authorization", "Bearer sk-1")]))
                .is_ok()
        );
        assert!(
            chat.check_auth(&headers(&[("authorization", "Bearer ")]))
                .is_err()
        );
        assert!(
            chat.check_auth(&headers(&[("authorization", "Basic x")]))
                .is_err()
        );
        assert!(chat.check_auth(&headers(&[])).is_err());
        let a = Dialect::Anthropic;
        assert_eq!(
            a.check_auth(&headers(&[("x-api-key", "k")])),
            Err(AuthFailure::MissingVersion)
        );
        assert_eq!(
            a.check_auth(&headers(&[("anthropic-version", "2023-06-01")])),
            Err(AuthFailure::Unauthenticated)
        );
        assert!(
            a.check_auth(&headers(&[
                ("x-api-key", "k"),
                ("anthropic-version", "2023-06-01")
            ]))
            .is_ok()
        );
    }
}
