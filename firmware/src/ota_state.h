// Whether an OTA upload is being written (POST /api/update): the image
// API pauses its decode meanwhile, as on the team's device.
#pragma once

bool ota_in_progress();
