//! ELF upload: `check_elf` (what the upload route runs) and `symbolize`
//! (what the crash view runs later on the stored bytes) on mutated ELFs
//! with DWARF, for PCs in and around their functions.

use heaplab::soak::symbolize::{check_elf, symbolize};
use object::{Object, ObjectSymbol};

use crate::engine::{AllocBound, Target};

const DICT: &[&[u8]] = &[
    b"\x7fELF",
    b".debug_info\0",
    b".debug_line\0",
    b".debug_abbrev\0",
    b".symtab\0",
    b"\xff\xff\xff\xff",
];

const SEEDS: [&str; 3] = [
    "elf/tiny-rv32.elf",
    "elf/tiny-x86_64.elf",
    "elf/tiny-x86_64-nodebug.elf",
];

pub fn target() -> Target {
    let seeds: Vec<Vec<u8>> = SEEDS
        .iter()
        .map(|p| std::fs::read(crate::fixture(p)).expect("ELF fixture"))
        .collect();
    let mut pcs: Vec<u32> = vec![0, 1, u32::MAX];
    for seed in &seeds {
        let file = object::File::parse(seed.as_slice()).expect("fixture parses");
        for sym in file.symbols() {
            let addr = sym.address() as u32;
            pcs.extend([
                addr,
                addr.wrapping_add(2),
                addr.wrapping_add(sym.size() as u32),
            ]);
        }
    }
    pcs.sort_unstable();
    pcs.dedup();
    Target {
        name: "elf_upload",
        seeds,
        dict: DICT,
        generate: None,
        max_len: 64 * 1024,
        // object parses in place; addr2line keeps per-unit line tables and
        // function lists (a few dozen bytes per DWARF byte at worst).
        bound: AllocBound {
            base: 256 * 1024,
            per_byte: 64,
        },
        run: Box::new(move |input| {
            if check_elf(input).is_ok() {
                let _ = symbolize(input, &pcs);
            }
        }),
    }
}
