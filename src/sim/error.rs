//! The twin's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("pseudo-terminal: {0}")]
    Pty(#[source] nix::Error),
    #[error("serial link {path}: {source}")]
    Link {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("replug needs a stable serial path: start the twin with a link (--link)")]
    ReplugWithoutLink,
    #[error("binding HTTP on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid --auth {0:?}: expected user:pass")]
    Auth(String),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
    #[error("invalid --mqtt {0:?}: expected HOST:PORT")]
    MqttBroker(String),
    #[error("{0}")]
    MqttIo(#[source] std::io::Error),
    #[error("broker refused the connection: {0}")]
    MqttRefused(&'static str),
    #[error("no CONNACK within the connect timeout")]
    MqttTimeout,
    #[error("connection closed by the broker")]
    MqttClosed,
    #[error("no PINGRESP within the keep-alive")]
    MqttPingTimeout,
    #[error("malformed packet from the broker: {0}")]
    MqttProtocol(#[source] super::mqtt::PacketError),
}
