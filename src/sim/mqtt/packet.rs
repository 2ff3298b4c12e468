//! MQTT 3.1.1 packets, as bytes: just what a device that only publishes
//! needs (CONNECT with a last will, CONNACK, PUBLISH at QoS 0, PINGREQ,
//! PINGRESP, DISCONNECT). Pure functions, no IO: the session in
//! `session.rs` moves the bytes. Written by hand instead of pulling in a
//! client crate: the twin needs six packet types and no QoS 1/2 state.

/// Packet types (the high nibble of the first byte).
const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PUBLISH: u8 = 3;
const PINGREQ: u8 = 12;
const PINGRESP: u8 = 13;
const DISCONNECT: u8 = 14;

/// The largest remaining length the 4-byte varint can carry.
const MAX_REMAINING: usize = 268_435_455;

/// What goes into a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    pub client_id: String,
    /// Seconds; the broker drops a client silent for 1.5× this.
    pub keep_alive_s: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Published by the broker (QoS 0) when the connection dies without a
    /// DISCONNECT: the device's `availability` topic says `offline`.
    pub will: Option<Message>,
}

/// One PUBLISH at QoS 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Message {
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>, retain: bool) -> Self {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            retain,
        }
    }
}

/// A packet the broker sent a publish-only client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// CONNACK's return code (0 = accepted).
    ConnAck {
        return_code: u8,
    },
    PingResp,
    /// Anything else (the twin subscribes to nothing, so a broker should
    /// not send more); kept so a reader can skip it.
    Other {
        packet_type: u8,
    },
}

/// Why bytes from the broker are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("remaining length longer than 4 bytes")]
    BadLength,
    #[error("CONNACK of {0} bytes (expected 2)")]
    BadConnAck(usize),
}

/// `CONNACK` return codes as MQTT 3.1.1 names them.
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0 => "accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown return code",
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
}

/// A UTF-8 string or binary field: u16 big-endian length, then the bytes.
/// Longer fields are cut at 65535 bytes (no topic or id here comes close).
fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    put_varint(&mut out, body.len().min(MAX_REMAINING));
    out.extend_from_slice(body);
    out
}

pub fn connect(options: &ConnectOptions) -> Vec<u8> {
    let mut body = Vec::new();
    put_field(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    let mut flags = 0x02; // clean session
    if let Some(will) = &options.will {
        flags |= 0x04;
        if will.retain {
            flags |= 0x20;
        }
    }
    if options.username.is_some() {
        flags |= 0x80;
        if options.password.is_some() {
            flags |= 0x40;
        }
    }
    body.push(flags);
    body.extend_from_slice(&options.keep_alive_s.to_be_bytes());
    put_field(&mut body, options.client_id.as_bytes());
    if let Some(will) = &options.will {
        put_field(&mut body, will.topic.as_bytes());
        put_field(&mut body, &will.payload);
    }
    if let Some(user) = &options.username {
        put_field(&mut body, user.as_bytes());
        if let Some(pass) = &options.password {
            put_field(&mut body, pass.as_bytes());
        }
    }
    frame(CONNECT << 4, &body)
}

/// PUBLISH at QoS 0: no packet identifier.
pub fn publish(message: &Message) -> Vec<u8> {
    let mut body = Vec::with_capacity(message.topic.len() + message.payload.len() + 2);
    put_field(&mut body, message.topic.as_bytes());
    body.extend_from_slice(&message.payload);
    frame((PUBLISH << 4) | u8::from(message.retain), &body)
}

pub fn pingreq() -> Vec<u8> {
    vec![PINGREQ << 4, 0]
}

pub fn disconnect() -> Vec<u8> {
    vec![DISCONNECT << 4, 0]
}

/// Takes one whole packet off the front of `buf`. `Ok(None)` means more
/// bytes are needed; nothing is consumed then.
pub fn take_packet(buf: &mut Vec<u8>) -> Result<Option<Incoming>, PacketError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut remaining = 0usize;
    let mut at = 1;
    loop {
        let Some(&byte) = buf.get(at) else {
            return Ok(None);
        };
        remaining += usize::from(byte & 0x7F) << (7 * (at - 1));
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Err(PacketError::BadLength);
        }
    }
    if buf.len() < at + remaining {
        return Ok(None);
    }
    let body: Vec<u8> = buf.drain(..at + remaining).skip(at).collect();
    let packet_type = first >> 4;
    Ok(Some(match packet_type {
        CONNACK if body.len() == 2 => Incoming::ConnAck {
            return_code: body[1],
        },
        CONNACK => return Err(PacketError::BadConnAck(body.len())),
        PINGRESP => Incoming::PingResp,
        _ => Incoming::Other { packet_type },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn connect_with_will_and_credentials_matches_the_spec_layout() {
        let bytes = connect(&ConnectOptions {
            client_id: "desk".into(),
            keep_alive_s: 15,
            username: Some("u".into()),
            password: Some("p".into()),
            will: Some(Message::new("d/a", "offline", true)),
        });
        let expected: Vec<u8> = [
            &[0x10, 36][..],
            &[0, 4],
            b"MQTT",
            &[4, 0b1110_0110, 0, 15],
            &[0, 4],
            b"desk",
            &[0, 3],
            b"d/a",
            &[0, 7],
            b"offline",
            &[0, 1],
            b"u",
            &[0, 1],
            b"p",
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn anonymous_connect_without_will_sets_only_clean_session() {
        let bytes = connect(&ConnectOptions {
            client_id: "x".into(),
            keep_alive_s: 60,
            username: None,
            password: None,
            will: None,
        });
        assert_eq!(bytes[9], 0x02);
        assert_eq!(&bytes[10..12], &[0, 60]);
    }

    #[test]
    fn publish_retained_and_long_payload_uses_a_multi_byte_length() {
        let m = Message::new("a/b", vec![7u8; 200], true);
        let bytes = publish(&m);
        assert_eq!(bytes[0], 0x31);
        // 2 + 3 + 200 = 205 = 0x4D + 1·128 → [0xCD, 0x01]
        assert_eq!(&bytes[1..3], &[0xCD, 0x01]);
        assert_eq!(&bytes[3..8], b"\x00\x03a/b");
        assert_eq!(bytes.len(), 3 + 205);
        assert_eq!(publish(&Message::new("t", "", false))[0], 0x30);
    }

    #[test]
    fn take_packet_reads_connack_pingresp_and_waits_for_more() {
        let mut buf = vec![0x20, 0x02, 0x00];
        assert_eq!(take_packet(&mut buf), Ok(None));
        assert_eq!(buf.len(), 3, "nothing consumed while incomplete");
        buf.extend_from_slice(&[0x05, 0xD0, 0x00]);
        assert_eq!(
            take_packet(&mut buf),
            Ok(Some(Incoming::ConnAck { return_code: 5 }))
        );
        assert_eq!(take_packet(&mut buf), Ok(Some(Incoming::PingResp)));
        assert_eq!(take_packet(&mut buf), Ok(None));
        assert_eq!(connack_reason(5), "not authorized");
    }

    #[test]
    fn malformed_lengths_are_errors_not_panics() {
        let mut buf = vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert_eq!(take_packet(&mut buf), Err(PacketError::BadLength));
        let mut buf = vec![0x20, 0x01, 0x00];
        assert_eq!(take_packet(&mut buf), Err(PacketError::BadConnAck(1)));
    }

    proptest! {
        /// Whatever the broker sends, the reader never panics and never
        /// consumes more than it was given.
        #[test]
        fn take_packet_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = bytes.clone();
            let _ = take_packet(&mut buf);
            prop_assert!(buf.len() <= bytes.len());
        }

        /// A published packet's length prefix covers exactly its body.
        #[test]
        fn publish_length_prefix_is_exact(topic in "[a-z/]{1,40}", len in 0usize..20_000) {
            let bytes = publish(&Message::new(topic.clone(), vec![0u8; len], false));
            let mut remaining = 0usize;
            let mut at = 1;
            loop {
                let b = bytes[at];
                remaining += usize::from(b & 0x7F) << (7 * (at - 1));
                at += 1;
                if b & 0x80 == 0 { break; }
            }
            prop_assert_eq!(bytes.len(), at + remaining);
            prop_assert_eq!(remaining, 2 + topic.len() + len);
        }
    }
}
