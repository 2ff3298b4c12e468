//! Request bodies for the `http` step: literal text, an earlier step's
//! response sent back (with secrets removed, since device settings pages
//! echo passwords masked or in clear; or only chosen keys, secrets blanked,
//! as the team's harness sends them), a JPEG-looking blob of a given size,
//! or a real baseline JPEG, optionally as a multipart file upload.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::image::{baseline_jpeg, multipart, multipart_overhead};
use crate::scenario::model::{substitute, JpegSpec, Num};

/// The file name a multipart upload gives its part.
const UPLOAD_FILENAME: &str = "heaplab.jpg";

/// Where an `http` step's body comes from; the first one set wins.
pub(super) struct BodySource<'s> {
    pub(super) text: Option<&'s str>,
    pub(super) from_step: Option<&'s str>,
    /// With `from_step`: only these keys, and these sent blank.
    pub(super) keys: Option<&'s [String]>,
    pub(super) blank: Option<&'s [String]>,
    pub(super) generated_bytes: Option<&'s Num>,
    pub(super) jpeg: Option<&'s JpegSpec>,
    /// Wrap the generated body as a multipart file in this field.
    pub(super) multipart_field: Option<&'s str>,
    pub(super) content_type: Option<&'s str>,
}

impl<'s> BodySource<'s> {
    /// The bytes and content type to send, if any. `responses` are earlier
    /// steps' bodies by step name.
    pub(super) fn payload(
        &self,
        responses: &HashMap<String, String>,
        p: &BTreeMap<String, String>,
    ) -> Result<Option<(Vec<u8>, String)>, String> {
        let json_ct = || self.content_type.unwrap_or("application/json").to_owned();
        if let Some(b) = self.text {
            return Ok(Some((substitute(b, p)?.into_bytes(), json_ct())));
        }
        if let Some(from) = self.from_step {
            let raw = responses.get(from).ok_or_else(|| {
                format!("body_from = {from:?}: that step has no response (skipped or failed)")
            })?;
            let text = match (serde_json::from_str::<Value>(raw), self.keys) {
                (Ok(v), Some(keys)) => picked(&v, keys, self.blank.unwrap_or(&[])).to_string(),
                (Ok(mut v), None) => {
                    strip_secrets(&mut v);
                    v.to_string()
                }
                (Err(_), Some(_)) => {
                    return Err(format!(
                        "body_from = {from:?}: body_keys needs a JSON response"
                    ))
                }
                (Err(_), None) => raw.clone(),
            };
            return Ok(Some((text.into_bytes(), json_ct())));
        }
        let field = self.multipart_field.map(|f| substitute(f, p)).transpose()?;
        let overhead = field
            .as_deref()
            .map_or(0, |f| multipart_overhead(f, UPLOAD_FILENAME, "image/jpeg"));
        let bytes = if let Some(n) = self.generated_bytes {
            generated_image(n.resolve(p)?.max(0.0) as usize)
        } else if let Some(spec) = self.jpeg {
            let side = |n: &Num| -> Result<u16, String> {
                let v = n.resolve(p)?;
                u16::try_from(v as i64).map_err(|_| format!("jpeg side {v} is out of range"))
            };
            let max = spec.max_bytes.resolve(p)?.max(0.0) as usize;
            let budget = max
                .checked_sub(overhead)
                .ok_or_else(|| format!("jpeg max_bytes {max} is smaller than the envelope"))?;
            baseline_jpeg(side(&spec.width)?, side(&spec.height)?, budget)?
        } else {
            return Ok(None);
        };
        Ok(Some(match field {
            Some(f) => multipart(&f, UPLOAD_FILENAME, "image/jpeg", &bytes),
            None => (bytes, self.content_type.unwrap_or("image/jpeg").to_owned()),
        }))
    }
}

/// The keys of `response` named in `keys` (those it has), in `keys`'
/// order; `blank` ones become `""`; any other secret-named key is left out.
fn picked(response: &Value, keys: &[String], blank: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    for key in keys {
        let Some(v) = response.get(key) else {
            continue;
        };
        if blank.contains(key) {
            out.insert(key.clone(), Value::String(String::new()));
        } else if !secret_name(key) {
            out.insert(key.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// A key that names a secret (never sent back as the device showed it).
fn secret_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "api_key", "apikey", "psk"]
        .iter()
        .any(|s| key.contains(s))
}

/// A JPEG-looking body of `size` bytes: SOI/APP0 header, filler, EOI.
pub fn generated_image(size: usize) -> Vec<u8> {
    let header: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    let mut out: Vec<u8> = header.iter().copied().take(size).collect();
    let mut x: u32 = 0x1234_5678;
    while out.len() + 2 < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // Never 0xFF, so the filler holds no JPEG markers.
        out.push((x % 255) as u8);
    }
    if size >= header.len() + 2 {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
    out.truncate(size);
    out
}

/// Removes what must never be sent back to a device: masked values
/// (`"********"`) and fields named like secrets.
pub fn strip_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| {
                let masked = v
                    .as_str()
                    .is_some_and(|s| s.len() >= 3 && s.chars().all(|c| c == '*'));
                !(secret_name(k) || masked)
            });
            for v in map.values_mut() {
                strip_secrets(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}
