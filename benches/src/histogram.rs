//! A Prometheus histogram read from a service's `/metrics` text, for percentiles the service
//! measured itself (to the resolution of its buckets).

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET /metrics` of the endpoint at `addr`: the exposition text.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot reach the metrics endpoint at {addr}"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains(" 200") => Ok(body.to_string()),
        _ => bail!("the metrics endpoint at {addr} did not answer 200"),
    }
}

/// The cumulative buckets of histogram `name` (without labels): (upper bound, count), in
/// order.
pub fn buckets(text: &str, name: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q` (0–1), and how many were observed;
/// `None` when nothing was.
pub fn quantile_bound(buckets: &[(f64, u64)], q: f64) -> Option<(f64, u64)> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil() as u64;
    buckets
        .iter()
        .find(|(_, count)| *count >= rank)
        .map(|(bound, _)| (*bound, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_read_as_bucket_bounds() {
        let text = "# HELP x_seconds help\n\
                    x_seconds_sum 0.5\n\
                    x_seconds_count 100\n\
                    x_seconds_bucket{le=\"0.00001\"} 10\n\
                    x_seconds_bucket{le=\"0.00002\"} 90\n\
                    x_seconds_bucket{le=\"0.00004\"} 99\n\
                    x_seconds_bucket{le=\"+Inf\"} 100\n";
        let found = buckets(text, "x_seconds");
        assert_eq!(found.len(), 4);
        assert_eq!(quantile_bound(&found, 0.5), Some((0.00002, 100)));
        assert_eq!(quantile_bound(&found, 0.99), Some((0.00004, 100)));
        assert_eq!(quantile_bound(&found, 1.0), Some((f64::INFINITY, 100)));
        assert_eq!(quantile_bound(&[], 0.5), None);
    }
}
