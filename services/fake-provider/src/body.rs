//! Response body that hands out a pre-rendered buffer in network-sized pieces, with optional
//! delays and a scripted connection cut, and reports how a stream ended.
//!
//! Everything a response will send is rendered into one `Bytes` up front; each piece is a
//! zero-copy slice of it. No task or channel per stream: the body itself is the state machine
//! hyper polls, which keeps thousands of concurrent streams cheap.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::recorder::StreamGuard;

/// Pause before a scripted cut, long enough for hyper to flush what was already sent.
const CUT_GRACE: Duration = Duration::from_millis(20);

/// Where the buffer is split into pieces.
pub(crate) enum Cuts {
    /// One piece.
    Whole,
    /// End offsets of successive pieces, shared with a loaded fixture.
    Shared(Arc<[usize]>),
    /// End offsets of successive pieces, rendered for this response.
    Owned(Vec<usize>),
    /// Every N bytes, regardless of content.
    Every(usize),
}

impl Cuts {
    /// End of the piece starting at `pos`; always past `pos` so the body makes progress.
    fn end(&self, index: usize, pos: usize, len: usize) -> usize {
        let end = match self {
            Cuts::Whole => len,
            Cuts::Shared(offsets) => offsets.get(index).copied().unwrap_or(len),
            Cuts::Owned(offsets) => offsets.get(index).copied().unwrap_or(len),
            Cuts::Every(n) => pos.saturating_add((*n).max(1)),
        };
        if end <= pos { len } else { end.min(len) }
    }
}

/// Pre-rendered response body.
pub(crate) struct ScriptBody {
    data: Bytes,
    pos: usize,
    piece: usize,
    cuts: Cuts,
    first_delay: Duration,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    sleeping: bool,
    sent_any: bool,
    /// Ends with a transport error instead of a clean end, so hyper closes the connection
    /// without the final chunk: the client sees a truncated body.
    cut_connection: bool,
    finished: bool,
    guard: Option<StreamGuard>,
}

impl ScriptBody {
    /// A body sent as a single piece.
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        Self::pieces(data.into(), Cuts::Whole)
    }

    pub(crate) fn pieces(data: Bytes, cuts: Cuts) -> Self {
        Self {
            data,
            pos: 0,
            piece: 0,
            cuts,
            first_delay: Duration::ZERO,
            delay: Duration::ZERO,
            sleep: None,
            sleeping: false,
            sent_any: false,
            cut_connection: false,
            finished: false,
            guard: None,
        }
    }

    /// Waits `first` before the first piece and `every` before each later one.
    pub(crate) fn with_delays(mut self, first: Duration, every: Duration) -> Self {
        self.first_delay = first;
        self.delay = every;
        self
    }

    /// Cuts the connection after the last byte instead of ending cleanly.
    pub(crate) fn cut_connection_at_end(mut self) -> Self {
        self.cut_connection = true;
        self
    }

    /// Counts this body as a stream whose outcome the guard records.
    pub(crate) fn tracked(mut self, guard: StreamGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    fn finish(&mut self) {
        self.finished = true;
        if let Some(mut guard) = self.guard.take() {
            guard.completed();
        }
    }
}

impl ScriptBody {
    /// Waits `wait` (if non-zero) on the reusable timer; `Ready` once it has elapsed.
    fn poll_pause(&mut self, cx: &mut Context<'_>, wait: Duration) -> Poll<()> {
        if wait.is_zero() {
            return Poll::Ready(());
        }
        if !self.sleeping {
            let deadline = Instant::now() + wait;
            match self.sleep.as_mut() {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.sleeping = true;
        }
        if let Some(sleep) = self.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
        }
        self.sleeping = false;
        Poll::Ready(())
    }
}

impl Body for ScriptBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let len = this.data.len();
        if this.finished {
            return Poll::Ready(None);
        }
        if this.pos >= len {
            if this.cut_connection {
                // hyper discards whatever is still in its write buffer when the body fails;
                // pausing first lets it flush the bytes the client is meant to receive.
                ready!(this.poll_pause(cx, CUT_GRACE));
                this.finished = true;
                if let Some(mut guard) = this.guard.take() {
                    guard.dropped();
                }
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection cut by fake-provider scenario",
                ))));
            }
            this.finish();
            return Poll::Ready(None);
        }
        let wait = if this.sent_any {
            this.delay
        } else {
            this.first_delay
        };
        ready!(this.poll_pause(cx, wait));
        let end = this.cuts.end(this.piece, this.pos, len);
        let chunk = this.data.slice(this.pos..end);
        this.pos = end;
        this.piece += 1;
        this.sent_any = true;
        if this.pos >= len && !this.cut_connection {
            // The last byte is with hyper now; hyper may not poll again once it sees the end.
            this.finish();
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        // An exact size makes hyper send content-length; streams and cut bodies stay chunked
        // like the real APIs' event streams.
        if self.guard.is_none() && !self.cut_connection && !self.finished {
            SizeHint::with_exact((self.data.len() - self.pos) as u64)
        } else {
            SizeHint::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_always_progress() {
        assert_eq!(Cuts::Whole.end(0, 0, 10), 10);
        assert_eq!(Cuts::Every(3).end(0, 9, 10), 10);
        assert_eq!(Cuts::Every(0).end(0, 0, 10), 1);
        assert_eq!(Cuts::Owned(vec![4, 4, 10]).end(1, 4, 10), 10);
        assert_eq!(Cuts::Owned(vec![4]).end(5, 4, 10), 10);
    }
}
