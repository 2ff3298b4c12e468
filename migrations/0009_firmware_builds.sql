-- Every build `heaplab flash` put on a device: which version, which ELF
-- (by its SHA-256, as the image's esp_app_desc_t names it) and when. The
-- ELF itself, when it was found, is in firmware_elves under the version.
CREATE TABLE firmware_builds (
    id           INTEGER PRIMARY KEY,
    device_id    INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    version      TEXT NOT NULL,
    project_name TEXT NOT NULL,
    elf_sha256   TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    image_size   INTEGER NOT NULL,
    elf_attached INTEGER NOT NULL,
    flashed_us   INTEGER NOT NULL
);

CREATE INDEX firmware_builds_by_device ON firmware_builds (device_id, flashed_us);
