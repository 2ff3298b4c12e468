//! Backtraces decoded without a toolchain. A team uploads the ELF of each
//! firmware version (`PUT /api/v1/firmware/{version}/elf`); crash events'
//! `Backtrace:` PCs are looked up in its DWARF line tables (`addr2line`,
//! `gimli`, `object`), falling back to the ELF symbol table for the
//! function name when there is no debug info.
//!
//! ELFs are stored in the database (`firmware_elves`), so a copied `.db`
//! file carries them along.

use serde::Serialize;

use addr2line::gimli;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

pub use crate::store::{normalize_version, ElfInfo};

/// Largest accepted ELF (debug builds of big firmwares run to tens of MB).
pub const ELF_LIMIT_BYTES: usize = 128 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SymbolError {
    #[error("not an ELF file: {0}")]
    NotElf(String),
    #[error("cannot read the ELF's debug info: {0}")]
    Dwarf(String),
}

/// One decoded frame. An inlined call gives several frames for one PC,
/// innermost first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    pub pc: u32,
    pub pc_hex: String,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
}

/// A version that is safe in a URL and a page: 1–64 of `[A-Za-z0-9._+-]`.
pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

/// Checks that `data` is an ELF object.
pub fn check_elf(data: &[u8]) -> Result<(), SymbolError> {
    match object::File::parse(data) {
        Ok(f) if f.format() == object::BinaryFormat::Elf => Ok(()),
        Ok(f) => Err(SymbolError::NotElf(format!("{:?} object", f.format()))),
        Err(e) => Err(SymbolError::NotElf(e.to_string())),
    }
}

/// Decodes `pcs` against `elf`: one or more frames per PC (a PC found
/// nowhere gives one frame with only its address).
pub fn symbolize(elf: &[u8], pcs: &[u32]) -> Result<Vec<Frame>, SymbolError> {
    let file = object::File::parse(elf).map_err(|e| SymbolError::NotElf(e.to_string()))?;
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<gimli::EndianSlice<'_, gimli::RunTimeEndian>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(gimli::EndianSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).map_err(|e| SymbolError::Dwarf(e.to_string()))?;
    let ctx =
        addr2line::Context::from_dwarf(dwarf).map_err(|e| SymbolError::Dwarf(e.to_string()))?;
    // The symbol table, for PCs without DWARF (or stripped debug info).
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_owned())))
        .collect();
    symbols.sort_by_key(|s| s.0);
    let symbol_at = |pc: u64| {
        let i = symbols.partition_point(|s| s.0 <= pc);
        let (addr, size, name) = symbols.get(i.checked_sub(1)?)?;
        (pc < addr + (*size).max(1)).then(|| name.clone())
    };

    let mut out = Vec::new();
    for &pc in pcs {
        let probe = u64::from(pc);
        let mut found = Vec::new();
        if let Ok(mut frames) = ctx.find_frames(probe).skip_all_loads() {
            while let Ok(Some(f)) = frames.next() {
                let function = f
                    .function
                    .as_ref()
                    .and_then(|n| n.demangle().ok())
                    .map(|n| n.into_owned());
                let (file, line) = f
                    .location
                    .as_ref()
                    .map_or((None, None), |l| (l.file.map(str::to_owned), l.line));
                found.push(Frame {
                    pc,
                    pc_hex: format!("0x{pc:08x}"),
                    function,
                    file,
                    line,
                    inlined: false,
                });
            }
        }
        if found.is_empty() {
            found.push(Frame {
                pc,
                pc_hex: format!("0x{pc:08x}"),
                function: None,
                file: None,
                line: None,
                inlined: false,
            });
        }
        let n = found.len();
        for (i, frame) in found.iter_mut().enumerate() {
            frame.inlined = i + 1 < n;
            if frame.function.is_none() {
                frame.function = symbol_at(probe);
            }
        }
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(normalize_version(" v1.5.0-crash "), "1.5.0-crash");
        assert_eq!(normalize_version("1.5.0"), "1.5.0");
        assert!(valid_version("1.5.0-crash+g1a2b"));
        assert!(!valid_version("../etc"));
        assert!(!valid_version(""));
    }

    #[test]
    fn not_an_elf_is_refused() {
        assert!(check_elf(b"hello").is_err());
        assert!(symbolize(b"\x7fELF", &[1]).is_err());
    }
}
