//! The twin's MQTT client: what the firmware's `mqtt_link.cpp` does with
//! ESP-IDF's `esp_mqtt_client`, against a real MQTT 3.1.1 broker.
//!
//! The device's config (`mqtt_host`, `mqtt_port`, `mqtt_username`,
//! `mqtt_password`, `mqtt_interval_seconds`, set by `--mqtt` or `POST
//! /api/config`) is read on every loop turn, as the firmware's main loop
//! does. When a host is set the client connects (last will: `offline`,
//! retained, on the availability topic), publishes `online`, the Home
//! Assistant discovery configs (after every connect: a broker restarted
//! without persistence forgets retained messages), one health state right away
//! and then one every `mqtt_interval_seconds`. A lost connection is logged
//! and tagged and retried with exponential backoff. The `[Mem] mqtt_*`
//! snapshots come from the device model at the same moments as on the
//! firmware.

mod packet;
mod session;
pub mod topics;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use packet::Incoming;
pub use packet::{ConnectOptions, Message, PacketError};
use session::Session;

use super::shared::Shared;
use super::SimError;

/// The firmware's main-loop period, as far as MQTT is concerned.
const LOOP_PERIOD: Duration = Duration::from_millis(100);
/// `MQTT_KEEPALIVE_S`: a PINGREQ after this long without sending.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// First retry after a failed or lost connection; doubles per failure.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The retry delay never grows past this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// `--mqtt HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttBroker {
    pub host: String,
    pub port: u16,
}

impl FromStr for MqttBroker {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let bad = || SimError::MqttBroker(s.to_owned());
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 || host.len() > 63 {
            return Err(bad());
        }
        Ok(MqttBroker {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for MqttBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Where and as whom to connect, from the device's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    pub host: String,
    /// 0 in the config means 1883; resolved here.
    pub port: u16,
    pub options: ConnectOptions,
    /// 0 = no periodic publish (one state after each connect only).
    pub interval: Duration,
}

/// Retry delays: 1 s, 2 s, 4 s … up to 30 s; back to 1 s after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// The delay before the next attempt; the one after is twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    pub fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }
}

/// The open connection and its timers.
struct Link {
    session: Session,
    target: MqttTarget,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    last_health: Instant,
}

/// Runs the client until the twin shuts down (the task is aborted).
pub fn spawn(shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(run(shared))
}

async fn run(shared: Arc<Shared>) {
    let mut link: Option<Link> = None;
    let mut boot_seen = 0;
    let mut backoff = Backoff::default();
    let mut next_attempt = Instant::now();
    let mut tick = tokio::time::interval(LOOP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Wait for the next loop turn, reading whatever the broker sends
        // meanwhile so a closed socket is noticed at once.
        let read_error = match link.as_mut() {
            Some(l) => tokio::select! {
                r = l.session.read_some() => r.and_then(|()| drain_inbox(l)).err(),
                _ = tick.tick() => None,
            },
            None => {
                tick.tick().await;
                None
            }
        };
        let (boot, target) = shared.with_device(|d| (d.boot_count(), d.mqtt_target()));
        if boot != boot_seen {
            // The chip reset: the socket died with it (no DISCONNECT, so
            // the broker publishes the will). The new boot starts over.
            boot_seen = boot;
            link = None;
            backoff.reset();
            next_attempt = Instant::now();
            continue;
        }
        if let Some(e) = read_error {
            lose(&shared, &mut link, &e, &mut backoff, &mut next_attempt);
            continue;
        }
        let Some(target) = target else {
            if let Some(l) = link.take() {
                // The host was cleared through the config API.
                l.session.disconnect().await;
                shared.with_device(|d| d.mqtt_lost("MQTT disabled in config"));
            }
            continue;
        };
        let moved = link.as_ref().is_some_and(|l| {
            (l.target.host.as_str(), l.target.port) != (target.host.as_str(), target.port)
        });
        if moved {
            if let Some(l) = link.take() {
                l.session.disconnect().await;
            }
            shared.with_device(|d| d.mqtt_lost("broker changed in config"));
            next_attempt = Instant::now();
        }
        if let Some(l) = link.as_mut() {
            l.target.interval = target.interval;
            if let Err(e) = keep_alive_and_publish(&shared, l).await {
                lose(&shared, &mut link, &e, &mut backoff, &mut next_attempt);
            }
        } else if Instant::now() >= next_attempt {
            match connect(&shared, target, boot).await {
                Ok(l) => {
                    backoff.reset();
                    link = Some(l);
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    next_attempt = Instant::now() + delay;
                    let reason = e.to_string();
                    shared.with_device(|d| {
                        // A failure after CONNACK (a publish) loses the
                        // connection the device already counted.
                        d.mqtt_lost(&reason);
                        d.mqtt_connect_failed(&reason, delay);
                    });
                }
            }
        }
    }
}

/// Handles what the broker sent: a PINGRESP ends the wait for one.
fn drain_inbox(link: &mut Link) -> Result<(), SimError> {
    while let Some(packet) = link.session.take_packet()? {
        if packet == Incoming::PingResp {
            link.ping_sent = None;
        }
    }
    Ok(())
}

fn lose(
    shared: &Shared,
    link: &mut Option<Link>,
    error: &SimError,
    backoff: &mut Backoff,
    next_attempt: &mut Instant,
) {
    *link = None;
    backoff.reset();
    let delay = backoff.next_delay();
    *next_attempt = Instant::now() + delay;
    shared.with_device(|d| d.mqtt_lost(&error.to_string()));
}

/// The attempt, then on success: `online`, discovery (once per boot) and
/// the first health state, each publish announced to the device model
/// first so its tags come out in the firmware's order.
async fn connect(shared: &Shared, target: MqttTarget, boot: u32) -> Result<Link, SimError> {
    shared.with_device(|d| d.mqtt_attempt(&target));
    let mut session = Session::connect(&target.host, target.port, &target.options).await?;
    if shared.with_device(|d| d.boot_count()) != boot {
        // Rebooted while connecting: this socket belongs to the old boot.
        return Err(SimError::MqttClosed);
    }
    let availability = shared.with_device(|d| d.mqtt_connected());
    session.publish(&availability).await?;
    let configs = shared.with_device(|d| d.mqtt_discovery_begin());
    for message in &configs {
        shared.with_device(|d| d.mqtt_before_publish());
        session.publish(message).await?;
    }
    shared.with_device(|d| d.mqtt_discovery_end());
    let health = shared.with_device(|d| {
        d.mqtt_before_publish();
        d.mqtt_health_message()
    });
    session.publish(&health).await?;
    let now = Instant::now();
    Ok(Link {
        session,
        target,
        last_sent: now,
        ping_sent: None,
        last_health: now,
    })
}

async fn keep_alive_and_publish(shared: &Shared, link: &mut Link) -> Result<(), SimError> {
    let now = Instant::now();
    if link
        .ping_sent
        .is_some_and(|sent| now.duration_since(sent) > KEEP_ALIVE)
    {
        return Err(SimError::MqttPingTimeout);
    }
    if !link.target.interval.is_zero()
        && now.duration_since(link.last_health) >= link.target.interval
    {
        let health = shared.with_device(|d| {
            d.mqtt_before_publish();
            d.mqtt_health_message()
        });
        link.session.publish(&health).await?;
        link.last_health = now;
        link.last_sent = now;
    }
    if link.ping_sent.is_none() && now.duration_since(link.last_sent) >= KEEP_ALIVE {
        link.session.ping().await?;
        link.ping_sent = Some(now);
        link.last_sent = now;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_parses_host_port_and_refuses_the_rest() {
        let b: MqttBroker = "127.0.0.1:1884".parse().expect("broker");
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 1884));
        assert_eq!(b.to_string(), "127.0.0.1:1884");
        for bad in ["", "host", ":1883", "host:0", "host:x", "host:70000"] {
            assert!(bad.parse::<MqttBroker>().is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_FIRST);
    }
}
