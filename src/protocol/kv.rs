//! `key=value` tokenising shared by the `[Mem]`, `[Task]` and alloc-failure
//! lines. Hand-rolled instead of a regex: these lines arrive thousands of
//! times a second and must not allocate on the happy path.

/// Splits `text` into whitespace-separated `key=value` pairs. Tokens without
/// `=` are skipped: real serial output interleaves stray words.
pub(crate) fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split_ascii_whitespace().filter_map(|tok| {
        let eq = tok.find('=')?;
        let (k, v) = (&tok[..eq], &tok[eq + 1..]);
        (!k.is_empty()).then_some((k, v))
    })
}

/// Parses an integer value, tolerating the unit suffixes firmware prints
/// (`76B`, `59%`). Anything else is `None`, never 0: a missing measurement
/// must not look like an empty heap.
pub(crate) fn int(value: &str) -> Option<i64> {
    let v = value.trim_end_matches(['B', '%', ',', ')']);
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    v.parse().ok()
}

/// True when `tok` looks like the start of the `key=value` section of a line:
/// an identifier, then `=`.
pub(crate) fn is_pair(tok: &str) -> bool {
    match tok.find('=') {
        Some(eq) if eq > 0 => tok[..eq]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        _ => false,
    }
}
