//! Just enough `multipart/form-data` for the image upload: the device takes
//! the first part that carries a file (any field name) and ignores the
//! rest, so the twin does the same instead of pulling in a full parser.

/// Why a multipart body gave no file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// Not multipart, no boundary, or no part with a body: the device
    /// answers `No data received`.
    #[error("No data received")]
    NoData,
}

/// The `boundary=` of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<&str> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The bytes of the first part with a `filename=`, else of the first part.
pub fn first_file(content_type: &str, body: &[u8]) -> Result<Vec<u8>, MultipartError> {
    first_named_file(content_type, body).map(|(_, bytes)| bytes)
}

/// [`first_file`] with the part's `filename` (empty when it has none).
pub fn first_named_file(
    content_type: &str,
    body: &[u8],
) -> Result<(String, Vec<u8>), MultipartError> {
    let boundary = boundary(content_type).ok_or(MultipartError::NoData)?;
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or(MultipartError::NoData)?;
    let mut first: Option<(String, Vec<u8>)> = None;
    loop {
        at += delimiter.len();
        if body.get(at..at + 2) == Some(b"--") {
            break;
        }
        let headers_end = find(body, b"\r\n\r\n", at).ok_or(MultipartError::NoData)?;
        let headers = String::from_utf8_lossy(&body[at..headers_end]).into_owned();
        let start = headers_end + 4;
        let end = find(body, next.as_bytes(), start).ok_or(MultipartError::NoData)?;
        let part = body[start..end].to_vec();
        if let Some(name) = filename(&headers) {
            return Ok((name, part));
        }
        first.get_or_insert((String::new(), part));
        at = end + 2;
    }
    first
        .filter(|(_, p)| !p.is_empty())
        .ok_or(MultipartError::NoData)
}

/// `filename="…"` (or unquoted) from a part's headers.
fn filename(headers: &str) -> Option<String> {
    let lower = headers.to_ascii_lowercase();
    let at = lower.find("filename=")? + "filename=".len();
    let rest = &headers[at..];
    let name = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"').unwrap_or(quoted.len())],
        None => rest
            .split([';', '\r', '\n'])
            .next()
            .unwrap_or_default()
            .trim(),
    };
    Some(name.to_owned())
}

/// A one-file `multipart/form-data` body and its content type (what a
/// browser or `curl -F file=@x.jpg` sends). Used by tests and scenarios.
pub fn encode_file(field: &str, filename: &str, mime: &str, bytes: &[u8]) -> (Vec<u8>, String) {
    let boundary = "----heaplab-7d1f3c2a9b";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
         Content-Type: {mime}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_any_field_name() {
        let payload = [0xFF, 0xD8, 0xFF, 0x0D, 0x0A, 0x2D, 0x2D, 0xD9];
        let (body, ct) = encode_file("image", "a.jpg", "image/jpeg", &payload);
        assert_eq!(first_file(&ct, &body), Ok(payload.to_vec()));
    }

    #[test]
    fn the_file_part_wins_over_a_text_field() {
        let ct = "multipart/form-data; boundary=XyZ";
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.jpg\"\r\n\r\nJPEG\r\n--XyZ--\r\n";
        assert_eq!(first_file(ct, body), Ok(b"JPEG".to_vec()));
        assert_eq!(
            first_named_file(ct, body),
            Ok(("x.jpg".to_owned(), b"JPEG".to_vec()))
        );
        assert_eq!(first_file("image/jpeg", body), Err(MultipartError::NoData));
        assert_eq!(first_file(ct, b"--XyZ--\r\n"), Err(MultipartError::NoData));
    }
}
