//! One TCP connection to a broker: CONNECT/CONNACK, QoS 0 publishes,
//! keep-alive pings and the reads that notice the broker going away.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::packet::{self, ConnectOptions, Incoming, Message};
use crate::sim::SimError;

/// TCP connect plus CONNACK must finish within this (PubSubClient's
/// socket timeout is 15 s; the twin is on loopback or a LAN).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Session {
    stream: TcpStream,
    inbox: Vec<u8>,
}

impl Session {
    /// Opens the socket, sends CONNECT and waits for an accepting CONNACK.
    pub async fn connect(
        host: &str,
        port: u16,
        options: &ConnectOptions,
    ) -> Result<Self, SimError> {
        let handshake = async {
            let stream = TcpStream::connect((host, port))
                .await
                .map_err(SimError::MqttIo)?;
            stream.set_nodelay(true).map_err(SimError::MqttIo)?;
            let mut session = Session {
                stream,
                inbox: Vec::new(),
            };
            session.send(&packet::connect(options)).await?;
            loop {
                match session.next_packet().await? {
                    Incoming::ConnAck { return_code: 0 } => return Ok(session),
                    Incoming::ConnAck { return_code } => {
                        return Err(SimError::MqttRefused(packet::connack_reason(return_code)))
                    }
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| SimError::MqttTimeout)?
    }

    pub async fn publish(&mut self, message: &Message) -> Result<(), SimError> {
        self.send(&packet::publish(message)).await
    }

    pub async fn ping(&mut self) -> Result<(), SimError> {
        self.send(&packet::pingreq()).await
    }

    /// A clean goodbye: the broker does not publish the will.
    pub async fn disconnect(mut self) {
        let _ = self.send(&packet::disconnect()).await;
        let _ = self.stream.shutdown().await;
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.stream.write_all(bytes).await.map_err(SimError::MqttIo)
    }

    /// One read from the socket into the inbox. Cancel-safe (a cancelled
    /// read loses no bytes), so it can sit in a `select!` beside a timer.
    /// A closed socket is an error: the broker went away.
    pub async fn read_some(&mut self) -> Result<(), SimError> {
        let mut chunk = [0u8; 512];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(SimError::MqttIo)?;
        if n == 0 {
            return Err(SimError::MqttClosed);
        }
        self.inbox.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The next whole packet already read, if any.
    pub fn take_packet(&mut self) -> Result<Option<Incoming>, SimError> {
        packet::take_packet(&mut self.inbox).map_err(SimError::MqttProtocol)
    }

    async fn next_packet(&mut self) -> Result<Incoming, SimError> {
        loop {
            if let Some(p) = self.take_packet()? {
                return Ok(p);
            }
            self.read_some().await?;
        }
    }
}
