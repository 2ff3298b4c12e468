//! Request bodies a handler answered without reading are read to their end
//! before the answer goes out. hyper closes a connection whose request body
//! was left unread, so a client still sending an upload (a firmware image
//! with a read-only token, an import over the size limit) would see a broken
//! pipe instead of the 401, 403 or 413 that says what to fix.
//!
//! The middleware hands the handler a body it can read as usual while
//! keeping hold of what the handler leaves; once the response is ready and
//! the handler (and anything it spawned) has let go, the rest is discarded,
//! bounded in size and time so a huge or trickling upload is still cut off.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

/// The most of an unread body read before answering.
const DRAIN_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// How long the rest of an upload may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The middleware over every route (outside the access policy, whose
/// refusals are the commonest unread bodies).
pub async fn read_to_end(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    if body.is_end_stream() || declared.is_some_and(|n| n > DRAIN_LIMIT_BYTES) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let kept = Arc::new(Mutex::new(Kept {
        body: Some(body),
        polled: false,
    }));
    let response = next
        .run(Request::from_parts(
            parts,
            Body::new(KeptBody(Arc::clone(&kept))),
        ))
        .await;
    // Still held elsewhere: a handler that streams the upload in a task
    // owns it; nothing is left over to discard here.
    let Some(kept) = Arc::into_inner(kept) else {
        return response;
    };
    let kept = kept.into_inner().unwrap_or_else(|e| e.into_inner());
    // A client waiting for `100 Continue` that never came has not sent its
    // body; reading it would invite the upload the answer refuses.
    if let (Some(rest), false) = (kept.body, expects_continue && !kept.polled) {
        if !rest.is_end_stream() {
            discard(rest).await;
        }
    }
    response
}

/// Reads and drops `rest`, up to the size and time bounds.
async fn discard(rest: Body) {
    let mut chunks = rest.into_data_stream();
    let drain = async {
        let mut read = 0u64;
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_LIMIT_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

/// The request body, shared between the handler and the middleware.
struct Kept {
    body: Option<Body>,
    /// Whether the handler ever asked for a frame.
    polled: bool,
}

struct KeptBody(Arc<Mutex<Kept>>);

impl KeptBody {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        // Only this body's own polls take the lock; a panic while holding
        // it leaves a body that is still safe to read.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HttpBody for KeptBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let mut kept = self.kept();
        kept.polled = true;
        match kept.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.kept().body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.kept()
            .body
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}
