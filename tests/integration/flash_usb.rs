//! `heaplab flash --port`: the first flash over USB, end to end. The binary
//! drives espflash (a real, independent ROM-loader client) against the
//! twin's model of the ESP32-S3 boot ROM on its pty: SYNC, chip detection,
//! flash ID, FLASH_BEGIN/DATA/END, SPI_FLASH_MD5. The twin then boots the
//! image it was given, checked with the same rules as an OTA update.

use std::path::Path;
use std::time::Duration;

use heaplab::protocol::app_image::{AppImage, ImageBuilder};
use heaplab::sim::Twin;
use heaplab::store::Store;

use crate::flash::{bench_with_heartbeat, heaplab, Bench};

const ELF: &[u8] = b"\x7fELF pretend firmware.elf for the first USB flash";

/// A twin on a pty (and its database) for the USB tests.
async fn bench() -> Bench {
    bench_with_heartbeat(Duration::from_millis(200)).await
}

async fn info(twin: &Twin) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("{}/api/info", twin.base_url()))
        .await
        .expect("info");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.display().to_string()
}

/// Big enough for 100+ ROM blocks across many flash sectors.
fn image(version: &str) -> Vec<u8> {
    let mut builder = ImageBuilder::new(version).elf(ELF);
    builder.filler = 40_000;
    builder.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usb_flash_writes_through_the_rom_loader_and_the_twin_boots_it() {
    let b = bench().await;
    let port = b.twin.serial_path().display().to_string();
    let fw = b.dir.path().join("build");
    std::fs::create_dir_all(&fw).expect("mkdir");
    let bin = write(&fw, "firmware.bin", &image("2.2.0"));
    write(&fw, "firmware.elf", ELF);

    let out = heaplab(
        &b.db,
        &[
            "flash",
            "--port",
            &port,
            "--bin",
            &bin,
            "--device",
            "desk",
            "--timeout",
            "30",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        stderr.contains("through the ROM loader at 0x10000"),
        "{stderr}"
    );
    assert!(stderr.contains("uploading: 100%"), "{stderr}");
    assert!(stderr.contains("verifying (SPI_FLASH_MD5)"), "{stderr}");
    assert!(stderr.contains("device rebooted into v2.2.0"), "{stderr}");
    assert!(stdout.contains("flashed v2.2.0 over"), "{stdout}");
    assert!(stdout.contains("build #"), "{stdout}");
    assert!(stdout.contains("recorded for desk"), "{stdout}");
    assert!(stdout.contains("ELF attached"), "{stdout}");

    // The twin runs the new app: HTTP is back and names it.
    let (status, body) = info(&b.twin).await;
    assert_eq!(status, 200);
    assert_eq!(body["version"], "2.2.0");

    let builds = b.desk_builds().await;
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].version, "2.2.0");
    let expected_elf = AppImage::parse(&image("2.2.0"))
        .expect("image")
        .desc
        .elf_sha256_hex();
    assert_eq!(builds[0].elf_sha256, expected_elf);
    assert!(builds[0].elf_attached);
    let store = Store::open(&b.db).await.expect("store");
    assert_eq!(
        store.firmware_elf("v2.2.0").await.expect("q").as_deref(),
        Some(ELF)
    );

    // A second flash names no device: the one on that port gets the build.
    let elf2 = b"\x7fELF the second build";
    let mut builder = ImageBuilder::new("2.2.1").elf(elf2);
    builder.filler = 40_000;
    let bin = write(&fw, "firmware.bin", &builder.build());
    write(&fw, "firmware.elf", elf2);
    let out = heaplab(&b.db, &["flash", "--port", &port, "--bin", &bin]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recorded for desk"), "{stdout}");
    assert_eq!(info(&b.twin).await.1["version"], "2.2.1");
    assert_eq!(b.desk_builds().await.len(), 2);
    b.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usb_flash_refuses_bad_images_before_touching_the_port() {
    let b = bench().await;
    let port = b.twin.serial_path().display().to_string();
    let before = info(&b.twin).await.1["version"].clone();

    let mut corrupt = image("9.9.9");
    corrupt[200] ^= 0xFF;
    let mut wrong_chip = ImageBuilder::new("9.9.9");
    wrong_chip.chip_id = 0x0005; // ESP32-C3
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("corrupt.bin", corrupt, "checksum mismatch"),
        ("c3.bin", wrong_chip.build(), "ESP32-C3"),
        ("text.bin", b"not an image".to_vec(), "not an ESP app image"),
    ];
    for (name, bytes, why) in cases {
        let bin = write(b.dir.path(), name, &bytes);
        let out = heaplab(
            &b.db,
            &["flash", "--port", &port, "--bin", &bin, "--device", "desk"],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {stderr}");
        assert!(stderr.contains(why), "{name}: {stderr}");
        assert!(stderr.contains("nothing was uploaded"), "{name}: {stderr}");
        // The port was never opened: no SYNC, the app still runs.
        let (status, body) = info(&b.twin).await;
        assert_eq!(status, 200, "{name}: the twin stayed out of download mode");
        assert_eq!(body["version"], before);
    }
    assert!(b.desk_builds().await.is_empty());
    b.twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usb_flash_on_a_port_where_nothing_answers_says_to_enter_download_mode() {
    let dir = tempfile::tempdir().expect("tmp");
    // A bare pseudo-terminal: its other end is held open and never answers.
    let pty = nix::pty::openpty(None, None).expect("pty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let bin = write(dir.path(), "firmware.bin", &image("2.3.0"));
    let db = dir.path().join("silent.db");
    let port = slave.to_str().expect("utf-8");
    let stderr = flash_refused(&db, &["--port", port, "--bin", &bin]).await;
    assert!(
        stderr.contains("nothing answered the ROM loader's SYNC"),
        "{stderr}"
    );
    assert!(stderr.contains("hold BOOT and press RESET"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");

    // Asked to reset the chip through DTR/RTS, which a pty does not have.
    let reset = ["--port", port, "--bin", &bin, "--before", "default-reset"];
    let stderr = flash_refused(&db, &reset).await;
    assert!(stderr.contains("has no DTR/RTS lines"), "{stderr}");
    assert!(stderr.contains("--before no-reset"), "{stderr}");
    drop(pty);

    // A port that does not exist is named as such.
    let missing = "/dev/heaplab-no-such-port";
    let stderr = flash_refused(&db, &["--port", missing, "--bin", &bin]).await;
    assert!(
        stderr.contains("cannot open /dev/heaplab-no-such-port"),
        "{stderr}"
    );
}

/// `heaplab flash ARGS` on `db`, which must fail; its stderr.
async fn flash_refused(db: &Path, args: &[&str]) -> String {
    let mut all = vec!["flash"];
    all.extend(args);
    let out = heaplab(db, &all).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// heaplab never writes a bad image, so espflash is driven directly: the
/// twin's bootloader refuses what landed at 0x10000 and the chip
/// boot-loops with ESP-IDF's `esp_image` error, as a board would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_written_by_espflash_boot_loops_the_twin() {
    use std::io::{BufRead, BufReader};

    use espflash::connection::{Connection, ResetAfterOperation, ResetBeforeOperation};
    use espflash::flasher::Flasher;
    use espflash::target::{Chip, DefaultProgressCallback};

    let b = bench().await;
    let port = b.twin.serial_path().display().to_string();
    let mut bad = image("6.6.6");
    bad[300] ^= 0xFF;
    let lines = tokio::task::spawn_blocking(move || {
        let serial = serialport::new(&port, 115_200)
            .timeout(Duration::from_secs(3))
            .open_native()
            .expect("open the twin's pty");
        let info = serialport::UsbPortInfo {
            vid: 0,
            pid: 0,
            serial_number: None,
            manufacturer: None,
            product: None,
        };
        let connection = Connection::new(
            serial,
            info,
            ResetAfterOperation::NoReset,
            ResetBeforeOperation::NoReset,
            115_200,
        );
        let mut flasher =
            Flasher::connect(connection, false, true, false, Some(Chip::Esp32s3), None)
                .expect("espflash connects to the twin's ROM loader");
        flasher
            .write_bin_to_flash(0x10000, &bad, &mut DefaultProgressCallback)
            .expect("the ROM takes any bytes");
        // Two boot attempts' worth of lines (the loop repeats every
        // heartbeat); a read timeout ends it early and fails below.
        let mut reader = BufReader::new(flasher.into_connection().into_serial());
        let mut lines = Vec::new();
        let mut attempts = 0;
        while attempts < 2 {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).is_err() {
                break;
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            if text.contains("No bootable app partitions") {
                attempts += 1;
            }
            lines.push(text);
        }
        lines
    })
    .await
    .expect("espflash thread");
    let text = lines.join("\n");
    assert!(
        text.contains("esp_image: Checksum failed"),
        "the bootloader names the defect:\n{text}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("No bootable app partitions"))
            .count(),
        2,
        "it keeps trying:\n{text}"
    );
    assert!(!text.contains("Firmware: v"), "no app ran:\n{text}");
    assert_eq!(info(&b.twin).await.0, 503, "nothing serves HTTP");
    b.twin.shutdown().await;
}
