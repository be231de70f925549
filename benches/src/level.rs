//! What the load levels of both benchmarks share: the measured window of a level and the
//! gRPC connections its workers take turns on.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

/// The measured part of a level: calls started from `start` on give latency samples, calls
/// finished between `start` and `end` count toward the rate.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    /// A window of `measured` that opens once `warmup` has passed.
    pub fn after(warmup: Duration, measured: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self {
            start,
            end: start + measured,
        }
    }

    /// Whether a call started at `started` is a latency sample.
    pub fn samples(&self, started: Instant) -> bool {
        started >= self.start
    }

    /// Whether a call finished at `finished` counts toward the rate.
    pub fn counts(&self, finished: Instant) -> bool {
        finished >= self.start && finished <= self.end
    }
}

/// `count` separate HTTP/2 connections to `server` at `addr`.
pub async fn connect(addr: SocketAddr, count: u32, server: &str) -> anyhow::Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let mut channels = Vec::new();
    for _ in 0..count {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to the {server} at {addr}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_samples_from_its_start_and_counts_up_to_its_end() {
        let window = Window::after(Duration::from_secs(2), Duration::from_secs(10));
        let before = window.start - Duration::from_millis(1);
        assert!(!window.samples(before));
        assert!(window.samples(window.start));
        assert!(!window.counts(before));
        assert!(window.counts(window.start));
        assert!(window.counts(window.end));
        assert!(!window.counts(window.end + Duration::from_millis(1)));
    }
}
