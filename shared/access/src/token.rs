//! Bearer tokens: where they come from, how servers check them and how clients send them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// Where a token is read from: an environment variable or a file (a mounted secret).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSource {
    /// Name of the environment variable holding the token.
    pub token_env: Option<String>,
    /// File holding the token; surrounding whitespace is trimmed.
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{key}: set only one of token_env and token_file")]
    Both { key: String },
    #[error("{key}: environment variable {name} is not set")]
    MissingEnv { key: String, name: String },
    #[error("{key}: cannot read {path}: {reason}")]
    File {
        key: String,
        path: String,
        reason: String,
    },
    #[error("{key}: the token is empty or not printable ASCII")]
    Invalid { key: String },
}

fn read_source(source: &TokenSource, key: &str) -> Result<Option<String>, TokenError> {
    match (&source.token_env, &source.token_file) {
        (Some(_), Some(_)) => Err(TokenError::Both { key: key.into() }),
        (None, None) => Ok(None),
        (Some(name), None) => std::env::var(name)
            .map(Some)
            .map_err(|_| TokenError::MissingEnv {
                key: key.into(),
                name: name.clone(),
            }),
        (None, Some(path)) => {
            std::fs::read_to_string(path)
                .map(Some)
                .map_err(|e| TokenError::File {
                    key: key.into(),
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
        }
    }
}

/// A shared secret; never printed.
#[derive(Clone)]
pub struct BearerToken(Arc<str>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

impl BearerToken {
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        let printable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
        printable.then(|| Self(Arc::from(token)))
    }

    /// Reads the token named by `source`; `None` when neither place is set. `key` names the
    /// settings section in errors.
    /// Reads the token named by `source`; `None` when neither place is set. A file's first
    /// line is the token. `key` names the settings section in errors.
    pub fn load(source: &TokenSource, key: &str) -> Result<Option<Self>, TokenError> {
        let Some(text) = read_source(source, key)? else {
            return Ok(None);
        };
        Self::new(text.lines().next().unwrap_or_default())
            .map(Some)
            .ok_or(TokenError::Invalid { key: key.into() })
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut difference = expected.len() ^ presented.len();
        for (i, byte) in expected.iter().enumerate() {
            difference |= usize::from(byte ^ presented.get(i).copied().unwrap_or(0));
        }
        difference == 0
    }
}

/// The tokens a server accepts for one role. A token file may hold several, one per line, so
/// that a credential can be rotated without downtime: add the new token, move the callers over,
/// remove the old one.
#[derive(Clone, Default)]
pub struct TokenSet(Vec<BearerToken>);

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.0.len())
    }
}

impl TokenSet {
    /// Reads every token named by `source` (empty when neither place is set). `key` names the
    /// settings section in errors.
    pub fn load(source: &TokenSource, key: &str) -> Result<Self, TokenError> {
        let Some(text) = read_source(source, key)? else {
            return Ok(Self::default());
        };
        let tokens = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| BearerToken::new(line).ok_or(TokenError::Invalid { key: key.into() }))
            .collect::<Result<Vec<_>, _>>()?;
        if tokens.is_empty() {
            return Err(TokenError::Invalid { key: key.into() });
        }
        Ok(Self(tokens))
    }

    pub fn from_tokens(tokens: impl IntoIterator<Item = BearerToken>) -> Self {
        Self(tokens.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `presented` is one of the tokens. Every token is compared in full, in time
    /// independent of where a difference is.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .fold(false, |found, token| token.matches(presented) | found)
    }
}

/// Server side: refuses calls without `authorization: Bearer <token>` when a token is set.
#[derive(Clone, Debug)]
pub struct RequireToken(Option<BearerToken>);

impl RequireToken {
    pub fn new(token: Option<BearerToken>) -> Self {
        Self(token)
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match presented {
            Some(token) if expected.matches(token.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("the bearer token is not valid")),
            None => Err(Status::unauthenticated(
                "a bearer token is required (authorization: Bearer <token>)",
            )),
        }
    }
}

/// A client channel that sends the token, if any, with every call.
pub type TokenChannel = InterceptedService<Channel, AttachToken>;

/// Client side: sends `authorization: Bearer <token>` when a token is set.
#[derive(Clone, Debug, Default)]
pub struct AttachToken(Option<MetadataValue<Ascii>>);

impl AttachToken {
    pub fn new(token: Option<&BearerToken>) -> Self {
        Self(token.and_then(|t| format!("Bearer {}", t.0).parse().ok()))
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(mut interceptor: RequireToken, header: Option<&str>) -> Result<(), tonic::Code> {
        let mut request = Request::new(());
        if let Some(header) = header {
            request
                .metadata_mut()
                .insert("authorization", header.parse().unwrap());
        }
        interceptor.call(request).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn only_the_right_token_passes() {
        let token = BearerToken::new("s3cret-token").unwrap();
        let require = RequireToken::new(Some(token.clone()));
        assert_eq!(call(require.clone(), Some("Bearer s3cret-token")), Ok(()));
        assert_eq!(
            call(require.clone(), Some("Bearer s3cret-tokeN")),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            call(require.clone(), Some("Bearer s3cret")),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            call(require.clone(), None),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(call(RequireToken::new(None), None), Ok(()));

        let mut attach = AttachToken::new(Some(&token));
        let sent = attach.call(Request::new(())).unwrap();
        assert_eq!(
            sent.metadata().get("authorization").unwrap(),
            "Bearer s3cret-token"
        );
        assert_eq!(format!("{token:?}"), "BearerToken(***)");
    }

    #[test]
    fn a_token_file_may_hold_several_tokens_for_rotation() {
        let path = std::env::temp_dir().join(format!("colloquy-tokens-{}", std::process::id()));
        std::fs::write(&path, "old-token\n\n  new-token  \n").unwrap();
        let source = TokenSource {
            token_env: None,
            token_file: Some(path.clone()),
        };
        let set = TokenSet::load(&source, "auth.admin").unwrap();
        assert!(set.matches(b"old-token") && set.matches(b"new-token"));
        assert!(!set.matches(b"new-toke") && !set.matches(b""));
        assert_eq!(format!("{set:?}"), "TokenSet(2 tokens)");
        let client = BearerToken::load(&source, "store_auth").unwrap().unwrap();
        assert!(
            client.matches(b"old-token"),
            "a client sends the first line"
        );
        std::fs::write(&path, "\n\n").unwrap();
        assert!(TokenSet::load(&source, "auth.admin").is_err());
        std::fs::remove_file(&path).unwrap();
        assert!(
            TokenSet::load(&TokenSource::default(), "auth.read")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn tokens_load_from_files_and_name_the_setting_on_error() {
        let path = std::env::temp_dir().join(format!("colloquy-token-{}", std::process::id()));
        std::fs::write(&path, "abc123\n").unwrap();
        let source = TokenSource {
            token_env: None,
            token_file: Some(path.clone()),
        };
        assert!(
            BearerToken::load(&source, "auth")
                .unwrap()
                .unwrap()
                .matches(b"abc123")
        );
        std::fs::remove_file(&path).unwrap();
        let error = BearerToken::load(&source, "auth").unwrap_err().to_string();
        assert!(error.starts_with("auth: cannot read"), "{error}");
        let missing = TokenSource {
            token_env: Some("COLLOQUY_TEST_TOKEN_THAT_IS_NOT_SET".into()),
            token_file: None,
        };
        assert!(
            BearerToken::load(&missing, "store_auth")
                .unwrap_err()
                .to_string()
                .starts_with("store_auth:")
        );
    }
}
