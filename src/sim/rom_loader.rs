//! The ESP32-S3 boot ROM's serial download protocol, as Espressif documents
//! it for esptool ("Serial Protocol"): SLIP-framed command packets from the
//! host, one SLIP-framed response per command, with the ROM's four status
//! bytes (status, error, 0, 0) at the end of every response.
//!
//! The model covers what a ROM-only client (espflash with `use_stub =
//! false`, as `heaplab flash --port` runs it) sends to an ESP32-S3: SYNC,
//! READ_REG/WRITE_REG (chip magic, eFuses, and the SPI1 registers a client
//! drives to read the flash's JEDEC ID), GET_SECURITY_INFO, SPI_ATTACH,
//! SPI_SET_PARAMS, CHANGE_BAUDRATE, FLASH_BEGIN/DATA/END,
//! FLASH_DEFL_BEGIN/DATA/END and SPI_FLASH_MD5, with the ROM's error codes
//! for a bad packet, a bad checksum or a write outside the flash. MEM_*
//! (a client uploading its RAM stub) is acknowledged, but the twin runs no
//! uploaded code, so a stub never says hello: heaplab does not use one.
//!
//! Pure: bytes in, bytes out; the device decides what a finished download
//! boots (`device/download.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use md5::{Digest, Md5};

/// SLIP frame delimiter and escapes.
const END: u8 = 0xC0;
const ESC: u8 = 0xDB;
const ESC_END: u8 = 0xDC;
const ESC_ESC: u8 = 0xDD;

/// Command opcodes (esptool's names).
pub mod op {
    pub const FLASH_BEGIN: u8 = 0x02;
    pub const FLASH_DATA: u8 = 0x03;
    pub const FLASH_END: u8 = 0x04;
    pub const MEM_BEGIN: u8 = 0x05;
    pub const MEM_END: u8 = 0x06;
    pub const MEM_DATA: u8 = 0x07;
    pub const SYNC: u8 = 0x08;
    pub const WRITE_REG: u8 = 0x09;
    pub const READ_REG: u8 = 0x0A;
    pub const SPI_SET_PARAMS: u8 = 0x0B;
    pub const SPI_ATTACH: u8 = 0x0D;
    pub const CHANGE_BAUDRATE: u8 = 0x0F;
    pub const FLASH_DEFL_BEGIN: u8 = 0x10;
    pub const FLASH_DEFL_DATA: u8 = 0x11;
    pub const FLASH_DEFL_END: u8 = 0x12;
    pub const SPI_FLASH_MD5: u8 = 0x13;
    pub const GET_SECURITY_INFO: u8 = 0x14;
}

/// The ROM's error codes (second status byte).
pub mod rom_error {
    /// "Received message is invalid" (parameters or length field).
    pub const INVALID_MESSAGE: u8 = 0x05;
    /// "Failed to act on received message".
    pub const FAILED_TO_ACT: u8 = 0x06;
    /// "Invalid CRC in message".
    pub const INVALID_CRC: u8 = 0x07;
    /// "Deflate error" (compressed uploads).
    pub const DEFLATE_ERROR: u8 = 0x0B;
}

/// SYNC's payload: `07 07 12 20` and 32 × `0x55`.
pub const SYNC_PAYLOAD: [u8; 36] = {
    let mut p = [0x55u8; 36];
    p[0] = 0x07;
    p[1] = 0x07;
    p[2] = 0x12;
    p[3] = 0x20;
    p
};
/// The ROM answers one SYNC with this many responses (esptool reads the
/// extra ones; espflash expects at least seven).
const SYNC_RESPONSES: usize = 8;
/// Seed of the data checksum (XOR of every payload byte).
const CHECKSUM_SEED: u8 = 0xEF;

/// `CHIP_DETECT_MAGIC_REG_ADDR` and the ESP32-S3's value there.
pub const CHIP_MAGIC_REG: u32 = 0x4000_1000;
pub const CHIP_MAGIC_ESP32S3: u32 = 0x9;
/// `GET_SECURITY_INFO`'s chip id (= the image header's chip id).
pub const CHIP_ID_ESP32S3: u32 = 9;

/// SPI1 (the flash's controller) and the registers a client drives to
/// send a flash command from the host.
const SPI1_BASE: u32 = 0x6000_2000;
const SPI_CMD: u32 = SPI1_BASE;
const SPI_USR2: u32 = SPI1_BASE + 0x20;
const SPI_W0: u32 = SPI1_BASE + 0x58;
/// `SPI_CMD`'s "run the user command" bit; cleared when done.
const SPI_CMD_USR: u32 = 1 << 18;
/// RDID, the JEDEC ID command.
const FLASH_RDID: u32 = 0x9F;

/// The board's flash chip: 16 MB, as `/api/info`'s `flash_chip_size`
/// (the firmware's partition table, `default_8MB.csv`, uses half of it).
pub const FLASH_BYTES: u32 = 16 * 1024 * 1024;
pub const SECTOR_BYTES: u32 = 4096;
/// JEDEC ID as RDID returns it: GigaDevice (0xC8), type 0x40, capacity
/// 0x18 (2^24 B = 16 MB), first byte lowest.
const JEDEC_ID: u32 = 0x0018_40C8;

/// Splits a byte stream into SLIP frames. Bytes outside a frame (text
/// typed at the port, line noise) are dropped, like the ROM does.
#[derive(Debug, Default)]
pub struct SlipReader {
    frame: Vec<u8>,
    in_frame: bool,
    escaped: bool,
}

/// Frames larger than this are dropped (the largest command is a 16 KiB
/// stub block plus its header).
const MAX_FRAME: usize = 64 * 1024;

impl SlipReader {
    /// Feeds bytes; returns every frame they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for &b in bytes {
            if b == END {
                if self.in_frame && !self.frame.is_empty() {
                    frames.push(std::mem::take(&mut self.frame));
                    // The END that closes a frame may also open the next
                    // (esptool sends C0 … C0 C0 … C0).
                }
                self.in_frame = true;
                self.frame.clear();
                self.escaped = false;
                continue;
            }
            if !self.in_frame {
                continue;
            }
            let byte = if self.escaped {
                self.escaped = false;
                match b {
                    ESC_END => END,
                    ESC_ESC => ESC,
                    // A bad escape: the frame is garbage, wait for the next END.
                    _ => {
                        self.in_frame = false;
                        self.frame.clear();
                        continue;
                    }
                }
            } else if b == ESC {
                self.escaped = true;
                continue;
            } else {
                b
            };
            if self.frame.len() >= MAX_FRAME {
                self.in_frame = false;
                self.frame.clear();
                continue;
            }
            self.frame.push(byte);
        }
        frames
    }
}

/// One frame: `C0`, the escaped bytes, `C0`.
pub fn slip_encode(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 8);
    out.push(END);
    for &b in packet {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(END);
    out
}

/// A parsed command packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub op: u8,
    pub checksum: u32,
    pub data: &'a [u8],
}

/// Splits a frame into a command, or `None` when it is not one (a
/// response, a short frame, a size field that disagrees).
pub fn parse_command(frame: &[u8]) -> Option<Command<'_>> {
    if frame.len() < 8 || frame[0] != 0x00 {
        return None;
    }
    let size = usize::from(u16::from_le_bytes([frame[2], frame[3]]));
    let data = &frame[8..];
    (data.len() == size).then(|| Command {
        op: frame[1],
        checksum: u32_at(frame, 4),
        data,
    })
}

/// Is this frame a SYNC command? (What a host sends first.)
pub fn is_sync(frame: &[u8]) -> bool {
    parse_command(frame).is_some_and(|c| c.op == op::SYNC)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A response packet: direction 1, the opcode, the size of the data, a
/// 32-bit value, the data, then the four status bytes.
fn response(op: u8, value: u32, data: &[u8], error: Option<u8>) -> Vec<u8> {
    let size = (data.len() + 4) as u16;
    let mut p = Vec::with_capacity(12 + data.len());
    p.push(0x01);
    p.push(op);
    p.extend_from_slice(&size.to_le_bytes());
    p.extend_from_slice(&value.to_le_bytes());
    p.extend_from_slice(data);
    match error {
        None => p.extend_from_slice(&[0, 0, 0, 0]),
        Some(code) => p.extend_from_slice(&[1, code, 0, 0]),
    }
    p
}

/// NOR flash: erased bytes read 0xFF, a write can only clear bits. Kept
/// sparse (per 4 KiB sector) so an idle twin holds no 16 MB buffer.
#[derive(Debug, Default)]
pub struct Flash {
    sectors: BTreeMap<u32, Box<[u8]>>,
    /// Sectors ever erased or written (the rest hold what the twin was
    /// "manufactured" with, which it does not model byte for byte).
    changed: BTreeSet<u32>,
}

impl Flash {
    /// Whether the sector holding `addr` was ever erased or written.
    pub fn ever_changed(&self, addr: u32) -> bool {
        self.changed.contains(&(addr / SECTOR_BYTES))
    }

    pub fn read(&self, addr: u32, len: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(len as usize);
        let end = addr.saturating_add(len).min(FLASH_BYTES);
        let mut at = addr;
        while at < end {
            let sector = at / SECTOR_BYTES;
            let offset = (at % SECTOR_BYTES) as usize;
            let take = ((SECTOR_BYTES - at % SECTOR_BYTES).min(end - at)) as usize;
            match self.sectors.get(&sector) {
                Some(bytes) => out.extend_from_slice(&bytes[offset..offset + take]),
                None => out.extend(std::iter::repeat_n(0xFF, take)),
            }
            at += take as u32;
        }
        out
    }

    /// Erases every sector `[addr, addr + len)` touches.
    pub fn erase(&mut self, addr: u32, len: u32) {
        if len == 0 {
            return;
        }
        let first = addr / SECTOR_BYTES;
        let last = (addr.saturating_add(len) - 1).min(FLASH_BYTES - 1) / SECTOR_BYTES;
        for sector in first..=last {
            self.sectors.remove(&sector);
            self.changed.insert(sector);
        }
    }

    pub fn write(&mut self, addr: u32, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let at = addr + i as u32;
            if at >= FLASH_BYTES {
                return;
            }
            self.changed.insert(at / SECTOR_BYTES);
            let sector = self
                .sectors
                .entry(at / SECTOR_BYTES)
                .or_insert_with(|| vec![0xFF; SECTOR_BYTES as usize].into_boxed_slice());
            sector[(at % SECTOR_BYTES) as usize] &= b;
        }
    }
}

/// A FLASH_BEGIN / FLASH_DEFL_BEGIN in progress.
#[derive(Debug)]
struct Download {
    offset: u32,
    /// Bytes to write (uncompressed for DEFL).
    size: u32,
    block_size: u32,
    next_seq: u32,
    /// `Some` for a compressed download: the zlib stream and how much of
    /// its output was written so far.
    inflate: Option<(flate2::write::ZlibDecoder<Vec<u8>>, u32)>,
}

/// What the host asked for besides a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderEvent {
    /// FLASH_END / FLASH_DEFL_END leaving the loader: `reboot` (flag 0)
    /// resets the chip, otherwise the ROM runs the user code. Both boot
    /// what is in flash.
    LeaveLoader { reboot: bool },
}

/// The bytes to send back and what the device should do next.
#[derive(Debug, Default)]
pub struct Reply {
    /// SLIP-framed, ready for the wire (empty: no answer).
    pub bytes: Vec<u8>,
    pub event: Option<LoaderEvent>,
}

/// The ROM loader's state: registers, flash and a download in progress.
#[derive(Debug, Default)]
pub struct RomLoader {
    regs: HashMap<u32, u32>,
    pub flash: Flash,
    download: Option<Download>,
    spi_attached: bool,
    /// The baud rate CHANGE_BAUDRATE asked for (a pty ignores it).
    pub baud: Option<u32>,
}

impl RomLoader {
    /// Handles one frame. A frame that is not a command gets no answer.
    pub fn handle(&mut self, frame: &[u8]) -> Reply {
        let Some(cmd) = parse_command(frame) else {
            return Reply::default();
        };
        let mut event = None;
        let answer: Result<(u32, Vec<u8>), u8> = match cmd.op {
            op::SYNC if cmd.data == SYNC_PAYLOAD => {
                let one = slip_encode(&response(op::SYNC, 0, &[], None));
                return Reply {
                    bytes: one.repeat(SYNC_RESPONSES),
                    event: None,
                };
            }
            op::SYNC => Err(rom_error::INVALID_MESSAGE),
            op::READ_REG => words::<1>(cmd.data).map(|[addr]| (self.read_reg(addr), Vec::new())),
            op::WRITE_REG => words::<4>(cmd.data).map(|[addr, value, mask, _delay]| {
                self.write_reg(addr, value, mask);
                (0, Vec::new())
            }),
            op::GET_SECURITY_INFO if cmd.data.is_empty() => Ok((0, security_info())),
            op::SPI_ATTACH if cmd.data.len() == 8 => {
                self.spi_attached = true;
                Ok((0, Vec::new()))
            }
            op::SPI_SET_PARAMS => words::<6>(cmd.data).and_then(|[_id, total, ..]| {
                if total == 0 || total > FLASH_BYTES {
                    Err(rom_error::FAILED_TO_ACT)
                } else {
                    Ok((0, Vec::new()))
                }
            }),
            op::CHANGE_BAUDRATE => words::<2>(cmd.data).map(|[baud, _prior]| {
                self.baud = Some(baud);
                (0, Vec::new())
            }),
            op::FLASH_BEGIN | op::FLASH_DEFL_BEGIN => self.flash_begin(&cmd),
            op::FLASH_DATA | op::FLASH_DEFL_DATA => self.flash_data(&cmd),
            op::FLASH_END | op::FLASH_DEFL_END => words::<1>(cmd.data).and_then(|[flag]| {
                self.flash_end(cmd.op)?;
                event = Some(LoaderEvent::LeaveLoader { reboot: flag == 0 });
                Ok((0, Vec::new()))
            }),
            op::SPI_FLASH_MD5 => words::<4>(cmd.data).and_then(|[addr, len, ..]| {
                if addr.checked_add(len).is_none_or(|end| end > FLASH_BYTES) {
                    return Err(rom_error::FAILED_TO_ACT);
                }
                let digest = Md5::digest(self.flash.read(addr, len));
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                Ok((0, hex.into_bytes()))
            }),
            // A RAM upload is taken, but nothing uploaded ever runs.
            op::MEM_BEGIN | op::MEM_DATA | op::MEM_END => Ok((0, Vec::new())),
            _ => Err(rom_error::INVALID_MESSAGE),
        };
        let packet = match answer {
            Ok((value, data)) => response(cmd.op, value, &data, None),
            Err(code) => response(cmd.op, 0, &[], Some(code)),
        };
        Reply {
            bytes: slip_encode(&packet),
            event,
        }
    }

    fn read_reg(&self, addr: u32) -> u32 {
        match addr {
            CHIP_MAGIC_REG => CHIP_MAGIC_ESP32S3,
            // eFuses and everything else read as written, 0 by default
            // (wafer version v0.0, no MAC).
            _ => self.regs.get(&addr).copied().unwrap_or(0),
        }
    }

    fn write_reg(&mut self, addr: u32, value: u32, mask: u32) {
        let old = self.read_reg(addr);
        let new = (old & !mask) | (value & mask);
        self.regs.insert(addr, new);
        if addr == SPI_CMD && new & SPI_CMD_USR != 0 {
            self.run_spi_user_command();
        }
    }

    /// The SPI controller runs the command in `USR2`'s low bits and
    /// clears the USR bit when done; RDID leaves the JEDEC ID in W0.
    fn run_spi_user_command(&mut self) {
        let command = self.read_reg(SPI_USR2) & 0xFFFF;
        if command == FLASH_RDID {
            self.regs.insert(SPI_W0, JEDEC_ID);
        }
        let cmd = self.read_reg(SPI_CMD) & !SPI_CMD_USR;
        self.regs.insert(SPI_CMD, cmd);
    }

    fn flash_begin(&mut self, cmd: &Command<'_>) -> Result<(u32, Vec<u8>), u8> {
        // ESP32-S3 takes a fifth word (encrypted write), older clients send four.
        let [size, blocks, block_size, offset] = match cmd.data.len() {
            16 | 20 => words::<4>(&cmd.data[..16])?,
            _ => return Err(rom_error::INVALID_MESSAGE),
        };
        if cmd.data.len() == 20 && u32_at(cmd.data, 16) != 0 {
            // No flash encryption on this chip's eFuses.
            return Err(rom_error::FAILED_TO_ACT);
        }
        if block_size == 0 || offset.checked_add(size).is_none_or(|end| end > FLASH_BYTES) {
            return Err(rom_error::FAILED_TO_ACT);
        }
        let compressed = cmd.op == op::FLASH_DEFL_BEGIN;
        // FLASH_BEGIN's size is the region to erase; FLASH_DEFL_BEGIN's is
        // the uncompressed length (the ROM erases as it writes).
        let erase = if compressed {
            size
        } else {
            size.max(blocks.saturating_mul(block_size))
        };
        self.flash.erase(offset, erase.min(FLASH_BYTES - offset));
        self.download = Some(Download {
            offset,
            size,
            block_size,
            next_seq: 0,
            inflate: compressed.then(|| (flate2::write::ZlibDecoder::new(Vec::new()), 0)),
        });
        Ok((0, Vec::new()))
    }

    fn flash_data(&mut self, cmd: &Command<'_>) -> Result<(u32, Vec<u8>), u8> {
        if cmd.data.len() < 16 {
            return Err(rom_error::INVALID_MESSAGE);
        }
        let [len, seq, _, _] = words::<4>(&cmd.data[..16])?;
        let payload = &cmd.data[16..];
        if payload.len() != len as usize {
            return Err(rom_error::INVALID_MESSAGE);
        }
        let sum = payload.iter().fold(CHECKSUM_SEED, |c, b| c ^ b);
        if u32::from(sum) != cmd.checksum {
            return Err(rom_error::INVALID_CRC);
        }
        let compressed = cmd.op == op::FLASH_DEFL_DATA;
        let Some(dl) = self.download.as_mut() else {
            return Err(rom_error::FAILED_TO_ACT);
        };
        if dl.inflate.is_some() != compressed || seq != dl.next_seq {
            return Err(rom_error::FAILED_TO_ACT);
        }
        match &mut dl.inflate {
            None => {
                let at = seq
                    .checked_mul(dl.block_size)
                    .and_then(|o| o.checked_add(dl.offset))
                    .filter(|&at| at.saturating_add(len) <= FLASH_BYTES)
                    .ok_or(rom_error::FAILED_TO_ACT)?;
                self.flash.write(at, payload);
            }
            Some((inflater, written)) => {
                inflater
                    .write_all(payload)
                    .and_then(|()| inflater.flush())
                    .map_err(|_| rom_error::DEFLATE_ERROR)?;
                let out = std::mem::take(inflater.get_mut());
                if *written + out.len() as u32 > dl.size {
                    return Err(rom_error::DEFLATE_ERROR);
                }
                self.flash.write(dl.offset + *written, &out);
                *written += out.len() as u32;
            }
        }
        dl.next_seq += 1;
        Ok((0, Vec::new()))
    }

    fn flash_end(&mut self, end_op: u8) -> Result<(), u8> {
        let compressed = end_op == op::FLASH_DEFL_END;
        match self.download.take() {
            // Leaving the loader without a write (a "soft reset") is fine.
            None => Ok(()),
            Some(dl) if dl.inflate.is_some() != compressed => Err(rom_error::FAILED_TO_ACT),
            Some(_) => Ok(()),
        }
    }

    /// Whether SPI_ATTACH was sent in this session.
    pub fn spi_attached(&self) -> bool {
        self.spi_attached
    }

    /// A new download-mode session (after a reset): registers and any
    /// half-done write are gone; the flash keeps its contents.
    pub fn reset(&mut self) {
        self.regs.clear();
        self.download = None;
        self.spi_attached = false;
        self.baud = None;
    }
}

/// GET_SECURITY_INFO on an ESP32-S3 with nothing burned: flags, the flash
/// encryption count, seven key purposes, the chip id and the ROM's API
/// version.
fn security_info() -> Vec<u8> {
    let mut info = Vec::with_capacity(20);
    info.extend_from_slice(&0u32.to_le_bytes());
    info.push(0);
    info.extend_from_slice(&[0; 7]);
    info.extend_from_slice(&CHIP_ID_ESP32S3.to_le_bytes());
    info.extend_from_slice(&0u32.to_le_bytes());
    info
}

/// `N` little-endian words, or INVALID_MESSAGE for any other length.
fn words<const N: usize>(data: &[u8]) -> Result<[u32; N], u8> {
    if data.len() != N * 4 {
        return Err(rom_error::INVALID_MESSAGE);
    }
    let mut out = [0u32; N];
    for (i, w) in out.iter_mut().enumerate() {
        *w = u32_at(data, i * 4);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command packet as a host builds it.
    fn command(op: u8, data: &[u8], checksum: u32) -> Vec<u8> {
        let mut p = vec![0x00, op];
        p.extend_from_slice(&(data.len() as u16).to_le_bytes());
        p.extend_from_slice(&checksum.to_le_bytes());
        p.extend_from_slice(data);
        p
    }

    fn le(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Decodes a reply into (op, value, data without status, status, error).
    fn decode(reply: &Reply) -> Vec<(u8, u32, Vec<u8>, u8, u8)> {
        SlipReader::default()
            .push(&reply.bytes)
            .into_iter()
            .map(|f| {
                assert_eq!(f[0], 0x01, "a response");
                let size = usize::from(u16::from_le_bytes([f[2], f[3]]));
                assert_eq!(f.len(), 8 + size, "size field covers data and status");
                let data = &f[8..];
                let (body, status) = data.split_at(data.len() - 4);
                (f[1], u32_at(&f, 4), body.to_vec(), status[0], status[1])
            })
            .collect()
    }

    fn data_block(op: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut d = le(&[payload.len() as u32, seq, 0, 0]);
        d.extend_from_slice(payload);
        let sum = payload.iter().fold(CHECKSUM_SEED, |c, b| c ^ b);
        command(op, &d, u32::from(sum))
    }

    #[test]
    fn slip_round_trips_escapes_and_skips_noise_between_frames() {
        let packet = [0x00, END, 0x01, ESC, 0x02, END, ESC];
        let wire = slip_encode(&packet);
        assert_eq!(wire[0], END);
        assert_eq!(*wire.last().expect("end"), END);
        assert!(
            !wire[1..wire.len() - 1].contains(&END),
            "no bare END inside"
        );
        let mut reader = SlipReader::default();
        let mut stream = b"[Mem] hb noise\r\n".to_vec();
        stream.extend_from_slice(&wire);
        stream.extend_from_slice(&slip_encode(b"second"));
        // Fed in awkward pieces, like a serial port delivers them.
        let mut frames = Vec::new();
        for piece in stream.chunks(3) {
            frames.extend(reader.push(piece));
        }
        assert_eq!(frames, vec![packet.to_vec(), b"second".to_vec()]);
        // A bad escape drops the frame, the next one still arrives.
        let mut bad = vec![END, 0x01, ESC, 0x00, 0x02, END];
        bad.extend_from_slice(&slip_encode(b"ok"));
        assert_eq!(reader.push(&bad), vec![b"ok".to_vec()]);
    }

    #[test]
    fn sync_gets_eight_answers_and_a_wrong_sync_an_error() {
        let mut rom = RomLoader::default();
        let frame = command(op::SYNC, &SYNC_PAYLOAD, 0);
        assert!(is_sync(&frame));
        let answers = decode(&rom.handle(&frame));
        assert_eq!(answers.len(), 8);
        assert!(answers.iter().all(|a| a.0 == op::SYNC && a.3 == 0));
        let answers = decode(&rom.handle(&command(op::SYNC, &[0x07; 36], 0)));
        assert_eq!(
            answers,
            vec![(op::SYNC, 0, vec![], 1, rom_error::INVALID_MESSAGE)]
        );
        assert!(
            rom.handle(b"\x01\x08\x00\x00").bytes.is_empty(),
            "not a command"
        );
    }

    #[test]
    fn chip_detection_reads_the_s3_magic_and_security_info() {
        let mut rom = RomLoader::default();
        let magic = decode(&rom.handle(&command(op::READ_REG, &le(&[CHIP_MAGIC_REG]), 0)));
        assert_eq!(magic[0].1, CHIP_MAGIC_ESP32S3);
        let info = decode(&rom.handle(&command(op::GET_SECURITY_INFO, &[], 0)));
        let body = &info[0].2;
        assert_eq!(body.len(), 20);
        assert_eq!(u32_at(body, 12), CHIP_ID_ESP32S3);
    }

    #[test]
    fn rdid_through_the_spi_registers_reports_16_mb() {
        let mut rom = RomLoader::default();
        let write = |rom: &mut RomLoader, addr: u32, value: u32| {
            let r =
                decode(&rom.handle(&command(op::WRITE_REG, &le(&[addr, value, u32::MAX, 0]), 0)));
            assert_eq!(r[0].3, 0);
        };
        write(&mut rom, SPI_USR2, (7 << 28) | FLASH_RDID);
        write(&mut rom, SPI_CMD, SPI_CMD_USR);
        let cmd = decode(&rom.handle(&command(op::READ_REG, &le(&[SPI_CMD]), 0)));
        assert_eq!(cmd[0].1 & SPI_CMD_USR, 0, "the command finished");
        let id = decode(&rom.handle(&command(op::READ_REG, &le(&[SPI_W0]), 0)))[0].1;
        assert_eq!((id >> 16) as u8, 0x18, "capacity code of 16 MB");
        // A masked write keeps the other bits.
        write(&mut rom, 0x6000_7000, 0xFF00);
        let r = decode(&rom.handle(&command(
            op::WRITE_REG,
            &le(&[0x6000_7000, 0x0012, 0x00FF, 0]),
            0,
        )));
        assert_eq!(r[0].3, 0);
        assert_eq!(rom.read_reg(0x6000_7000), 0xFF12);
    }

    #[test]
    fn flash_write_then_md5_matches_and_bad_blocks_get_rom_errors() {
        let mut rom = RomLoader::default();
        let image: Vec<u8> = (0..1500u32).map(|i| (i * 7) as u8).collect();
        let begin = command(op::FLASH_BEGIN, &le(&[4096, 2, 1024, 0x10000, 0]), 0);
        assert_eq!(decode(&rom.handle(&begin))[0].3, 0);
        let mut second = image[1024..].to_vec();
        second.resize(1024, 0xFF);
        // Wrong checksum: INVALID_CRC, nothing written, same block again works.
        let mut corrupt = data_block(op::FLASH_DATA, 0, &image[..1024]);
        corrupt[4] ^= 1;
        assert_eq!(decode(&rom.handle(&corrupt))[0].4, rom_error::INVALID_CRC);
        // Out of order: refused.
        let late = data_block(op::FLASH_DATA, 1, &second);
        assert_eq!(decode(&rom.handle(&late))[0].4, rom_error::FAILED_TO_ACT);
        for (seq, block) in [&image[..1024], &second[..]].into_iter().enumerate() {
            let r = decode(&rom.handle(&data_block(op::FLASH_DATA, seq as u32, block)));
            assert_eq!(r[0].3, 0, "block {seq}");
        }
        let md5 = decode(&rom.handle(&command(op::SPI_FLASH_MD5, &le(&[0x10000, 1500, 0, 0]), 0)));
        let want: String = Md5::digest(&image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(String::from_utf8(md5[0].2.clone()).expect("ascii"), want);
        assert_eq!(rom.flash.read(0x10000, 1500), image);
        let end = rom.handle(&command(op::FLASH_END, &le(&[0]), 0));
        assert_eq!(end.event, Some(LoaderEvent::LeaveLoader { reboot: true }));
        // Past the end of the 16 MB flash.
        let past = command(
            op::FLASH_BEGIN,
            &le(&[8192, 2, 4096, FLASH_BYTES - 4096, 0]),
            0,
        );
        assert_eq!(decode(&rom.handle(&past))[0].4, rom_error::FAILED_TO_ACT);
        // Data without a begin.
        let stray = data_block(op::FLASH_DATA, 0, &[1, 2, 3, 4]);
        assert_eq!(decode(&rom.handle(&stray))[0].4, rom_error::FAILED_TO_ACT);
    }

    #[test]
    fn compressed_download_inflates_into_flash() {
        let mut rom = RomLoader::default();
        let image: Vec<u8> = b"heaplab ".iter().copied().cycle().take(10_000).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&image).expect("deflate");
        let packed = z.finish().expect("deflate");
        let blocks = packed.chunks(64).count() as u32;
        let begin = command(
            op::FLASH_DEFL_BEGIN,
            &le(&[10_000, blocks, 64, 0x20000, 0]),
            0,
        );
        assert_eq!(decode(&rom.handle(&begin))[0].3, 0);
        for (seq, block) in packed.chunks(64).enumerate() {
            let r = decode(&rom.handle(&data_block(op::FLASH_DEFL_DATA, seq as u32, block)));
            assert_eq!(r[0].3, 0);
        }
        let end = rom.handle(&command(op::FLASH_DEFL_END, &le(&[1]), 0));
        assert_eq!(end.event, Some(LoaderEvent::LeaveLoader { reboot: false }));
        assert_eq!(rom.flash.read(0x20000, 10_000), image);
    }

    #[test]
    fn flash_is_nor_erased_ff_and_writes_only_clear_bits() {
        let mut f = Flash::default();
        assert_eq!(f.read(100, 4), vec![0xFF; 4]);
        f.write(4095, &[0x0F, 0xF0]);
        f.write(4095, &[0xF3, 0xFF]);
        assert_eq!(f.read(4094, 3), vec![0xFF, 0x03, 0xF0]);
        f.erase(4096, 1);
        assert_eq!(f.read(4094, 3), vec![0xFF, 0x03, 0xFF]);
        assert_eq!(
            f.read(FLASH_BYTES - 2, 10).len(),
            2,
            "reads stop at the end"
        );
    }
}
