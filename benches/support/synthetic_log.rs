//! A synthetic serial log with the mix a busy device produces: mostly
//! snapshots, task lines, ordinary log chatter, and the odd boot and IP line.

pub fn synthetic_log(lines: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 110);
    let tags = [
        "hb",
        "http_root",
        "http_network",
        "hb",
        "http_macros_post_parsed",
        "hb",
    ];
    let mut i = 0usize;
    while i < lines {
        let n = i as u64;
        let line = match i % 10 {
            0..=5 => format!(
                "[Mem] {} hf={} hm={} hl={} hi={} hin={} frag={} pf={} pm={} pl={} ({}ms)\r\n",
                tags[i % 6],
                200_000 - n % 5_000,
                150_000,
                90_000 + n % 1_000,
                200_000 - n % 5_000,
                150_000,
                n % 60,
                8_200_000 - n % 10_000,
                8_100_000,
                8_000_000,
                n % 20
            ),
            6 => format!(
                "[Task] name=task{} prio={} core={} stack_rem={}B\n",
                n % 14,
                n % 25,
                n % 2,
                400 + n % 3000
            ),
            7 => format!("  [Portal] GET /api/health 200 ({}ms)\n", n % 50),
            8 => "[WiFi] Got IP: 192.168.1.112 (0ms)\n".to_owned(),
            _ => format!(
                "[LVGL] flush area {}x{} took {} us\n",
                n % 480,
                n % 320,
                n % 900
            ),
        };
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out
}
