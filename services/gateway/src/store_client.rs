//! The gateway's connection to the conversation store: plain or TLS, with the store's bearer
//! token, and for a `dns:///host:port` URL balanced across every address the name resolves
//! to, so long-lived HTTP/2 connections spread over all store replicas (a Kubernetes headless
//! Service).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use colloquy_access::{AttachToken, BearerToken, TokenChannel, client_tls};
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

use crate::settings::Settings;

/// How often a `dns:///` name is resolved again, to follow replicas coming and going.
const RESOLVE_EVERY: Duration = Duration::from_secs(10);

pub fn connect(settings: &Settings) -> anyhow::Result<ConversationStoreClient<TokenChannel>> {
    let token = BearerToken::load(&settings.store_auth, "store_auth")?;
    let channel = match settings.store_url.strip_prefix("dns:///") {
        Some(target) => balanced(target, settings)?,
        // Lazy, so the gateway starts (and streams) while the store is still coming up.
        None => endpoint(&settings.store_url, settings, None)?.connect_lazy(),
    };
    // Records and conversation histories can be as large as the store accepts, far past
    // tonic's default of 4 MiB.
    let limit = settings.limits.max_store_message_bytes;
    Ok(
        ConversationStoreClient::with_interceptor(channel, AttachToken::new(token.as_ref()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
}

/// `tls_domain` is the name the store's certificate must carry when the URL holds an address.
fn endpoint(url: &str, settings: &Settings, tls_domain: Option<&str>) -> anyhow::Result<Endpoint> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .with_context(|| format!("store_url: {url:?} is not a valid URI"))?
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    if let Some(ca) = &settings.store_ca_file {
        let mut tls = client_tls(ca, "store_ca_file")?;
        if let Some(domain) = tls_domain {
            tls = tls.domain_name(domain);
        }
        endpoint = endpoint
            .tls_config(tls)
            .context("store_ca_file: TLS configuration")?;
    }
    Ok(endpoint)
}

fn balanced(target: &str, settings: &Settings) -> anyhow::Result<Channel> {
    let host = target
        .rsplit_once(':')
        .map(|(host, _)| host)
        .unwrap_or(target)
        .to_string();
    let scheme = if settings.store_ca_file.is_some() {
        "https"
    } else {
        "http"
    };
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    let target = target.to_string();
    let settings = settings.clone();
    tokio::spawn(async move {
        let mut known: HashSet<SocketAddr> = HashSet::new();
        loop {
            match tokio::net::lookup_host(&target).await {
                Ok(addrs) => {
                    let current: HashSet<SocketAddr> = addrs.collect();
                    for gone in known.difference(&current) {
                        let _ = changes.send(Change::Remove(*gone)).await;
                    }
                    for new in current.difference(&known) {
                        // TLS checks the certificate against the service name, not the pod IP.
                        match endpoint(&format!("{scheme}://{new}"), &settings, Some(&host)) {
                            Ok(endpoint) => {
                                let _ = changes.send(Change::Insert(*new, endpoint)).await;
                            }
                            Err(error) => tracing::error!(%error, "store endpoint skipped"),
                        }
                    }
                    known = current;
                }
                Err(error) => tracing::warn!(%error, %target, "cannot resolve the store"),
            }
            if changes.is_closed() {
                return;
            }
            tokio::time::sleep(RESOLVE_EVERY).await;
        }
    });
    Ok(channel)
}
