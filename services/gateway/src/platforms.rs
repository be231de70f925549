//! The platform registry: each configured platform name resolved once, at startup, into the
//! provider endpoint to call, the platform as records name it, and its fallbacks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use colloquy_providers::{ApiKey, Endpoint, ErrorKind, ProviderError, RetryPolicy, Timeouts};
use colloquy_records::Platform;

use crate::settings::{PlatformSettings, RetrySettings, Settings, TimeoutSettings};

/// A platform that could not be loaded, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct PlatformError {
    pub key: String,
    pub reason: String,
}

/// One configured platform, ready to call.
#[derive(Debug)]
pub struct ResolvedPlatform {
    /// What the provider client needs to call it; its API key never prints itself.
    pub endpoint: Endpoint,
    /// The platform as it is recorded with each completion.
    pub platform: Platform,
    /// Names of the platforms tried, in order, when this one fails retryably before its
    /// first byte.
    pub fallbacks: Vec<String>,
    /// Whether the fallbacks are tried when this platform refuses for want of credits.
    pub fallback_on_insufficient_credits: bool,
    /// The configured models (and the default one), which metrics name.
    known_models: BTreeSet<String>,
}

/// The metric label of a model no platform lists.
pub const OTHER_MODEL: &str = "other";

impl ResolvedPlatform {
    /// Whether this platform's fallbacks are tried after `error` before the first byte: a
    /// failure another platform may not share, a billing refusal only where allowed.
    pub fn falls_back_after(&self, error: &ProviderError) -> bool {
        match error.kind {
            ErrorKind::InsufficientCredits => self.fallback_on_insufficient_credits,
            kind => kind.another_platform_may_succeed(),
        }
    }

    /// The model as metrics name it: itself when configured, else `other`.
    pub fn metric_model<'a>(&self, model: &'a str) -> &'a str {
        if self.known_models.contains(model) {
            model
        } else {
            OTHER_MODEL
        }
    }
}

/// Every configured platform by name.
#[derive(Debug)]
pub struct PlatformRegistry {
    platforms: BTreeMap<String, Arc<ResolvedPlatform>>,
}

impl PlatformRegistry {
    /// Resolves every platform of the settings, reading API keys from the environment or
    /// their files.
    pub fn load(settings: &Settings) -> Result<Self, PlatformError> {
        Self::load_with(settings, |var| std::env::var(var).ok())
    }

    /// Like [`PlatformRegistry::load`], reading environment variables through `env`.
    pub fn load_with(
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PlatformError> {
        let platforms = settings
            .platforms
            .iter()
            .map(|(name, platform)| Ok((name.clone(), Arc::new(resolve(name, platform, &env)?))))
            .collect::<Result<_, PlatformError>>()?;
        Ok(Self { platforms })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ResolvedPlatform>> {
        self.platforms.get(name)
    }

    /// The platform and then its fallbacks, in the order they are tried.
    pub fn candidates(&self, primary: &Arc<ResolvedPlatform>) -> Vec<Arc<ResolvedPlatform>> {
        std::iter::once(Arc::clone(primary))
            .chain(
                primary
                    .fallbacks
                    .iter()
                    .filter_map(|name| self.get(name).cloned()),
            )
            .collect()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.platforms.keys().map(String::as_str)
    }
}

fn resolve(
    name: &str,
    settings: &PlatformSettings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ResolvedPlatform, PlatformError> {
    let key = read_api_key(name, settings, env)?;
    let endpoint = Endpoint {
        kind: settings.kind,
        api: settings.api,
        base_url: settings.base_url.trim_end_matches('/').to_string(),
        api_key: ApiKey::from(key),
        extra_headers: settings
            .extra_headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeouts: timeouts(&settings.timeouts),
        retry: retry(&settings.retry),
    };
    let platform = Platform {
        name: name.to_string(),
        kind: settings.kind,
        base_url: endpoint.base_url.clone(),
        default_model: settings.default_model.clone(),
        store_content: settings.store_content,
    };
    let known_models = settings
        .models
        .iter()
        .chain(std::iter::once(&settings.default_model))
        .filter(|model| !model.is_empty())
        .cloned()
        .collect();
    Ok(ResolvedPlatform {
        endpoint,
        platform,
        fallbacks: settings.fallbacks.clone(),
        fallback_on_insufficient_credits: settings.fallback_on_insufficient_credits,
        known_models,
    })
}

fn read_api_key(
    name: &str,
    settings: &PlatformSettings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, PlatformError> {
    let error = |field: &str, reason: String| PlatformError {
        key: format!("platforms.{name}.{field}"),
        reason,
    };
    let key = match (&settings.api_key_env, &settings.api_key_file) {
        (Some(var), _) => env(var).ok_or_else(|| {
            error(
                "api_key_env",
                format!("environment variable {var} is not set"),
            )
        })?,
        (None, Some(path)) => read_key_file(path)
            .map_err(|e| error("api_key_file", format!("{}: {e}", path.display())))?,
        (None, None) => {
            return Err(error(
                "api_key_env",
                "one of api_key_env or api_key_file is required".into(),
            ));
        }
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        let field = if settings.api_key_env.is_some() {
            "api_key_env"
        } else {
            "api_key_file"
        };
        return Err(error(field, "the API key is empty".into()));
    }
    Ok(key)
}

fn read_key_file(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

fn timeouts(settings: &TimeoutSettings) -> Timeouts {
    let defaults = Timeouts::default();
    let ms = |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_millis);
    Timeouts {
        connect: ms(settings.connect_ms, defaults.connect),
        first_byte: ms(settings.first_byte_ms, defaults.first_byte),
        idle: ms(settings.idle_ms, defaults.idle),
        total: ms(settings.total_ms, defaults.total),
    }
}

fn retry(settings: &RetrySettings) -> RetryPolicy {
    let defaults = RetryPolicy::default();
    RetryPolicy {
        max_attempts: settings.max_attempts.unwrap_or(defaults.max_attempts),
        initial_backoff: settings
            .initial_backoff_ms
            .map_or(defaults.initial_backoff, Duration::from_millis),
        max_backoff: settings
            .max_backoff_ms
            .map_or(defaults.max_backoff, Duration::from_millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
        [platforms.primary]
        kind = "openai_chat"
        base_url = "http://127.0.0.1:8089/v1/"
        api_key_env = "PRIMARY_KEY"
        default_model = "gpt-4o-mini"
        fallbacks = ["secondary"]
        [platforms.primary.timeouts]
        first_byte_ms = 1500
        [platforms.secondary]
        kind = "anthropic"
        base_url = "http://127.0.0.1:8089/v1"
        api_key_env = "SECONDARY_KEY"
        store_content = false
    "#;

    fn env(var: &str) -> Option<String> {
        match var {
            "PRIMARY_KEY" => Some(" sk-primary-secret\n".into()),
            "SECONDARY_KEY" => Some("sk-ant-secret".into()),
            _ => None,
        }
    }

    #[test]
    fn resolves_platforms_and_fallbacks() {
        let settings = Settings::from_toml(TOML).unwrap();
        let registry = PlatformRegistry::load_with(&settings, env).unwrap();
        let primary = registry.get("primary").unwrap();
        assert_eq!(primary.platform.base_url, "http://127.0.0.1:8089/v1");
        assert_eq!(
            primary.endpoint.timeouts.first_byte,
            Duration::from_millis(1500)
        );
        assert_eq!(
            primary.endpoint.timeouts.idle,
            Timeouts::default().idle,
            "unset timeouts keep the client's defaults"
        );
        let order: Vec<String> = registry
            .candidates(primary)
            .iter()
            .map(|p| p.platform.name.clone())
            .collect();
        assert_eq!(order, ["primary", "secondary"]);
        assert!(!registry.get("secondary").unwrap().platform.store_content);
    }

    #[test]
    fn keys_are_trimmed_and_never_printed() {
        let settings = Settings::from_toml(TOML).unwrap();
        let registry = PlatformRegistry::load_with(&settings, env).unwrap();
        let printed = format!("{registry:?}");
        assert!(!printed.contains("secret"), "{printed}");
        let primary = registry.get("primary").unwrap();
        assert_eq!(
            redacted(primary, "Incorrect API key provided: sk-primary-secret."),
            "Incorrect API key provided: ***."
        );
    }

    fn redacted(platform: &ResolvedPlatform, text: &str) -> String {
        let mut text = text.to_string();
        platform.endpoint.api_key.redact(&mut text);
        text
    }

    #[test]
    fn names_the_missing_key() {
        let settings = Settings::from_toml(TOML).unwrap();
        let error = PlatformRegistry::load_with(&settings, |_| None).unwrap_err();
        assert_eq!(error.key, "platforms.primary.api_key_env");
        assert!(error.reason.contains("PRIMARY_KEY"));
    }

    #[test]
    fn reads_keys_from_files() {
        let dir = std::env::temp_dir().join(format!("gw-platforms-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("key");
        std::fs::write(&file, "sk-from-file\n").unwrap();
        let toml = format!(
            "[platforms.p]\nkind = \"openrouter\"\nbase_url = \"http://x/api/v1\"\napi_key_file = {:?}\n",
            file.display().to_string()
        );
        let settings = Settings::from_toml(&toml).unwrap();
        let registry = PlatformRegistry::load_with(&settings, |_| None).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            redacted(registry.get("p").unwrap(), "key sk-from-file"),
            "key ***"
        );
    }
}
