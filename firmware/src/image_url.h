// POST /api/display/image_url (device-api.md §8): the handler checks and
// queues one URL; the main loop downloads it with esp_http_client into a
// PSRAM-first buffer and hands it to the image API (no preflight, as on
// the team's device). Tags: "urlimg pre-download", "urlimg post-download",
// "urlimg download-fail". heaplab's twin does the same (src/sim/http/image.rs).
#pragma once

class AsyncWebServer;

void routes_image_url(AsyncWebServer &server);
void image_url_loop();  // main loop only
