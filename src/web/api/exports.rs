//! Whole-run exports that stream: NDJSON or CSV of a run's snapshots,
//! events or health polls, read page by page (keyset) and sent as they are
//! read, so exporting a week-long run holds one page in memory, not the run.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};

use crate::store::{EventRow, HealthRow, PageRequest, SnapshotRow, Store, StoreError};
use crate::web::error::{WebError, WebResult};
use crate::web::state::AppState;

/// Rows read per query while streaming.
const EXPORT_PAGE: i64 = 5_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/runs/{id}/export/{file}", get(export))
}

/// What is exported and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Snapshots,
    Events,
    Health,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
}

fn parse_file(file: &str) -> Option<(Table, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let table = match name {
        "snapshots" => Table::Snapshots,
        "events" => Table::Events,
        "health" => Table::Health,
        _ => return None,
    };
    let format = match ext {
        "ndjson" => Format::Ndjson,
        "csv" => Format::Csv,
        _ => return None,
    };
    Some((table, format))
}

/// `GET /api/v1/runs/{id}/export/snapshots.ndjson` (or `.csv`; `events`,
/// `health`).
#[tracing::instrument(skip(state))]
async fn export(
    State(state): State<AppState>,
    Path((id, file)): Path<(i64, String)>,
) -> WebResult<Response> {
    let Some((table, format)) = parse_file(&file) else {
        return Err(WebError::NotFound(format!(
            "export {file:?} (snapshots, events or health, .ndjson or .csv)"
        )));
    };
    state.store.run(id).await?;
    let content_type = match format {
        Format::Ndjson => "application/x-ndjson",
        Format::Csv => "text/csv; charset=utf-8",
    };
    let body = Body::from_stream(rows(state.store.clone(), id, table, format));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{id}-{file}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The export as chunks of text, one page of rows per chunk; a read error
/// ends the stream with that error (the client sees a cut response, never
/// a silently short file that looks complete).
fn rows(
    store: Store,
    run: i64,
    table: Table,
    format: Format,
) -> impl Stream<Item = Result<String, StoreError>> {
    let header = (format == Format::Csv).then(|| csv_header(table).to_owned());
    stream::unfold((Some(0i64), header), move |(after, header)| {
        let store = store.clone();
        async move {
            if let Some(h) = header {
                return Some((Ok(h), (after, None)));
            }
            let after = after?;
            let page = PageRequest {
                after,
                limit: EXPORT_PAGE,
            };
            let chunk = match table {
                Table::Snapshots => store
                    .snapshots_page(run, page)
                    .await
                    .map(|r| render(&r, format, |s| s.seq, snapshot_csv)),
                Table::Events => store
                    .events_page(run, &[], page)
                    .await
                    .map(|r| render(&r, format, |e| e.seq, event_csv)),
                Table::Health => store
                    .health_page(run, page)
                    .await
                    .map(|r| render(&r, format, |h| h.seq, health_csv)),
            };
            match chunk {
                Err(e) => Some((Err(e), (None, None))),
                Ok((_, None)) => None,
                Ok((text, Some(last))) => Some((Ok(text), (Some(last), None))),
            }
        }
    })
}

/// One page as text, and the last key in it (`None` when the page is empty).
fn render<T: serde::Serialize>(
    rows: &[T],
    format: Format,
    key: impl Fn(&T) -> i64,
    csv: impl Fn(&T) -> String,
) -> (String, Option<i64>) {
    let mut out = String::new();
    for row in rows {
        match format {
            Format::Ndjson => {
                out.push_str(&serde_json::to_string(row).unwrap_or_default());
                out.push('\n');
            }
            Format::Csv => {
                out.push_str(&csv(row));
                out.push('\n');
            }
        }
    }
    (out, rows.last().map(key))
}

fn csv_header(table: Table) -> &'static str {
    match table {
        Table::Snapshots => "seq,ts_us,boot,line_no,tag,hf,hm,hl,hi,hin,frag,pf,pm,pl\n",
        Table::Events => "seq,ts_us,boot,line_no,kind,message\n",
        Table::Health => "seq,ts_us,http_status,latency_ms,heap_internal_free,heap_internal_min,psram_free,error\n",
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn snapshot_csv(r: &SnapshotRow) -> String {
    let values: Vec<String> = r.snapshot.values().into_iter().map(opt).collect();
    format!(
        "{},{},{},{},{},{}",
        r.seq,
        r.ts_us,
        r.boot,
        opt(r.line_no),
        field(&r.snapshot.tag),
        values.join(",")
    )
}

fn event_csv(e: &EventRow) -> String {
    format!(
        "{},{},{},{},{},{}",
        e.seq,
        e.ts_us,
        e.boot,
        opt(e.line_no),
        e.kind,
        field(&e.message)
    )
}

fn health_csv(h: &HealthRow) -> String {
    let s = h.sample.clone().unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{}",
        h.seq,
        h.ts_us,
        opt(h.http_status),
        opt(h.latency_ms),
        opt(s.heap_internal_free),
        opt(s.heap_internal_min),
        opt(s.psram_free),
        field(h.error.as_deref().unwrap_or(""))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_csv_quoting() {
        assert_eq!(
            parse_file("snapshots.csv"),
            Some((Table::Snapshots, Format::Csv))
        );
        assert_eq!(
            parse_file("events.ndjson"),
            Some((Table::Events, Format::Ndjson))
        );
        assert_eq!(parse_file("serial.csv"), None);
        assert_eq!(parse_file("health"), None);
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain"), "plain");
    }
}
