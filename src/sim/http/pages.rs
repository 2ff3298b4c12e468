//! The portal pages and their static assets. Each page does the memory
//! work of the device's (request object, send buffers) and tags a snapshot.

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{out_of_memory, AppState};
use crate::sim::device::DeviceFault;

pub(super) async fn page(State(shared): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    match shared.with_device(|d| d.serve_page(&path)) {
        Ok(()) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page_html(&path),
        )
            .into_response(),
        Err(DeviceFault::OutOfMemory) => out_of_memory(),
    }
}

fn page_html(path: &str) -> String {
    let (title, body) = match path {
        "/network.html" => (
            "Network",
            "<form id=\"net\"><label>SSID <input name=\"wifi_ssid\"></label>\
             <label>Password <input type=\"password\" name=\"wifi_password\"></label>\
             <button>Save</button></form>",
        ),
        "/firmware.html" => (
            "Firmware",
            "<p>Upload a new firmware image.</p><input type=\"file\" id=\"fw\"><button>Flash</button>",
        ),
        _ => (
            "Macropad",
            "<div id=\"macros\"></div><div id=\"health\"></div>\
             <nav><a href=\"/network.html\">Network</a> <a href=\"/firmware.html\">Firmware</a></nav>",
        ),
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/portal.css\"></head><body><h1>{title}</h1>{body}\
         <script src=\"/portal.js\"></script></body></html>"
    )
}

pub(super) async fn asset(State(shared): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if shared.with_device(|d| d.serve_small(1_024)).is_err() {
        return out_of_memory();
    }
    let (mime, body) = if path.ends_with(".css") {
        (
            "text/css",
            "body{font-family:sans-serif;margin:2em}h1{color:#246}nav a{margin-right:1em}",
        )
    } else {
        (
            "application/javascript",
            "fetch('/api/health').then(r=>r.json()).then(h=>{document.getElementById('health')\
             .textContent='internal free: '+h.heap_internal_free+' B'});",
        )
    };
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}
