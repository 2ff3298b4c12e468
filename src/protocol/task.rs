//! Task stack lines: the dump header, one line per task, and the AsyncTCP
//! stack watermark. Tight stack margins explain sudden internal-heap cliffs,
//! so these ride along with every tripwire.

use serde::{Deserialize, Serialize};

use super::kv;

/// `[Mem] Task dump (14 tasks, sorted by stack margin) tag=http_root`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskDumpHeader {
    pub count: Option<i64>,
    pub tag: Option<String>,
}

impl TaskDumpHeader {
    /// Parses the text after `Task dump (`.
    pub(crate) fn parse(rest: &str) -> Self {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        TaskDumpHeader {
            count: rest[..digits].parse().ok(),
            tag: rest
                .rfind(" tag=")
                .map(|at| rest[at + 5..].trim().to_owned()),
        }
    }
}

/// `[Task] name=ipc0 prio=24 core=0 stack_rem=76B`: one task's remaining
/// stack (its high-water mark) in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskStack {
    pub name: String,
    pub prio: Option<i64>,
    /// `-1` or `2147483647` mean "no affinity" (tskNO_AFFINITY differs by IDF
    /// version); both are kept as printed.
    pub core: Option<i64>,
    pub stack_rem: Option<i64>,
}

impl TaskStack {
    /// Parses the text after `[Task] `.
    pub(crate) fn parse(rest: &str) -> Self {
        let rest = rest.trim();
        // The name is device-supplied and may contain spaces or `=`; it runs
        // from `name=` to the last ` prio=`.
        let (name, tail) = match rest.strip_prefix("name=") {
            Some(after) => match after.rfind(" prio=") {
                Some(end) => (&after[..end], &after[end..]),
                None => after.split_once(' ').unwrap_or((after, "")),
            },
            None => ("", rest),
        };
        let mut task = TaskStack {
            name: name.to_owned(),
            ..Default::default()
        };
        for (k, v) in kv::pairs(tail) {
            match k {
                "prio" => task.prio = kv::int(v),
                "core" => task.core = kv::int(v),
                "stack_rem" => task.stack_rem = kv::int(v),
                "name" if task.name.is_empty() => task.name = v.to_owned(),
                _ => {}
            }
        }
        task
    }
}

/// `[Portal] AsyncTCP stack watermark: task=async_tcp rem=2100 units (2100 B),
/// unit=1 B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=10240`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StackWatermark {
    pub task: Option<String>,
    pub rem_units: Option<i64>,
    pub rem_bytes: Option<i64>,
    pub unit_bytes: Option<i64>,
    pub stack_size_raw: Option<i64>,
}

impl StackWatermark {
    /// Parses the text after `AsyncTCP stack watermark:`.
    pub(crate) fn parse(rest: &str) -> Self {
        let mut mark = StackWatermark::default();
        for (k, v) in kv::pairs(rest) {
            match k {
                "task" => mark.task = Some(v.to_owned()),
                "rem" => mark.rem_units = kv::int(v),
                "unit" => mark.unit_bytes = kv::int(v),
                k if k.starts_with("CONFIG_ASYNC_TCP_STACK_SIZE") => {
                    mark.stack_size_raw = kv::int(v)
                }
                _ => {}
            }
        }
        if let Some(at) = rest.find(" units (") {
            let after = &rest[at + 8..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            mark.rem_bytes = after[..digits].parse().ok();
        }
        mark
    }
}
