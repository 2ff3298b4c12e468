//! The harness's JSONL files, read one row at a time.
//!
//! A week-long run's `mem.jsonl` is half a gigabyte; holding it (as the
//! first importer did, as `serde_json` maps) cost five times that in memory.
//! Rows are read and parsed one at a time instead, into whatever shape the
//! reader needs: the importer takes three fields of a `mem.jsonl` row, not
//! a map of twenty.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};

use super::folder::ArtifactError;

/// One JSONL file of a run folder, found when the folder was opened and
/// read when the import reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlSource {
    pub path: PathBuf,
    /// The harness's name for it (`mem.jsonl`), as import reports show it.
    pub name: &'static str,
}

/// One line of a JSONL file: a row, or why it is not one.
#[derive(Debug)]
pub enum JsonlRow<T> {
    Object { line: usize, row: T },
    Corrupt { line: usize, why: String },
}

impl JsonlSource {
    /// The rows as whole JSON objects.
    pub fn rows(&self) -> Result<JsonlRows<Map<String, Value>>, ArtifactError> {
        self.rows_as()
    }

    /// The rows parsed as `T`, a struct naming only the fields the caller
    /// reads (the others are skipped, not built).
    pub fn rows_as<T: DeserializeOwned>(&self) -> Result<JsonlRows<T>, ArtifactError> {
        let file = File::open(&self.path).map_err(|source| ArtifactError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(JsonlRows {
            reader: BufReader::with_capacity(256 << 10, file),
            path: self.path.clone(),
            line: 0,
            buf: Vec::with_capacity(512),
            row: PhantomData,
        })
    }
}

/// The rows of a [`JsonlSource`], in file order; blank lines are skipped.
pub struct JsonlRows<T> {
    reader: BufReader<File>,
    path: PathBuf,
    line: usize,
    buf: Vec<u8>,
    row: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Iterator for JsonlRows<T> {
    type Item = Result<JsonlRow<T>, ArtifactError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(ArtifactError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            }
            self.line += 1;
            if let Some(row) = parse_row(self.line, &self.buf) {
                return Some(Ok(row));
            }
        }
    }
}

/// Parses one line; `None` for a blank one. Bytes that are not UTF-8 are
/// replaced, as a lenient reader of a file a crashed script cut short must.
fn parse_row<T: DeserializeOwned>(line: usize, bytes: &[u8]) -> Option<JsonlRow<T>> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // A struct would also deserialize from a JSON array; only objects are rows.
    if !text.starts_with('{') {
        let why = match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => "not a JSON object".to_owned(),
            Err(e) => e.to_string(),
        };
        return Some(JsonlRow::Corrupt { line, why });
    }
    Some(match serde_json::from_str(text) {
        Ok(row) => JsonlRow::Object { line, row },
        Err(e) => JsonlRow::Corrupt {
            line,
            why: e.to_string(),
        },
    })
}

/// A whole JSONL file in memory, for the one import that must sort rows
/// from several files by time (a folder without `serial.log`).
#[derive(Debug, Default)]
pub struct JsonlFile {
    pub rows: Vec<(usize, Map<String, Value>)>,
    pub corrupt: Vec<(usize, String)>,
}

impl JsonlFile {
    pub fn read(source: &JsonlSource) -> Result<Self, ArtifactError> {
        let mut file = JsonlFile::default();
        for row in source.rows()? {
            match row? {
                JsonlRow::Object { line, row } => file.rows.push((line, row)),
                JsonlRow::Corrupt { line, why } => file.corrupt.push((line, why)),
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<JsonlRow<Map<String, Value>>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mem.jsonl");
        std::fs::write(&path, text).expect("write");
        let source = JsonlSource {
            path,
            name: "mem.jsonl",
        };
        source
            .rows()
            .expect("open")
            .collect::<Result<_, _>>()
            .expect("read")
    }

    #[test]
    fn rows_keep_their_line_numbers_past_blank_and_corrupt_lines() {
        let read = rows("{\"tag\":\"a\"}\n\n[1,2]\n{\"tag\":\nnull\n{\"tag\":\"b\"}");
        let summary: Vec<String> = read
            .iter()
            .map(|r| match r {
                JsonlRow::Object { line, row } => format!("{line}:{}", row["tag"]),
                JsonlRow::Corrupt { line, why } => format!("{line}!{why}"),
            })
            .collect();
        assert_eq!(summary[0], "1:\"a\"");
        assert_eq!(summary[1], "3!not a JSON object");
        assert!(summary[2].starts_with("4!EOF while parsing"), "{summary:?}");
        assert_eq!(summary[3], "5!not a JSON object");
        assert_eq!(summary[4], "6:\"b\"");
        assert_eq!(summary.len(), 5);
    }

    #[test]
    fn a_struct_reader_takes_only_objects() {
        #[derive(serde::Deserialize)]
        struct Tag {
            tag: Option<String>,
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mem.jsonl");
        std::fs::write(&path, "[\"x\"]\n{\"tag\":\"y\",\"hin\":3}\n").expect("write");
        let source = JsonlSource {
            path,
            name: "mem.jsonl",
        };
        let read: Vec<_> = source
            .rows_as::<Tag>()
            .expect("open")
            .collect::<Result<_, _>>()
            .expect("read");
        assert!(matches!(read[0], JsonlRow::Corrupt { line: 1, .. }));
        assert!(
            matches!(&read[1], JsonlRow::Object { line: 2, row } if row.tag.as_deref() == Some("y"))
        );
    }
}
