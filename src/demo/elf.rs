//! A firmware ELF written without a toolchain: an ESP32-S3 (Xtensa)
//! executable whose `.flash.text` holds the given functions, with a symbol
//! table and DWARF (one compile unit per source file, a line program per
//! function) made with gimli's and object's write APIs.
//!
//! The code bytes are zeros: nothing runs this image. What matters is what
//! a backtrace decoder reads, the symbols and the line tables, and that is
//! shaped as GCC lays it out, so heaplab's decoder (`soak::symbolize`)
//! takes the same path through it as through a real build.

use std::collections::BTreeMap;

use gimli::write::{
    Address, AttributeValue, Dwarf, EndianVec, LineProgram, LineString, Range, RangeList, Sections,
    Unit,
};
use gimli::{Encoding, Format, LineEncoding, RunTimeEndian};
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Sym, Writer};
use object::Endianness;

/// ESP-IDF's flash-mapped instruction bus: where `.flash.text` lives.
pub const FLASH_TEXT_BASE: u32 = 0x4200_0000;

/// The largest image this writer makes (the ESP32-S3 maps 32 MB of flash
/// text): a guard against a table with a wild address.
const MAX_TEXT_BYTES: u32 = 32 * 1024 * 1024;

/// One function of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfFunction {
    pub name: String,
    /// The source file, relative to the compile directory (`src/main.cpp`).
    pub file: String,
    pub low_pc: u32,
    pub size: u32,
    /// `(address, line)` rows in ascending address order; the first at
    /// `low_pc`. Each row's line holds until the next row's address.
    pub lines: Vec<(u32, u32)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ElfWriteError {
    #[error("function {name}: {why}")]
    Function { name: String, why: String },
    #[error("functions {a} and {b} overlap")]
    Overlap { a: String, b: String },
    #[error("writing DWARF: {0}")]
    Dwarf(#[from] gimli::write::Error),
    #[error("writing the ELF: {0}")]
    Elf(#[from] object::write::Error),
}

/// Writes the image. `comp_dir` is the compile directory the DWARF names
/// (files decode as `comp_dir/file`).
pub fn write_elf(comp_dir: &str, functions: &[ElfFunction]) -> Result<Vec<u8>, ElfWriteError> {
    let mut functions = functions.to_vec();
    functions.sort_by_key(|f| f.low_pc);
    check(&functions)?;
    let text_end = functions
        .iter()
        .map(|f| f.low_pc + f.size)
        .max()
        .unwrap_or(FLASH_TEXT_BASE);
    let text = vec![0u8; (text_end - FLASH_TEXT_BASE) as usize];
    let debug = dwarf_sections(comp_dir, &functions)?;
    elf_image(&text, &functions, &debug)
}

/// Every function inside flash text, non-empty, with rows inside it, and
/// no two overlapping.
fn check(functions: &[ElfFunction]) -> Result<(), ElfWriteError> {
    let bad = |f: &ElfFunction, why: &str| ElfWriteError::Function {
        name: f.name.clone(),
        why: why.to_owned(),
    };
    for f in functions {
        if f.name.is_empty() || f.file.is_empty() || f.size == 0 {
            return Err(bad(f, "needs a name, a file and a size"));
        }
        let end = u64::from(f.low_pc) + u64::from(f.size);
        if f.low_pc < FLASH_TEXT_BASE || end > u64::from(FLASH_TEXT_BASE + MAX_TEXT_BYTES) {
            return Err(bad(f, "lies outside flash text"));
        }
        if f.lines.first().map(|r| r.0) != Some(f.low_pc) {
            return Err(bad(f, "its first line row must start at its address"));
        }
        let ascending = f.lines.windows(2).all(|w| w[0].0 < w[1].0);
        let inside = f.lines.iter().all(|r| u64::from(r.0) < end && r.1 > 0);
        if !ascending || !inside {
            return Err(bad(
                f,
                "line rows must ascend inside the function, lines from 1",
            ));
        }
    }
    for w in functions.windows(2) {
        if w[0].low_pc + w[0].size > w[1].low_pc {
            return Err(ElfWriteError::Overlap {
                a: w[0].name.clone(),
                b: w[1].name.clone(),
            });
        }
    }
    Ok(())
}

/// The `.debug_*` sections: one compile unit per source file, each with a
/// subprogram per function and a line sequence per function.
fn dwarf_sections(
    comp_dir: &str,
    functions: &[ElfFunction],
) -> Result<Vec<(&'static str, Vec<u8>)>, ElfWriteError> {
    let encoding = Encoding {
        format: Format::Dwarf32,
        version: 4,
        address_size: 4,
    };
    let mut by_file: BTreeMap<&str, Vec<&ElfFunction>> = BTreeMap::new();
    for f in functions {
        by_file.entry(f.file.as_str()).or_default().push(f);
    }
    let mut dwarf = Dwarf::new();
    for (file, members) in by_file {
        let (dir, name) = file.rsplit_once('/').unwrap_or(("", file));
        let mut program = LineProgram::new(
            encoding,
            LineEncoding::default(),
            LineString::String(comp_dir.as_bytes().to_vec()),
            None,
            LineString::String(file.as_bytes().to_vec()),
            None,
        );
        let dir_id = if dir.is_empty() {
            program.default_directory()
        } else {
            program.add_directory(LineString::String(dir.as_bytes().to_vec()))
        };
        let file_id = program.add_file(LineString::String(name.as_bytes().to_vec()), dir_id, None);
        for f in &members {
            program.begin_sequence(Some(Address::Constant(u64::from(f.low_pc))));
            for &(addr, line) in &f.lines {
                let row = program.row();
                row.address_offset = u64::from(addr - f.low_pc);
                row.file = file_id;
                row.line = u64::from(line);
                row.is_statement = true;
                program.generate_row();
            }
            program.end_sequence(u64::from(f.size));
        }
        let unit_id = dwarf.units.add(Unit::new(encoding, program));
        let unit = dwarf.units.get_mut(unit_id);
        let ranges = RangeList(
            members
                .iter()
                .map(|f| Range::StartLength {
                    begin: Address::Constant(u64::from(f.low_pc)),
                    length: u64::from(f.size),
                })
                .collect(),
        );
        let ranges = unit.ranges.add(ranges);
        let root = unit.root();
        let cu = unit.get_mut(root);
        cu.set(
            gimli::DW_AT_producer,
            AttributeValue::String(b"heaplab demo (no compiler: tables only)".to_vec()),
        );
        cu.set(
            gimli::DW_AT_language,
            AttributeValue::Language(gimli::DW_LANG_C_plus_plus_14),
        );
        cu.set(
            gimli::DW_AT_name,
            AttributeValue::String(file.as_bytes().to_vec()),
        );
        cu.set(
            gimli::DW_AT_comp_dir,
            AttributeValue::String(comp_dir.as_bytes().to_vec()),
        );
        cu.set(
            gimli::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0)),
        );
        cu.set(gimli::DW_AT_ranges, AttributeValue::RangeListRef(ranges));
        for f in &members {
            let id = unit.add(root, gimli::DW_TAG_subprogram);
            let sub = unit.get_mut(id);
            sub.set(gimli::DW_AT_external, AttributeValue::Flag(true));
            sub.set(
                gimli::DW_AT_name,
                AttributeValue::String(f.name.as_bytes().to_vec()),
            );
            sub.set(
                gimli::DW_AT_decl_file,
                AttributeValue::FileIndex(Some(file_id)),
            );
            sub.set(
                gimli::DW_AT_decl_line,
                AttributeValue::Udata(u64::from(f.lines[0].1)),
            );
            sub.set(
                gimli::DW_AT_low_pc,
                AttributeValue::Address(Address::Constant(u64::from(f.low_pc))),
            );
            sub.set(
                gimli::DW_AT_high_pc,
                AttributeValue::Udata(u64::from(f.size)),
            );
        }
    }
    let mut sections = Sections::new(EndianVec::new(RunTimeEndian::Little));
    dwarf.write(&mut sections)?;
    let mut out = Vec::new();
    sections.for_each(|id, data| {
        if !data.slice().is_empty() {
            out.push((id.name(), data.slice().to_vec()));
        }
        Ok::<(), gimli::write::Error>(())
    })?;
    Ok(out)
}

/// The ELF file: header, one `PT_LOAD` for `.flash.text`, the code bytes,
/// the debug sections, the symbol table.
fn elf_image(
    text: &[u8],
    functions: &[ElfFunction],
    debug: &[(&'static str, Vec<u8>)],
) -> Result<Vec<u8>, ElfWriteError> {
    let mut buffer = Vec::new();
    let mut w = Writer::new(Endianness::Little, false, &mut buffer);
    w.reserve_file_header();
    w.reserve_program_headers(1);
    w.reserve_null_section_index();
    let text_name = w.add_section_name(b".flash.text");
    let text_index = w.reserve_section_index();
    let text_offset = w.reserve(text.len(), 4);
    let debug_layout: Vec<_> = debug
        .iter()
        .map(|(name, data)| {
            let name_id = w.add_section_name(name.as_bytes());
            w.reserve_section_index();
            (name_id, w.reserve(data.len(), 1), data)
        })
        .collect();
    w.reserve_null_symbol_index();
    let symbols: Vec<_> = functions
        .iter()
        .map(|f| {
            let name = w.add_string(f.name.as_bytes());
            w.reserve_symbol_index(Some(text_index));
            (name, f)
        })
        .collect();
    w.reserve_symtab_section_index();
    w.reserve_symtab();
    w.reserve_strtab_section_index();
    w.reserve_strtab();
    w.reserve_shstrtab_section_index();
    w.reserve_shstrtab();
    w.reserve_section_headers();

    let entry = functions.first().map_or(FLASH_TEXT_BASE, |f| f.low_pc);
    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: elf::EM_XTENSA,
        e_entry: u64::from(entry),
        // What ESP-IDF's xtensa-esp32s3-elf-gcc writes (EF_XTENSA_XT_INSN |
        // EF_XTENSA_XT_LIT).
        e_flags: 0x300,
    })?;
    w.write_align_program_headers();
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_LOAD,
        p_flags: elf::PF_R | elf::PF_X,
        p_offset: text_offset as u64,
        p_vaddr: u64::from(FLASH_TEXT_BASE),
        p_paddr: u64::from(FLASH_TEXT_BASE),
        p_filesz: text.len() as u64,
        p_memsz: text.len() as u64,
        p_align: 4,
    });
    w.write_align(4);
    w.write(text);
    for (_, _, data) in &debug_layout {
        w.write(data);
    }
    w.write_null_symbol();
    for (name, f) in &symbols {
        w.write_symbol(&Sym {
            name: Some(*name),
            section: Some(text_index),
            st_info: (elf::STB_GLOBAL << 4) | elf::STT_FUNC,
            st_other: elf::STV_DEFAULT,
            st_shndx: 0,
            st_value: u64::from(f.low_pc),
            st_size: u64::from(f.size),
        });
    }
    w.write_strtab();
    w.write_shstrtab();

    w.write_null_section_header();
    w.write_section_header(&SectionHeader {
        name: Some(text_name),
        sh_type: elf::SHT_PROGBITS,
        sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR),
        sh_addr: u64::from(FLASH_TEXT_BASE),
        sh_offset: text_offset as u64,
        sh_size: text.len() as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 4,
        sh_entsize: 0,
    });
    for (name, offset, data) in &debug_layout {
        w.write_section_header(&SectionHeader {
            name: Some(*name),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: 0,
            sh_addr: 0,
            sh_offset: *offset as u64,
            sh_size: data.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 1,
            sh_entsize: 0,
        });
    }
    // Every symbol is global: the first non-local one is index 1.
    w.write_symtab_section_header(1);
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use addr2line::gimli as read;
    use object::{Object, ObjectSection, ObjectSymbol};

    fn function(
        name: &str,
        file: &str,
        low_pc: u32,
        size: u32,
        lines: &[(u32, u32)],
    ) -> ElfFunction {
        ElfFunction {
            name: name.into(),
            file: file.into(),
            low_pc,
            size,
            lines: lines
                .iter()
                .map(|&(off, line)| (low_pc + off, line))
                .collect(),
        }
    }

    fn sample() -> Vec<ElfFunction> {
        vec![
            function(
                "handle_gc",
                "src/api_icons.cpp",
                0x4200_8a00,
                0x40,
                &[(0, 46), (0x10, 49), (0x13, 50)],
            ),
            function(
                "icon_store_gc",
                "src/icon_store.cpp",
                0x4201_1480,
                0x80,
                &[(0, 92), (0x36, 110)],
            ),
            function(
                "icon_store_list",
                "src/icon_store.cpp",
                0x4201_1500,
                0x20,
                &[(0, 29)],
            ),
        ]
    }

    /// Reads the image back with addr2line, the way a debugger would.
    fn locate(elf: &[u8], pc: u64) -> (Option<String>, Option<String>, Option<u32>) {
        let file = object::File::parse(elf).expect("parse");
        let load = |id: read::SectionId| -> Result<read::EndianSlice<'_, read::RunTimeEndian>, read::Error> {
            let data = file
                .section_by_name(id.name())
                .and_then(|s| s.data().ok())
                .unwrap_or(&[]);
            Ok(read::EndianSlice::new(data, read::RunTimeEndian::Little))
        };
        let dwarf = read::Dwarf::load(load).expect("dwarf");
        let ctx = addr2line::Context::from_dwarf(dwarf).expect("context");
        let mut frames = ctx.find_frames(pc).skip_all_loads().expect("frames");
        let frame = frames.next().expect("frame");
        let Some(frame) = frame else {
            return (None, None, None);
        };
        let function = frame
            .function
            .and_then(|f| f.raw_name().ok().map(|n| n.into_owned()));
        let (file, line) = frame
            .location
            .map_or((None, None), |l| (l.file.map(str::to_owned), l.line));
        (function, file, line)
    }

    #[test]
    fn addr2line_reads_back_names_files_and_lines() {
        let elf = write_elf("firmware", &sample()).expect("write");
        let (f, file, line) = locate(&elf, 0x4200_8a10);
        assert_eq!(f.as_deref(), Some("handle_gc"));
        assert_eq!(file.as_deref(), Some("firmware/src/api_icons.cpp"));
        assert_eq!(line, Some(49));
        // Between rows the earlier row's line holds.
        assert_eq!(locate(&elf, 0x4200_8a12).2, Some(49));
        assert_eq!(locate(&elf, 0x4200_8a13).2, Some(50));
        assert_eq!(locate(&elf, 0x4200_8a00).2, Some(46));
        // Two functions of one file share a compile unit.
        let (f, file, line) = locate(&elf, 0x4201_14b6);
        assert_eq!(f.as_deref(), Some("icon_store_gc"));
        assert_eq!(file.as_deref(), Some("firmware/src/icon_store.cpp"));
        assert_eq!(line, Some(110));
        assert_eq!(
            locate(&elf, 0x4201_1505).0.as_deref(),
            Some("icon_store_list")
        );
        // Outside every function: nothing.
        assert_eq!(locate(&elf, 0x4200_9000), (None, None, None));
    }

    #[test]
    fn the_image_is_an_xtensa_executable_with_symbols_and_a_load_segment() {
        let elf = write_elf("firmware", &sample()).expect("write");
        let file = object::File::parse(&*elf).expect("parse");
        assert_eq!(file.architecture(), object::Architecture::Xtensa);
        assert_eq!(file.kind(), object::ObjectKind::Executable);
        assert!(file.is_little_endian() && !file.is_64());
        let text = file.section_by_name(".flash.text").expect(".flash.text");
        assert_eq!(text.address(), u64::from(FLASH_TEXT_BASE));
        assert_eq!(text.size(), 0x4201_1520 - u64::from(FLASH_TEXT_BASE));
        let symbols: Vec<(String, u64, u64)> = file
            .symbols()
            .map(|s| (s.name().expect("name").to_owned(), s.address(), s.size()))
            .collect();
        assert!(symbols.contains(&("icon_store_gc".to_owned(), 0x4201_1480, 0x80)));
        assert_eq!(symbols.len(), 3);
        use object::read::elf::{FileHeader as _, ProgramHeader as _};
        let header = object::elf::FileHeader32::<object::Endianness>::parse(&*elf).expect("header");
        let endian = header.endian().expect("endian");
        let segments = header.program_headers(endian, &*elf).expect("segments");
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].p_type(endian), object::elf::PT_LOAD);
        assert_eq!(segments[0].p_vaddr(endian), FLASH_TEXT_BASE);
    }

    #[test]
    fn heaplabs_decoder_names_the_frames() {
        let elf = write_elf("firmware", &sample()).expect("write");
        let frames =
            crate::soak::symbolize::symbolize(&elf, &[0x4201_14b6, 0x4200_8a10]).expect("decode");
        let got: Vec<(Option<&str>, Option<u32>)> = frames
            .iter()
            .map(|f| (f.function.as_deref(), f.line))
            .collect();
        assert_eq!(
            got,
            [
                (Some("icon_store_gc"), Some(110)),
                (Some("handle_gc"), Some(49))
            ]
        );
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut overlapping = sample();
        overlapping[1].low_pc = 0x4200_8a20;
        overlapping[1].lines = vec![(0x4200_8a20, 92)];
        assert!(matches!(
            write_elf("firmware", &overlapping),
            Err(ElfWriteError::Overlap { .. })
        ));
        let mut outside = sample();
        outside[0].low_pc = 0x4037_a1b2;
        outside[0].lines = vec![(0x4037_a1b2, 1)];
        assert!(write_elf("firmware", &outside).is_err());
        let mut unordered = sample();
        unordered[0].lines.reverse();
        assert!(write_elf("firmware", &unordered).is_err());
    }
}
