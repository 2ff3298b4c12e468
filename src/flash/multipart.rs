//! The `multipart/form-data` bodies a flash sends: the image to the
//! device's `POST /api/update` (a `file` part named `firmware.bin`, as a
//! browser's form sends it), and the image, ELF and fields to the central
//! server's flash endpoint. Sent as a stream of chunks, so whoever shows
//! progress sees it move per chunk rather than jump at the end.

use futures_util::StreamExt;

/// Upload chunk: progress moves per chunk.
const CHUNK_BYTES: usize = 16 * 1024;

/// Told `(bytes sent so far, total bytes)` as the body goes out.
pub struct Progress(Option<Box<dyn FnMut(usize, usize) + Send>>);

impl Progress {
    pub fn none() -> Self {
        Progress(None)
    }

    pub fn new(f: impl FnMut(usize, usize) + Send + 'static) -> Self {
        Progress(Some(Box::new(f)))
    }
}

/// A form being put together.
pub struct Form {
    boundary: String,
    chunks: Vec<Vec<u8>>,
}

impl Default for Form {
    fn default() -> Self {
        Self::new()
    }
}

impl Form {
    pub fn new() -> Self {
        let mut nonce = [0u8; 8];
        let _ = getrandom::fill(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        Form {
            boundary: format!("----heaplab-flash-{nonce}"),
            chunks: Vec::new(),
        }
    }

    fn head(&mut self, disposition: String, content_type: Option<&str>) {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; {disposition}\r\n",
            self.boundary
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        self.chunks.push(head.into_bytes());
    }

    /// A file part (`name`'s value is `bytes`, sent as `filename`).
    pub fn file(mut self, name: &str, filename: &str, bytes: &[u8]) -> Self {
        self.head(
            format!("name=\"{name}\"; filename=\"{filename}\""),
            Some("application/octet-stream"),
        );
        self.chunks
            .extend(bytes.chunks(CHUNK_BYTES).map(<[u8]>::to_vec));
        self.chunks.push(b"\r\n".to_vec());
        self
    }

    /// A text field.
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.head(format!("name=\"{name}\""), None);
        self.chunks.push(format!("{value}\r\n").into_bytes());
        self
    }

    /// The `Content-Type` header, with the boundary.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Every chunk of the body, the closing delimiter last.
    fn finish(mut self) -> Vec<Vec<u8>> {
        self.chunks
            .push(format!("--{}--\r\n", self.boundary).into_bytes());
        self.chunks
    }

    /// The finished body and its length (`Content-Length`: the device
    /// checks the size against its OTA slot before reading).
    pub fn into_body(self, mut progress: Progress) -> (reqwest::Body, usize) {
        let chunks = self.finish();
        let total: usize = chunks.iter().map(Vec::len).sum();
        let mut sent = 0;
        let stream = futures_util::stream::iter(chunks).map(move |chunk| {
            sent += chunk.len();
            if let Some(f) = progress.0.as_mut() {
                f(sent, total);
            }
            Ok::<_, std::io::Error>(chunk)
        });
        (reqwest::Body::wrap_stream(stream), total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::multipart::first_named_file;

    #[test]
    fn a_device_reads_the_file_part_back_byte_for_byte() {
        // Larger than a chunk, with CR LF and dashes inside.
        let image: Vec<u8> = (0..40_000u32)
            .map(|i| b"\r\n--x"[(i % 5) as usize] ^ (i as u8))
            .collect();
        let form = Form::new()
            .text("expect_version", "1.2.3")
            .file("file", "firmware.bin", &image);
        let content_type = form.content_type();
        let body = form.finish().concat();
        assert_eq!(
            first_named_file(&content_type, &body),
            Ok(("firmware.bin".to_owned(), image))
        );
    }
}
