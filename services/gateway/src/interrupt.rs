//! What ends a completion early besides the provider: the caller hanging up, the caller's
//! deadline passing, or the gateway giving up on running completions at shutdown.

use std::future::pending;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::status::GatewayError;

/// Why a completion was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    CallerGone,
    DeadlinePassed,
    ShuttingDown,
}

impl Interruption {
    /// The reason recorded with the cancelled completion.
    pub fn reason(self) -> &'static str {
        match self {
            Self::CallerGone => "caller hung up",
            Self::DeadlinePassed => "caller deadline passed",
            Self::ShuttingDown => "gateway shutting down",
        }
    }

    /// The answer to a caller whose completion never started.
    pub fn into_error(self) -> GatewayError {
        match self {
            Self::CallerGone => GatewayError::Cancelled(self.reason().into()),
            Self::DeadlinePassed => GatewayError::DeadlineExceeded,
            Self::ShuttingDown => GatewayError::ShuttingDown,
        }
    }
}

/// Resolves with the first interruption. Made once per completion and polled by reference,
/// so the per-delta loop creates no timers.
pub(crate) async fn interruption<T>(
    events: &mpsc::Sender<T>,
    deadline: Option<Instant>,
    mut shutdown: watch::Receiver<bool>,
) -> Interruption {
    let deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => pending().await,
        }
    };
    let shutdown = async {
        // A dropped sender means no shutdown will ever be requested.
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            pending::<()>().await;
        }
    };
    tokio::select! {
        biased;
        _ = events.closed() => Interruption::CallerGone,
        _ = deadline => Interruption::DeadlinePassed,
        _ = shutdown => Interruption::ShuttingDown,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn notices_each_interruption() {
        let (tx, rx) = mpsc::channel::<()>(1);
        let (_stop_tx, stop) = watch::channel(false);
        drop(rx);
        assert_eq!(
            interruption(&tx, None, stop.clone()).await,
            Interruption::CallerGone
        );

        let (tx, _rx) = mpsc::channel::<()>(1);
        let soon = Instant::now() + Duration::from_millis(5);
        assert_eq!(
            interruption(&tx, Some(soon), stop).await,
            Interruption::DeadlinePassed
        );

        let (stop_tx, stop) = watch::channel(false);
        let waiting = tokio::spawn(async move { interruption(&tx, None, stop).await });
        stop_tx.send_replace(true);
        assert_eq!(waiting.await.unwrap(), Interruption::ShuttingDown);
    }

    #[tokio::test]
    async fn a_dropped_shutdown_sender_is_no_interruption() {
        let (tx, _rx) = mpsc::channel::<()>(1);
        let (stop_tx, stop) = watch::channel(false);
        drop(stop_tx);
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            interruption(&tx, Some(soon), stop).await,
            Interruption::DeadlinePassed
        );
    }
}
