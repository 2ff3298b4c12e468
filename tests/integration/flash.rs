//! `heaplab flash` end to end: the binary uploads a real ESP32-S3 app image
//! (made by `ImageBuilder`, no toolchain) over HTTP to a twin, watches its
//! pty for the reboot into the new version, and records the build; and the
//! same through a server (`--server`, `POST /api/v1/devices/{id}/flash`),
//! for a board of its own and for one plugged into an agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use heaplab::flash::{Form, Progress};
use heaplab::protocol::app_image::{AppImage, ImageBuilder};
use heaplab::sim::{Profile, Twin, TwinConfig};
use heaplab::store::{DeviceSpec, FirmwareBuildRecord, Store, TokenScope};

use crate::central::{stored_lines, BoardBehindAgent};
use crate::helpers::eventually;

const ELF: &[u8] = b"\x7fELF pretend firmware.elf for v2.1.0";

pub(crate) struct Bench {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub twin: Twin,
}

impl Bench {
    /// The builds the database records for `desk`, read afresh.
    pub(crate) async fn desk_builds(&self) -> Vec<FirmwareBuildRecord> {
        let store = Store::open(&self.db).await.expect("store");
        let device = store
            .device_by_name("desk")
            .await
            .expect("q")
            .expect("desk");
        store.firmware_builds(device.id).await.expect("builds")
    }
}

/// The twin's own `POST /api/update` of `bytes` as `filename`.
async fn twin_update(twin: &Twin, filename: &str, bytes: &[u8]) -> reqwest::Response {
    let (body, content_type) =
        heaplab::sim::multipart::encode_file("file", filename, "application/octet-stream", bytes);
    reqwest::Client::new()
        .post(format!("{}/api/update", twin.base_url()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST /api/update")
}

/// A twin on a pty and a database that knows it as `desk`.
async fn bench() -> Bench {
    bench_with_heartbeat(Duration::from_millis(500)).await
}

/// [`bench`] with the twin's heartbeat at `hb` (the USB tests read its
/// boot on the port they flashed through, and want it soon).
pub(crate) async fn bench_with_heartbeat(hb: Duration) -> Bench {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = TwinConfig::new("flash-twin", Profile::Tuned);
    config.hb_interval = hb;
    config.link = Some(dir.path().join("tty"));
    let twin = Twin::spawn(config).await.expect("twin");
    let db = dir.path().join("flash.db");
    let store = Store::open(&db).await.expect("store");
    store
        .create_device(&DeviceSpec {
            name: "desk".into(),
            serial: Some(twin.serial_path().display().to_string()),
            url: Some(twin.base_url()),
            baud: 115_200,
            health_interval_s: 0,
            ..Default::default()
        })
        .await
        .expect("device");
    Bench { dir, db, twin }
}

/// `firmware/.pio/build/<env>/firmware.{bin,elf}` under `root`.
fn pio_build(root: &Path, env: &str, image: &[u8], elf: Option<&[u8]>) -> PathBuf {
    let build = root.join(".pio/build").join(env);
    std::fs::create_dir_all(&build).expect("mkdir");
    std::fs::write(build.join("firmware.bin"), image).expect("bin");
    if let Some(elf) = elf {
        std::fs::write(build.join("firmware.elf"), elf).expect("elf");
    }
    build
}

/// Runs the binary; a hang guard (not a timing assertion) stops a stuck run.
pub(crate) async fn heaplab(db: &Path, args: &[&str]) -> std::process::Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_heaplab"))
        .arg("--db")
        .arg(db)
        .env_remove("HEAPLAB_DB")
        .env_remove("HEAPLAB_TOKEN")
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("heaplab finished")
        .expect("run heaplab")
}

async fn info_version(twin: &Twin) -> String {
    let info: serde_json::Value = reqwest::get(format!("{}/api/info", twin.base_url()))
        .await
        .expect("info")
        .json()
        .await
        .expect("JSON");
    info["version"].as_str().expect("version").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_good_image_reboots_twin_and_records_the_build_and_elf() {
    let b = bench().await;
    let image = ImageBuilder::new("2.1.0").elf(ELF).build();
    let expected_elf = AppImage::parse(&image)
        .expect("image")
        .desc
        .elf_sha256_hex();
    let fw = b.dir.path().join("firmware");
    pio_build(&fw, "esp32-s3", &image, Some(ELF));

    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "desk",
            "--pio-env",
            "esp32-s3",
            "--firmware-dir",
            fw.to_str().expect("utf-8"),
            "--timeout",
            "20",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    // Not a terminal: plain progress lines, one per 10 %.
    assert!(stderr.contains("uploading: 100%"), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr}");
    assert!(stdout.contains("flashed desk to v2.1.0"), "{stdout}");
    assert!(stdout.contains("confirmed on serial"), "{stdout}");

    // flash read the pty (one reader at a time); the device's side is
    // checked by the twin's own OTA tests. Here: what it answers now.
    assert_eq!(info_version(&b.twin).await, "2.1.0");

    let builds = b.desk_builds().await;
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].version, "2.1.0");
    assert_eq!(builds[0].elf_sha256, expected_elf);
    assert!(builds[0].elf_attached);
    let store = Store::open(&b.db).await.expect("store");
    assert_eq!(
        store.firmware_elf("v2.1.0").await.expect("q").as_deref(),
        Some(ELF),
        "the ELF is stored under the version the boot log prints"
    );
    b.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_refuses_bad_images_and_wrong_elves_and_records_nothing() {
    let b = bench().await;
    let fw = b.dir.path().join("firmware");

    // Corrupted image: refused locally, before any upload.
    let mut corrupt = ImageBuilder::new("2.2.0").elf(ELF).build();
    corrupt[200] ^= 0x40;
    let build = pio_build(&fw, "bad", &corrupt, None);
    let bin = build.join("firmware.bin");
    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "desk",
            "--bin",
            bin.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains("nothing was uploaded"), "{stderr}");

    // A good image with the wrong ELF beside it: refused too.
    let image = ImageBuilder::new("2.2.0").elf(ELF).build();
    pio_build(&fw, "mismatch", &image, Some(b"another build's ELF"));
    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "desk",
            "--pio-env",
            "mismatch",
            "--firmware-dir",
            fw.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not the ELF this image was built from")
    );

    // Unknown device, and no image flag at all (usage: exit 2).
    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "nope",
            "--bin",
            bin.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let out = heaplab(&b.db, &["flash", "--device", "desk"]).await;
    assert_eq!(out.status.code(), Some(2));

    // A device that does not answer: a clear error, not a long wait.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gone_url = format!("http://{}", gone.local_addr().expect("addr"));
    drop(gone);
    Store::open(&b.db)
        .await
        .expect("store")
        .create_device(&DeviceSpec {
            name: "gone".into(),
            url: Some(gone_url),
            baud: 115_200,
            ..Default::default()
        })
        .await
        .expect("device");
    let good = b.dir.path().join("good.bin");
    std::fs::write(&good, &image).expect("bin");
    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "gone",
            "--bin",
            good.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The twin itself refuses a bad image with the device's message.
    let r = twin_update(&b.twin, "firmware.bin", &corrupt).await;
    assert_eq!(r.status(), 500);
    let reply: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(
        reply,
        serde_json::json!({"success": false, "message": "Update failed"})
    );
    let r = twin_update(&b.twin, "firmware.hex", &image).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("JSON")["message"],
        "Only .bin files are supported"
    );

    assert_eq!(
        info_version(&b.twin).await,
        "1.5.1-tuned",
        "still the old firmware"
    );
    assert!(b.desk_builds().await.is_empty());
    let store = Store::open(&b.db).await.expect("store");
    assert!(store.firmware_elves().await.expect("elves").is_empty());
    b.twin.shutdown().await;
}

/// A device registered with a URL only: the new version is confirmed on
/// `/api/info`; `--expect-version` names what the boot reports when the
/// image's own description differs (Arduino builds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_without_serial_confirms_on_api_info() {
    let b = bench().await;
    let store = Store::open(&b.db).await.expect("store");
    store
        .create_device(&DeviceSpec {
            name: "rack".into(),
            url: Some(b.twin.base_url()),
            baud: 115_200,
            health_interval_s: 0,
            ..Default::default()
        })
        .await
        .expect("device");
    let image = ImageBuilder::new("3.0.0").build();
    let bin = b.dir.path().join("app.bin");
    std::fs::write(&bin, &image).expect("bin");
    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "rack",
            "--bin",
            bin.to_str().expect("utf-8"),
            "--timeout",
            "20",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no firmware.elf beside"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("confirmed on /api/info"), "{stdout}");
    assert!(stdout.contains("no ELF attached"), "{stdout}");
    assert_eq!(info_version(&b.twin).await, "3.0.0");

    // Waiting for a version the device never reports fails (exit 1) and
    // records nothing for it.
    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--device",
            "rack",
            "--bin",
            bin.to_str().expect("utf-8"),
            "--expect-version",
            "9.9.9",
            "--timeout",
            "3",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not report v9.9.9"));
    let device = store
        .device_by_name("rack")
        .await
        .expect("q")
        .expect("rack");
    let builds = store.firmware_builds(device.id).await.expect("builds");
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].version, "3.0.0");
    assert!(!builds[0].elf_attached);
    b.twin.shutdown().await;
}

/// The point of attaching the ELF: after `heaplab flash`, a crash on the
/// new build decodes with no upload step. The ELF is a real one (gcc, as
/// the soak test builds it); the twin's boot log names the new version,
/// the server records a run with it, and an injected backtrace through
/// the ELF's functions comes back decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flashed_elf_decodes_the_next_crash_without_an_upload() {
    use crate::helpers::{get_json, server_config, start_server, twin_device};

    let dir = tempfile::tempdir().expect("tmp");
    let (elf_path, symbols) = crate::soak::build_elf(dir.path());
    let elf = std::fs::read(&elf_path).expect("elf");
    let mut config = TwinConfig::new("crashy", Profile::Tuned);
    config.hb_interval = Duration::from_millis(200);
    config.link = Some(dir.path().join("crashy"));
    let twin = Twin::spawn(config).await.expect("twin");
    let spec = twin_device("desk", &twin);
    let server_conf = server_config(dir.path(), vec![spec.clone()]);
    Store::open(&server_conf.db)
        .await
        .expect("store")
        .create_device(&spec)
        .await
        .expect("device");

    let image = ImageBuilder::new("2.3.0").elf(&elf).build();
    let bin = dir.path().join("firmware.bin");
    std::fs::write(&bin, &image).expect("bin");
    let out = heaplab(
        &server_conf.db,
        &[
            "flash",
            "--device",
            "desk",
            "--bin",
            bin.to_str().expect("utf-8"),
            "--elf",
            elf_path.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Now the dashboard records the device (flash has released the port).
    let server = start_server(server_conf).await;
    let base = format!("http://{}", server.addr);
    twin.reboot().await;
    let device_id = server
        .store
        .device_by_name("desk")
        .await
        .expect("q")
        .expect("desk")
        .id;
    let run_id = eventually("a run of v2.3.0", Duration::from_secs(60), || {
        let url = format!("{base}/api/v1/runs?device={device_id}");
        async move {
            let runs = get_json(&url).await;
            runs.as_array()?
                .iter()
                // The run keeps the boot log's spelling, `v2.3.0`.
                .find(|r| r["firmware_version"] == "v2.3.0")
                .and_then(|r| r["id"].as_i64())
        }
    })
    .await;
    let backtrace = format!(
        "Backtrace: {}\r\n",
        symbols
            .iter()
            .map(|(_, a)| format!("0x{a:08x}:0x3fceb000"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    twin.inject(backtrace.as_bytes()).await;
    let crashes = eventually("the decoded crash", Duration::from_secs(60), || {
        let url = format!("{base}/api/v1/runs/{run_id}/crashes");
        let recorder = server.recorder.clone();
        async move {
            recorder.flush().await;
            let c = get_json(&url).await;
            let decoded = c["crashes"]
                .as_array()?
                .iter()
                .any(|x| x["frames"].as_array().is_some_and(|f| !f.is_empty()));
            decoded.then_some(c)
        }
    })
    .await;
    assert_eq!(crashes["elf"], true, "{crashes}");
    let functions: Vec<&str> = crashes["crashes"]
        .as_array()
        .expect("crashes")
        .iter()
        .flat_map(|c| c["frames"].as_array().expect("frames").iter())
        .filter_map(|f| f["function"].as_str())
        .collect();
    for (name, _) in &symbols {
        assert!(
            functions.contains(&name.as_str()),
            "{name} not in {functions:?}"
        );
    }
    twin.shutdown().await;
}

/// `heaplab flash --server` (no database of its own is needed).
async fn flash_through(
    server: &str,
    token: &str,
    device: &str,
    bin: &Path,
    more: &[&str],
) -> std::process::Output {
    let unused = bin.with_file_name("cli-not-used.db");
    let bin = bin.to_str().expect("utf-8");
    let mut args = vec!["flash", "--device", device, "--bin", bin];
    args.extend(["--server", server, "--token", token]);
    args.extend(more);
    heaplab(&unused, &args).await
}

/// `POST /api/v1/devices/{id}/flash` with `image`, `elf` when given, and
/// text `fields`.
async fn post_flash(
    server: &str,
    device_id: i64,
    token: Option<&str>,
    image: &[u8],
    elf: Option<&[u8]>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = Form::new().file("image", "up.bin", image);
    if let Some(elf) = elf {
        form = form.file("elf", "up.elf", elf);
    }
    for (name, value) in fields {
        form = form.text(name, value);
    }
    let content_type = form.content_type();
    let (body, _) = form.into_body(Progress::none());
    let mut request = reqwest::Client::new()
        .post(format!("{server}/api/v1/devices/{device_id}/flash"))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST flash")
}

/// The `detail` of an error answer with status `status`.
async fn refusal(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["detail"].as_str().expect("detail").to_owned()
}

fn update_requests(twin: &Twin) -> usize {
    twin.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/update")
        .count()
}

/// A board plugged into an agent, flashed from the centre with `heaplab
/// flash --server`: the server checks the files, the agent (the only one
/// on the board's network) uploads the image, the board reboots into the
/// new version on its pty, the agent forwards that boot log, and the build
/// and ELF land in the central store. Bad files before that are refused
/// with the reason and leave no trace, on the board or in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flash_from_the_centre_is_carried_out_by_the_agent_and_recorded_centrally() {
    let dir = tempfile::tempdir().expect("tmp");
    let board = crate::helpers::twin(dir.path(), "agent-board", Profile::Tuned).await;
    let central = BoardBehindAgent::start(dir.path(), &board, "board").await;
    let (url, id) = (central.server.url(), central.device_id);
    let store = central.server.store.clone();
    // A real build's size (~1.8 MB): the image crosses the relay to the
    // agent and on to the board whole.
    let image = ImageBuilder {
        filler: 600 * 1024,
        ..ImageBuilder::new("2.4.0").elf(ELF)
    }
    .build();
    assert!(image.len() > 1_800_000);

    let mut corrupt = image.clone();
    corrupt[200] ^= 0x40;
    let detail = refusal(
        post_flash(&url, id, Some(&central.write), &corrupt, None, &[]).await,
        400,
    )
    .await;
    assert!(detail.contains("up.bin: checksum mismatch"), "{detail}");
    assert!(detail.contains("nothing was uploaded"), "{detail}");
    let wrong_elf = post_flash(
        &url,
        id,
        Some(&central.write),
        &image,
        Some(b"another ELF"),
        &[],
    )
    .await;
    let detail = refusal(wrong_elf, 400).await;
    assert!(
        detail.contains("up.elf is not the ELF this image was built from"),
        "{detail}"
    );
    let detail = refusal(
        post_flash(&url, id, Some(&central.write), b"", None, &[]).await,
        400,
    )
    .await;
    assert!(detail.contains("needs `image`"), "{detail}");
    // Flashing is a change: a read token, or none, may not.
    let (_, read) = store
        .create_token("viewer", TokenScope::Read)
        .await
        .expect("token");
    refusal(
        post_flash(&url, id, Some(&read), &image, None, &[]).await,
        403,
    )
    .await;
    refusal(post_flash(&url, id, None, &image, None, &[]).await, 401).await;
    assert_eq!(update_requests(&board), 0, "nothing reached the board");
    assert!(store.firmware_builds(id).await.expect("builds").is_empty());
    assert!(store.firmware_elves().await.expect("elves").is_empty());

    let bin = dir.path().join("firmware.bin");
    std::fs::write(&bin, &image).expect("bin");
    std::fs::write(dir.path().join("firmware.elf"), ELF).expect("elf");
    let out = flash_through(&url, &central.write, "board", &bin, &["--timeout", "30"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stderr.contains("uploading: 100%"), "{stderr}");
    assert!(stdout.contains("flashed board to v2.4.0"), "{stdout}");
    assert!(stdout.contains("confirmed on serial"), "{stdout}");
    assert!(stdout.contains("ELF attached"), "{stdout}");
    assert_eq!(update_requests(&board), 1, "the agent uploaded the image");
    assert_eq!(info_version(&board).await, "2.4.0");

    let builds = store.firmware_builds(id).await.expect("builds");
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].version, "2.4.0");
    assert_eq!(
        builds[0].elf_sha256,
        AppImage::parse(&image)
            .expect("image")
            .desc
            .elf_sha256_hex()
    );
    assert!(builds[0].elf_attached);
    assert_eq!(
        store.firmware_elf("v2.4.0").await.expect("q").as_deref(),
        Some(ELF)
    );
    // The boot into the new build is in the central store, as the agent
    // forwarded it.
    central.server.recorder.flush().await;
    eventually(
        "the new boot's lines stored",
        Duration::from_secs(30),
        || async {
            let lines = stored_lines(&store, "board").await;
            lines
                .iter()
                .any(|(_, text)| text.contains("Firmware: v2.4.0"))
                .then_some(())
        },
    )
    .await;

    // A device name the server does not know: a clear error, exit 1.
    let out = flash_through(&url, &central.write, "nowhere", &bin, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no device \"nowhere\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    central.stop().await;
    board.shutdown().await;
}

/// A board of the server's own (it reads the serial port), flashed through
/// the API as the dashboard's form does: confirmed on the serial lines the
/// server records, the build recorded; the device page offers the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_device_is_flashed_through_the_api() {
    use crate::helpers::{get_page, server_config, start_server, twin_device, until_recording};

    let dir = tempfile::tempdir().expect("tmp");
    let board = crate::helpers::twin(dir.path(), "local-board", Profile::Tuned).await;
    let server = start_server(server_config(
        dir.path(),
        vec![twin_device("bench", &board)],
    ))
    .await;
    let id = server
        .store
        .device_by_name("bench")
        .await
        .expect("q")
        .expect("bench")
        .id;
    until_recording(&server, id).await;
    let page = get_page(&format!("{}/devices/{id}", server.url()), None).await;
    assert!(
        page.contains(&format!("action=\"/api/v1/devices/{id}/flash\"")),
        "the device page has the flash form"
    );

    let image = ImageBuilder::new("2.5.0").elf(ELF).build();
    let response = post_flash(&server.url(), id, None, &image, Some(ELF), &[]).await;
    assert_eq!(response.status(), 200);
    let outcome: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(outcome["device"], "bench");
    assert_eq!(outcome["version"], "2.5.0");
    assert_eq!(outcome["confirmed_by"], "serial");
    assert_eq!(outcome["elf_attached"], true);
    let builds = server.store.firmware_builds(id).await.expect("builds");
    assert_eq!(builds.len(), 1);
    assert_eq!(outcome["build_id"], builds[0].id);
    assert_eq!(info_version(&board).await, "2.5.0");

    // Waiting for a version the board does not boot into: 502 with what it
    // booted instead, and nothing more recorded; a timeout out of range is
    // refused before anything is sent.
    let never = [("expect_version", "9.9.9"), ("timeout_s", "5")];
    let response = post_flash(&server.url(), id, None, &image, None, &never).await;
    let detail = refusal(response, 502).await;
    assert!(
        detail.contains("rebooted into v2.5.0, not v9.9.9"),
        "{detail}"
    );
    let response = post_flash(&server.url(), id, None, &image, None, &[("timeout_s", "0")]).await;
    assert!(refusal(response, 400).await.contains("timeout_s"));
    assert_eq!(
        server
            .store
            .firmware_builds(id)
            .await
            .expect("builds")
            .len(),
        1
    );
    server.stop().await.expect("stop");
    board.shutdown().await;
}
