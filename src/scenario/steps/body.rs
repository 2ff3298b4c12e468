//! Request bodies for the `http` step: literal text, an earlier step's
//! response sent back (with secrets removed, since device settings pages
//! echo passwords masked or in clear), or a generated image of a given size
//! for upload tests.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::scenario::model::{substitute, Num};

/// Where an `http` step's body comes from; the first one set wins.
pub(super) struct BodySource<'s> {
    pub(super) text: Option<&'s str>,
    pub(super) from_step: Option<&'s str>,
    pub(super) generated_bytes: Option<&'s Num>,
    pub(super) content_type: Option<&'s str>,
}

impl<'s> BodySource<'s> {
    /// The bytes and content type to send, if any. `responses` are earlier
    /// steps' bodies by step name.
    pub(super) fn payload(
        &self,
        responses: &HashMap<String, String>,
        p: &BTreeMap<String, String>,
    ) -> Result<Option<(Vec<u8>, &'s str)>, String> {
        let ct = self.content_type;
        Ok(if let Some(b) = self.text {
            Some((
                substitute(b, p)?.into_bytes(),
                ct.unwrap_or("application/json"),
            ))
        } else if let Some(from) = self.from_step {
            let raw = responses.get(from).ok_or_else(|| {
                format!("body_from = {from:?}: that step has no response (skipped or failed)")
            })?;
            let text = match serde_json::from_str::<Value>(raw) {
                Ok(mut v) => {
                    strip_secrets(&mut v);
                    v.to_string()
                }
                Err(_) => raw.clone(),
            };
            Some((text.into_bytes(), ct.unwrap_or("application/json")))
        } else if let Some(n) = self.generated_bytes {
            let size = n.resolve(p)?.max(0.0) as usize;
            Some((generated_image(size), ct.unwrap_or("image/jpeg")))
        } else {
            None
        })
    }
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
                let key = k.to_ascii_lowercase();
                let secret_name = ["password", "secret", "token", "api_key", "apikey", "psk"]
                    .iter()
                    .any(|s| key.contains(s));
                let masked = v
                    .as_str()
                    .is_some_and(|s| s.len() >= 3 && s.chars().all(|c| c == '*'));
                !(secret_name || masked)
            });
            for v in map.values_mut() {
                strip_secrets(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}
