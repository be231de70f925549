//! Loads recorded fixtures into memory once, with their status, headers and event
//! boundaries worked out ahead of time.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;

use crate::sse::event_boundaries;

/// Recorded headers that describe the recorded transfer rather than the body we send (the
/// bodies are stored decoded), or that belong to the connection.
const SKIPPED_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "content-encoding",
    "connection",
    "keep-alive",
];

/// One recorded response.
pub(crate) struct Fixture {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// End offsets of each SSE event (or the whole body for JSON).
    pub(crate) cuts: Arc<[usize]>,
    /// An `.sse` event stream rather than a `.json` body.
    pub(crate) is_stream: bool,
}

/// All fixtures under a directory, keyed by `<provider>/<case>`.
#[derive(Default)]
pub(crate) struct Fixtures {
    cases: BTreeMap<String, Arc<Fixture>>,
}

#[derive(Deserialize)]
struct HeadersFile {
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Fixtures {
    pub(crate) fn load(dir: &Path) -> anyhow::Result<Fixtures> {
        let mut fixtures = Fixtures::default();
        fixtures
            .load_dir(dir, dir)
            .with_context(|| format!("loading fixtures from {}", dir.display()))?;
        Ok(fixtures)
    }

    fn load_dir(&mut self, root: &Path, dir: &Path) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                self.load_dir(root, &path)?;
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let (stem, is_stream) = if let Some(stem) = name.strip_suffix(".sse") {
                (stem, true)
            } else if let Some(stem) = name.strip_suffix(".json") {
                if stem.ends_with(".headers") || stem.ends_with(".expect") {
                    continue;
                }
                (stem, false)
            } else {
                continue;
            };
            let rel = path
                .parent()
                .and_then(|p| p.strip_prefix(root).ok())
                .map(|p| p.join(stem))
                .with_context(|| format!("fixture outside root: {}", path.display()))?;
            let case = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let headers_path = path.with_file_name(format!("{stem}.headers.json"));
            let fixture = load_one(&path, &headers_path, stem, is_stream)
                .with_context(|| format!("fixture {case}"))?;
            // A stream recording wins over a JSON body of the same name.
            if is_stream || !self.cases.contains_key(&case) {
                self.cases.insert(case, Arc::new(fixture));
            }
        }
        Ok(())
    }

    pub(crate) fn get(&self, case: &str) -> Option<&Arc<Fixture>> {
        self.cases.get(case)
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.cases.keys().cloned().collect()
    }
}

fn load_one(
    body_path: &Path,
    headers_path: &Path,
    stem: &str,
    is_stream: bool,
) -> anyhow::Result<Fixture> {
    let body = Bytes::from(std::fs::read(body_path)?);
    let recorded: Option<HeadersFile> = match std::fs::read(headers_path) {
        Ok(raw) => Some(serde_json::from_slice(&raw).context("parsing headers file")?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let status = recorded
        .as_ref()
        .and_then(|h| h.status)
        .or_else(|| status_from_name(stem))
        .unwrap_or(200);
    let status = StatusCode::from_u16(status).context("invalid recorded status")?;
    let mut headers = HeaderMap::new();
    for (name, values) in recorded.map(|h| h.headers).unwrap_or_default() {
        let lower = name.to_ascii_lowercase();
        if SKIPPED_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(lower.as_bytes()) else {
            tracing::warn!(header = %lower, "skipping recorded header with an invalid name");
            continue;
        };
        let values = match values {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        };
        for value in values {
            match HeaderValue::from_str(&value) {
                Ok(value) => {
                    headers.append(name.clone(), value);
                }
                Err(_) => {
                    tracing::warn!(header = %name, "skipping recorded header with an invalid value")
                }
            }
        }
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        let default = if is_stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(default),
        );
    }
    let cuts: Arc<[usize]> = if is_stream {
        event_boundaries(&body).into()
    } else {
        vec![body.len()].into()
    };
    Ok(Fixture {
        status,
        headers,
        body,
        cuts,
        is_stream,
    })
}

/// `error_429_rate_limit` → 429: error cases recorded without a headers file carry their
/// status in the name.
fn status_from_name(stem: &str) -> Option<u16> {
    stem.split('_')
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "error" && w[1].len() == 3)
        .and_then(|w| w[1].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_in_name() {
        assert_eq!(status_from_name("error_429_rate_limit"), Some(429));
        assert_eq!(
            status_from_name("responses_error_400_before_stream"),
            Some(400)
        );
        assert_eq!(status_from_name("chat_stream_refusal"), None);
    }

    #[test]
    fn loads_repository_fixtures() {
        let f = Fixtures::load(&crate::default_fixtures_dir()).unwrap();
        let refusal = f.get("openai/chat_stream_refusal").unwrap();
        assert!(refusal.is_stream);
        assert_eq!(refusal.status, StatusCode::OK);
        assert_eq!(refusal.headers["content-type"], "text/event-stream");
        assert_eq!(*refusal.cuts.last().unwrap(), refusal.body.len());
        let e = f.get("openai/error_500_server_error").unwrap();
        assert_eq!(e.status.as_u16(), 500);
        let q = f.get("anthropic/error_529_overloaded").unwrap();
        assert_eq!(q.status.as_u16(), 529);
        assert!(q.headers.get("content-length").is_none());
        let o = f
            .get("openai/chat_nonstream_with_ratelimit_headers")
            .unwrap();
        assert_eq!(o.headers.get_all("set-cookie").iter().count(), 2);
        assert!(o.headers.get("content-encoding").is_none());
        assert!(f.get("openai/error_401_invalid_api_key.expect").is_none());
    }
}
