//! The twin's serial port: a pseudo-terminal pair standing in for USB-CDC.
//!
//! The slave side (`/dev/pts/N`, or a symlink to it) is what a reader opens.
//! It is put in raw mode so the line discipline neither echoes nor buffers
//! canonical lines nor translates CR, and the twin keeps its own slave fd
//! open so writes never fail just because no reader is attached. Writes to
//! the master are non-blocking: when the pty buffer is full (nobody reading)
//! the line is dropped and counted, as USB-CDC drops when the host is not
//! reading. What the reader writes to the device is read off the master
//! and handed to the device ([`PtyPort::take_input`]): the ROM loader
//! answers the frames a flashing tool sends.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, cfsetspeed, tcgetattr, tcsetattr, BaudRate, SetArg};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::device::SerialOut;
use super::error::SimError;
use super::rng::SplitMix64;

/// Injected bytes wait at most this long for a reader to make room.
const INJECT_PATIENCE: Duration = Duration::from_secs(3);
/// Injected bytes are written in pieces of this size.
const INJECT_CHUNK: usize = 4096;
/// Host input kept for the device at most (a runaway writer loses the
/// oldest bytes, as a UART FIFO overflows).
const INPUT_LIMIT: usize = 256 * 1024;

/// One open pty pair.
struct Pair {
    master: OwnedFd,
    /// Held so the slave never sees "no opener" and writes keep working.
    slave: OwnedFd,
    slave_path: PathBuf,
}

/// The port: a pty pair that can be unplugged and plugged back in.
pub struct PtyPort {
    pair: Option<Pair>,
    link: Option<PathBuf>,
    /// The rest of a line the pty only partly accepted; written before
    /// anything else so lines stay whole.
    pending: Vec<u8>,
    /// The last slave path (kept after unplug for error messages/paths).
    last_slave_path: PathBuf,
    /// Bytes the host wrote that the device has not taken yet.
    input: Vec<u8>,
}

/// Locks the port, tolerating a poisoned mutex (a panicked writer must not
/// take the twin down with it).
pub fn lock(port: &Mutex<PtyPort>) -> MutexGuard<'_, PtyPort> {
    port.lock().unwrap_or_else(|e| e.into_inner())
}

impl PtyPort {
    /// Opens a pair; with `link`, a symlink at that path points to the slave.
    pub fn open(link: Option<PathBuf>) -> Result<Self, SimError> {
        let pair = open_pair()?;
        if let Some(link) = &link {
            point_link(link, &pair.slave_path)?;
        }
        Ok(PtyPort {
            last_slave_path: pair.slave_path.clone(),
            pair: Some(pair),
            link,
            pending: Vec::new(),
            input: Vec::new(),
        })
    }

    /// What a reader opens: the link when set, else `/dev/pts/N`.
    pub fn path(&self) -> PathBuf {
        self.link
            .clone()
            .unwrap_or_else(|| self.last_slave_path.clone())
    }

    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// Closes both ends and removes the link: a reader sees EIO/hang-up.
    pub fn unplug(&mut self) {
        self.pair = None;
        self.pending.clear();
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }

    /// A new pty pair; the link (if any) points to it.
    pub fn replug(&mut self) -> Result<(), SimError> {
        let pair = open_pair()?;
        if let Some(link) = &self.link {
            point_link(link, &pair.slave_path)?;
        }
        self.last_slave_path = pair.slave_path.clone();
        self.pair = Some(pair);
        self.pending.clear();
        Ok(())
    }

    /// Writes a whole line or nothing new. Returns false when the line was
    /// dropped (unplugged, or the pty is full because nobody reads).
    pub fn write_line(&mut self, bytes: &[u8]) -> bool {
        let Some(pair) = &self.pair else {
            return false;
        };
        allow_more_openers(pair);
        read_input(pair, &mut self.input);
        if !self.pending.is_empty() {
            match write_some(&pair.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(_) => return false,
            }
            if !self.pending.is_empty() {
                return false;
            }
        }
        match write_some(&pair.master, bytes) {
            Ok(n) => {
                self.pending.extend_from_slice(&bytes[n..]);
                n > 0 || bytes.is_empty()
            }
            Err(_) => false,
        }
    }

    /// What the host wrote since the last call (empty when unplugged).
    pub fn take_input(&mut self) -> Vec<u8> {
        if let Some(pair) = &self.pair {
            read_input(pair, &mut self.input);
        }
        std::mem::take(&mut self.input)
    }

    /// Writes as much of `bytes` as fits right now; returns how much.
    fn write_partial(&mut self, bytes: &[u8]) -> Option<usize> {
        let pair = self.pair.as_ref()?;
        if !self.pending.is_empty() {
            let n = write_some(&pair.master, &self.pending).ok()?;
            self.pending.drain(..n);
            if !self.pending.is_empty() {
                return Some(0);
            }
        }
        write_some(&pair.master, bytes).ok()
    }
}

impl Drop for PtyPort {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

fn open_pair() -> Result<Pair, SimError> {
    let pty = openpty(None, None).map_err(SimError::Pty)?;
    let mut termios = tcgetattr(&pty.slave).map_err(SimError::Pty)?;
    cfmakeraw(&mut termios);
    cfsetspeed(&mut termios, BaudRate::B115200).map_err(SimError::Pty)?;
    tcsetattr(&pty.slave, SetArg::TCSANOW, &termios).map_err(SimError::Pty)?;
    let flags = fcntl(&pty.master, FcntlArg::F_GETFL).map_err(SimError::Pty)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(&pty.master, FcntlArg::F_SETFL(flags)).map_err(SimError::Pty)?;
    let slave_path = nix::unistd::ttyname(&pty.slave).map_err(SimError::Pty)?;
    Ok(Pair {
        master: pty.master,
        slave: pty.slave,
        slave_path,
    })
}

/// Creates (or re-points) the symlink at `link`. An existing non-link file
/// is left alone and reported.
fn point_link(link: &Path, target: &Path) -> Result<(), SimError> {
    let io = |source| SimError::Link {
        path: link.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link).map_err(io)?,
        Ok(_) => {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a symlink",
            )))
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link).map_err(io)
}

/// Serial libraries open ports with TIOCEXCL; since the twin keeps the
/// slave open the flag would outlive the reader and lock out the next one
/// (a reconnecting server). A real USB-CDC port forgets it on close.
fn allow_more_openers(pair: &Pair) {
    // SAFETY: TIOCNXCL takes no argument; the fd is valid while `pair` lives.
    unsafe {
        libc::ioctl(pair.slave.as_raw_fd(), libc::TIOCNXCL);
    }
}

/// Whatever a reader wrote to the device is moved into `input`, so the
/// master's input never fills up; past [`INPUT_LIMIT`] the oldest bytes go.
fn read_input(pair: &Pair, input: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = nix::unistd::read(pair.master.as_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        input.extend_from_slice(&buf[..n]);
    }
    if input.len() > INPUT_LIMIT {
        let excess = input.len() - INPUT_LIMIT;
        input.drain(..excess);
    }
}

/// One non-blocking write: `Ok(0)` when the pty is full.
fn write_some(master: &OwnedFd, bytes: &[u8]) -> Result<usize, Errno> {
    match nix::unistd::write(master, bytes) {
        Ok(n) => Ok(n),
        Err(Errno::EAGAIN) => Ok(0),
        Err(Errno::EINTR) => Ok(0),
        Err(e) => Err(e),
    }
}

/// A message for the writer task.
#[derive(Debug)]
pub enum WriterMsg {
    Out(SerialOut),
    /// Raw bytes from a test: written patiently, in order, not dropped
    /// unless nobody reads for a while.
    Inject(Vec<u8>, tokio::sync::oneshot::Sender<()>),
}

/// How the writer misbehaves on a flaky link.
pub struct Flakiness {
    pub rng: SplitMix64,
}

/// The writer task: frames lines with `\r\n`, applies flakiness, counts
/// what it had to drop.
pub fn spawn_writer(
    port: Arc<Mutex<PtyPort>>,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
    mut flaky: Option<Flakiness>,
    dropped: Arc<AtomicU64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                WriterMsg::Out(SerialOut::Line(line)) => {
                    let mut bytes = line.into_bytes();
                    bytes.extend_from_slice(b"\r\n");
                    write_flaky(&port, &bytes, flaky.as_mut(), &dropped).await;
                }
                WriterMsg::Out(SerialOut::Frame(bytes)) => {
                    inject(&port, &bytes, &dropped).await;
                }
                WriterMsg::Out(SerialOut::Raw(bytes)) => {
                    if !lock(&port).write_line(&bytes) {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                WriterMsg::Inject(bytes, done) => {
                    inject(&port, &bytes, &dropped).await;
                    let _ = done.send(());
                }
            }
        }
    })
}

async fn write_flaky(
    port: &Mutex<PtyPort>,
    bytes: &[u8],
    flaky: Option<&mut Flakiness>,
    dropped: &AtomicU64,
) {
    let ok = match flaky {
        Some(f) => {
            if f.rng.chance(0.03) {
                // Line noise before the line, glued to its start.
                let noise = [0xffu8, 0x00, 0xfe, b'~', 0x80, 0x1b];
                let n = f.rng.range_u32(1, noise.len() as u32) as usize;
                let _ = lock(port).write_line(&noise[..n]);
            }
            if bytes.len() > 8 && f.rng.chance(0.08) {
                // The line arrives in two USB packets with a gap.
                let cut = f.rng.range_u32(1, bytes.len() as u32 - 1) as usize;
                let gap = Duration::from_millis(u64::from(f.rng.range_u32(5, 40)));
                let first = lock(port).write_line(&bytes[..cut]);
                tokio::time::sleep(gap).await;
                lock(port).write_line(&bytes[cut..]) && first
            } else {
                lock(port).write_line(bytes)
            }
        }
        None => lock(port).write_line(bytes),
    };
    if !ok {
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}

async fn inject(port: &Mutex<PtyPort>, bytes: &[u8], dropped: &AtomicU64) {
    let mut rest = bytes;
    let mut last_progress = Instant::now();
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(INJECT_CHUNK)];
        let written = lock(port).write_partial(chunk);
        match written {
            Some(n) if n > 0 => {
                rest = &rest[n..];
                last_progress = Instant::now();
            }
            Some(_) if last_progress.elapsed() < INJECT_PATIENCE => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            _ => {
                dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}
