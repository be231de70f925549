//! Sends a recorded fixture back exactly: recorded status and headers, body bytes unchanged,
//! split at event boundaries or every N bytes.

use std::sync::Arc;

use http::Response;

use crate::body::{Cuts, ScriptBody};
use crate::fixtures::Fixture;
use crate::recorder::Recorder;
use crate::scenario::Pacing;

pub(crate) async fn respond(
    fixture: &Fixture,
    mut pacing: Pacing,
    recorder: &Arc<Recorder>,
) -> Response<ScriptBody> {
    if !fixture.is_stream && !pacing.first_byte_delay.is_zero() {
        // A JSON answer arrives all at once, headers included, when it is ready.
        tokio::time::sleep(pacing.first_byte_delay).await;
        pacing.first_byte_delay = std::time::Duration::ZERO;
    }
    let cuts = match pacing.chunk_bytes {
        Some(n) => Cuts::Every(n),
        None => Cuts::Shared(Arc::clone(&fixture.cuts)),
    };
    let mut body = ScriptBody::pieces(fixture.body.clone(), cuts)
        .with_delays(pacing.first_byte_delay, pacing.chunk_delay);
    if fixture.is_stream {
        body = body.tracked(recorder.stream_started());
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = fixture.status;
    *resp.headers_mut() = fixture.headers.clone();
    resp
}
