//! The shared client layer below the adapters: one pooled HTTP client, the retry loop,
//! timeouts, the SSE read loop and the terminal summary, written once for every provider.

mod backoff;
mod endpoint;
mod send;
mod stream;
mod summary;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use endpoint::{ApiKey, Endpoint, RequestClock, RetryPolicy, Timeouts};
pub use stream::CompletionStream;
pub use summary::{StreamEnd, cancelled_error, summary_before_first_byte, summary_for_error};

use crate::{Adapter, ErrorKind, ProviderError, ProviderRequest, adapters};

/// How long an unused keep-alive connection stays in the pool.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Probes long-lived, quiet streams so that a peer that vanished is noticed by the kernel.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// Sends completion requests to providers. Cheap to clone; clones share the connection
/// pools.
#[derive(Clone)]
pub struct ProviderClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// One HTTP client per distinct connect timeout, because reqwest fixes that timeout per
    /// client. Configurations hold a handful of platforms, so the list stays tiny, and all
    /// platforms with the default timeout share one pool.
    clients: Mutex<Vec<(Duration, reqwest::Client)>>,
}

impl ProviderClient {
    pub fn new() -> Result<Self, ProviderError> {
        // reqwest is built without a bundled TLS backend; the workspace's one backend is ring.
        // Installing it is a no-op when the process already chose a provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connect = Timeouts::default().connect;
        let client = http_client(connect)?;
        Ok(Self {
            inner: Arc::new(Inner {
                clients: Mutex::new(vec![(connect, client)]),
            }),
        })
    }

    /// Sends the request and waits until the provider answered 2xx, with its headers and the
    /// first bytes of its body.
    ///
    /// Retries with exponential backoff and jitter, honouring the provider's `retry-after`,
    /// only before the first byte of a 2xx body and only for retryable errors (connection
    /// failures, 408, 429, 5xx, 529, first-byte timeouts). Bounded by the endpoint's
    /// `max_attempts` and its total timeout, counted from `clock`.
    #[tracing::instrument(
        skip_all,
        fields(provider = %endpoint.kind, model = %request.model, attempt)
    )]
    pub async fn start(
        &self,
        endpoint: &Endpoint,
        request: &ProviderRequest,
        clock: RequestClock,
    ) -> Result<CompletionStream, ProviderError> {
        let adapter = adapters::for_api(endpoint.kind, endpoint.api);
        self.start_with_adapter(adapter, endpoint, request, clock)
            .await
    }

    pub(crate) async fn start_with_adapter(
        &self,
        mut adapter: Box<dyn Adapter>,
        endpoint: &Endpoint,
        request: &ProviderRequest,
        clock: RequestClock,
    ) -> Result<CompletionStream, ProviderError> {
        let http = self.http_for(endpoint.timeouts.connect)?;
        let prepared = send::prepare(adapter.as_ref(), endpoint, request)?;
        let (answer, attempts) =
            send::send_with_retries(&http, &prepared, adapter.as_ref(), endpoint, &clock).await?;
        adapter.on_headers(answer.response.headers());
        Ok(CompletionStream::new(
            adapter,
            answer,
            request.stream,
            endpoint.timeouts,
            clock,
            attempts,
            endpoint.api_key.clone(),
        ))
    }

    fn http_for(&self, connect: Duration) -> Result<reqwest::Client, ProviderError> {
        // Never held across an await: the client is cloned out (an `Arc` inside).
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, client)) = clients.iter().find(|(timeout, _)| *timeout == connect) {
            return Ok(client.clone());
        }
        let client = http_client(connect)?;
        clients.push((connect, client.clone()));
        Ok(client)
    }
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient").finish_non_exhaustive()
    }
}

/// An HTTP client tuned for many concurrent, long-lived streams.
fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .user_agent(concat!("colloquy/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        // Each HTTP/1.1 stream holds a connection, so every idle one is worth keeping for the
        // next request rather than paying a new TCP and TLS handshake.
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .tcp_keepalive(TCP_KEEPALIVE)
        // Attempts are counted and spaced by our own retry loop only; a redirected POST would
        // silently turn into a GET.
        .retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            ProviderError::local(
                ErrorKind::Unavailable,
                format!("could not build the HTTP client: {}", send::describe(e)),
            )
        })
}
