//! `GET /api/v1/devices/{id}/live`: the device's parsed events as
//! Server-Sent Events (`snapshot`, `health`, `event`, `line`, `status`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::web::error::WebResult;
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/devices/{id}/live", get(live))
}

#[tracing::instrument(skip(state))]
async fn live(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> WebResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    state.store.device(id).await?;
    let receiver = state.hub.subscribe();
    // The current state first, so a page has something to show at once.
    let current = state.hub.device(id).unwrap_or_default();
    let first = Event::default()
        .event("status")
        .json_data(&current)
        .unwrap_or_else(|_| Event::default().event("status"));
    let updates = BroadcastStream::new(receiver).filter_map(move |item| async move {
        match item {
            Ok(ev) if ev.device_id == id => Event::default()
                .event(ev.kind)
                .json_data(serde_json::json!({"ts_us": ev.ts_us, "data": &*ev.data}))
                .ok()
                .map(Ok),
            // A lagging client skipped some events: tell it, keep going.
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(Event::default().event("lagged").data(n.to_string())))
            }
            _ => None,
        }
    });
    let stream = stream::once(async move { Ok(first) }).chain(updates);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
