// Small portal pages served straight from flash (no RAM copy): the
// (const uint8_t*, len) send() overload streams from the pointer.
#include "mem_telemetry.h"
#include "web_server.h"

static const char INDEX_HTML[] PROGMEM = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>heaplab device</title><link rel="stylesheet" href="/portal.css"></head>
<body><nav><a href="/">Home</a> <a href="/network.html">Network</a> <a href="/firmware.html">Firmware</a></nav>
<h1>heaplab device</h1><p>Live heap numbers from <code>/api/health</code>:</p>
<pre id="health">loading...</pre><script src="/portal.js"></script></body></html>
)HTML";

static const char NETWORK_HTML[] PROGMEM = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Network</title><link rel="stylesheet" href="/portal.css"></head>
<body><nav><a href="/">Home</a> <a href="/network.html">Network</a> <a href="/firmware.html">Firmware</a></nav>
<h1>Network</h1><pre id="config">loading...</pre>
<script src="/portal.js"></script><script>show('/api/config','config')</script></body></html>
)HTML";

static const char FIRMWARE_HTML[] PROGMEM = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Firmware</title><link rel="stylesheet" href="/portal.css"></head>
<body><nav><a href="/">Home</a> <a href="/network.html">Network</a> <a href="/firmware.html">Firmware</a></nav>
<h1>Firmware</h1><pre id="info">loading...</pre>
<button onclick="fetch('/api/reboot',{method:'POST'})">Reboot</button>
<script src="/portal.js"></script><script>show('/api/info','info')</script></body></html>
)HTML";

static const char PORTAL_CSS[] PROGMEM = R"CSS(body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:48rem}
nav a{margin-right:1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}
)CSS";

static const char PORTAL_JS[] PROGMEM = R"JS(function show(url,id){fetch(url).then(r=>r.json())
.then(j=>{document.getElementById(id).textContent=JSON.stringify(j,null,2)})
.catch(e=>{document.getElementById(id).textContent=String(e)})}
if(document.getElementById('health')){show('/api/health','health')}
)JS";

static void page(AsyncWebServer &server, const char *uri, const char *type, const char *body, size_t len,
                 const char *tag) {
  server.on(uri, HTTP_GET, [type, body, len, tag](AsyncWebServerRequest *req) {
    if (!web_authorized(req)) return;
    if (tag) mem_snapshot_request(tag);  // emitted later from loop()
    req->send(200, type, reinterpret_cast<const uint8_t *>(body), len);
  });
}

void routes_pages(AsyncWebServer &server) {
  page(server, "/network.html", "text/html", NETWORK_HTML, sizeof NETWORK_HTML - 1, "http_network");
  page(server, "/firmware.html", "text/html", FIRMWARE_HTML, sizeof FIRMWARE_HTML - 1, "http_firmware");
  page(server, "/portal.css", "text/css", PORTAL_CSS, sizeof PORTAL_CSS - 1, nullptr);
  page(server, "/portal.js", "application/javascript", PORTAL_JS, sizeof PORTAL_JS - 1, nullptr);
  page(server, "/index.html", "text/html", INDEX_HTML, sizeof INDEX_HTML - 1, "http_root");
  page(server, "/", "text/html", INDEX_HTML, sizeof INDEX_HTML - 1, "http_root");
}
