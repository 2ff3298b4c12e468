//! Fixed text the ESP32-S3 prints outside the app's logger: the boot ROM
//! banner and the IDF panic handler. Same bytes every time, so fixtures and
//! backtrace decoding tests can rely on them.

/// Why the chip (re)started, as the ROM's `rst:` line and the app's
/// `esp_reset_reason()` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    PowerOn,
    /// `ESP.restart()` (reboot requested over HTTP).
    Software,
    /// The panic handler restarted the chip.
    Panic,
}

impl ResetKind {
    /// The ROM's reset line.
    pub fn rst_line(self) -> &'static str {
        match self {
            ResetKind::PowerOn => "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)",
            ResetKind::Software | ResetKind::Panic => {
                "rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)"
            }
        }
    }

    /// `esp_reset_reason()` as `/api/health` reports it.
    pub fn reason_name(self) -> &'static str {
        match self {
            ResetKind::PowerOn => "POWERON",
            ResetKind::Software => "SW",
            ResetKind::Panic => "PANIC",
        }
    }
}

/// The second-stage bootloader's chatter after the reset line.
const ROM_TAIL: [&str; 8] = [
    "SPIWP:0xee",
    "mode:DIO, clock div:1",
    "load:0x3fce3818,len:0x508",
    "load:0x403c9700,len:0x4",
    "load:0x403c9704,len:0xad0",
    "load:0x403cc700,len:0x29e4",
    "entry 0x403c9880",
    "",
];

/// Line noise while USB-CDC re-enumerates: invalid UTF-8, a NUL and an
/// escape sequence on a line of its own, like a real capture.
pub const BOOT_GARBAGE: &[u8] = b"\xff\xfe\x00\x9c\x80\xe0\x1b[0m\xc3( \xf0\x9f\n";

/// The ROM banner lines up to (not including) the garbage.
pub fn rom_banner(reset: ResetKind) -> Vec<String> {
    let mut lines = vec![
        "ESP-ROM:esp32s3-20210327".to_owned(),
        "Build:Mar 27 2021".to_owned(),
        reset.rst_line().to_owned(),
    ];
    if reset != ResetKind::PowerOn {
        lines.push("Saved PC:0x420a5e2e".to_owned());
    }
    lines.extend(ROM_TAIL.iter().map(|s| (*s).to_owned()));
    lines
}

/// The backtrace of the crash build's async_tcp stack overflow, PC:SP
/// pairs innermost first: the running config's icon check, the icon GC that
/// kept its big keep-set on the stack, the `/api/icons/gc` handler; the
/// overflow corrupted the frames above. The demo's firmware ELF places
/// `firmware/src` functions at these PCs, so they decode to real names,
/// files and lines.
pub const PANIC_BACKTRACE: [(u32, u32); 3] = [
    (0x4200_c3e1, 0x3fce_bf30),
    (0x4201_14b6, 0x3fce_bf50),
    (0x4200_8a10, 0x3fce_bf70),
];

/// The ELF SHA-256 prefix the panic handler prints for the profile's own
/// build (an OTA-installed app prints its own).
pub const PROFILE_ELF_SHA256_PREFIX: &str = "7c3e0a5f9d21b8e4";

/// The IDF panic handler's report for the async_tcp stack overflow in the
/// icon GC handler (the plan's S6 crash). Fixed PCs ([`PANIC_BACKTRACE`])
/// and registers; `elf_sha256` is cut to the 16 hex digits IDF prints.
pub fn stack_overflow_panic(elf_sha256: &str) -> Vec<String> {
    let elf_prefix: String = elf_sha256.chars().take(16).collect();
    let [(pc, sp), (caller, _), _] = PANIC_BACKTRACE;
    let backtrace: Vec<String> = PANIC_BACKTRACE
        .iter()
        .map(|(pc, sp)| format!("0x{pc:08x}:0x{sp:08x}"))
        .collect();
    // A0 holds the return address into the caller, with the call's window
    // increment in its top two bits (call8: 0b10).
    let a0 = (caller + 3) & 0x3fff_ffff | 0x8000_0000;
    let lines = [
        String::new(),
        "Guru Meditation Error: Core  1 panic'ed (Unhandled debug exception). ".to_owned(),
        "Debug exception reason: Stack canary watchpoint triggered (async_tcp) ".to_owned(),
        "Core  1 register dump:".to_owned(),
        format!("PC      : 0x{pc:08x}  PS      : 0x00060036  A0      : 0x{a0:08x}  A1      : 0x{sp:08x}  "),
        "A2      : 0x3fcec0a0  A3      : 0x00000000  A4      : 0x3fcebf90  A5      : 0x00000001  ".to_owned(),
        "A6      : 0x00000000  A7      : 0x3fc9a2d0  A8      : 0x8200c3e4  A9      : 0x3fcebf10  ".to_owned(),
        "A10     : 0x3fcec0a0  A11     : 0x3fcebfa0  A12     : 0x00000010  A13     : 0x3fcebfb0  ".to_owned(),
        "A14     : 0x00000000  A15     : 0x3fcebfc0  SAR     : 0x00000004  EXCCAUSE: 0x00000001  ".to_owned(),
        "EXCVADDR: 0x00000000  LBEG    : 0x40056f5c  LEND    : 0x40056f72  LCOUNT  : 0xffffffff  ".to_owned(),
        String::new(),
        String::new(),
        format!("Backtrace: {} |<-CORRUPTED", backtrace.join(" ")),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        format!("ELF file SHA256: {elf_prefix}"),
        String::new(),
        "Rebooting...".to_owned(),
    ];
    Vec::from(lines)
}
