//! Opens the provider stream: the caller's platform first, then its configured fallbacks,
//! moving on only while the failure before the first byte is one another platform may not
//! share: a retryable one (after the provider client's own retries), or a platform out of
//! credits where the platform allows it.

use std::sync::Arc;

use colloquy_providers::{CompletionStream, ProviderClient, ProviderError};

use crate::platforms::{PlatformRegistry, ResolvedPlatform};
use crate::turn::Turn;

/// The provider stream that opened, on the platform that opened it.
pub(crate) struct Opened {
    pub stream: CompletionStream,
    pub platform: Arc<ResolvedPlatform>,
    pub model: String,
}

/// The failure of the last platform tried.
pub(crate) struct Failed {
    pub error: ProviderError,
    pub platform: Arc<ResolvedPlatform>,
    pub model: String,
}

/// Tries the primary platform, then its fallbacks while the failure is retryable.
pub(crate) async fn open(
    client: &ProviderClient,
    registry: &PlatformRegistry,
    turn: &Turn,
) -> Result<Opened, Failed> {
    let mut fallbacks = registry
        .candidates(&turn.primary)
        .into_iter()
        .skip(1)
        .filter_map(|platform| match turn.fallback_model(&platform) {
            Some(model) => Some((platform, model)),
            None => {
                tracing::warn!(platform = %platform.platform.name, "fallback skipped: no model to ask for, or outside the caller's key scope");
                None
            }
        });
    let (mut platform, mut model) = (Arc::clone(&turn.primary), turn.model.clone());
    loop {
        let request = turn.provider_request(&platform, &model);
        let error = match client.start(&platform.endpoint, &request, turn.clock).await {
            Ok(stream) => {
                return Ok(Opened {
                    stream,
                    platform,
                    model,
                });
            }
            Err(error) => error,
        };
        let retryable = error.retryable();
        let moves_on = platform.falls_back_after(&error);
        tracing::warn!(
            platform = %platform.platform.name,
            code = error.code(),
            provider_code = %error.provider_code,
            http_status = ?error.http_status,
            retryable,
            "provider failed before its first byte"
        );
        match fallbacks.next().filter(|_| moves_on) {
            Some((next, next_model)) => {
                tracing::info!(from = %platform.platform.name, to = %next.platform.name, model = %next_model, "falling back");
                (platform, model) = (next, next_model);
            }
            None => {
                return Err(Failed {
                    error,
                    platform,
                    model,
                });
            }
        }
    }
}
