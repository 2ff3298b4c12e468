//! A real MQTT broker for tests: Debian's `mosquitto` on a free loopback
//! port with a temp config, and `mosquitto_sub` as an independent client
//! that records every message it sees (`.ci/run` installs both).

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long the broker may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Broker {
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
    _dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Broker {
    /// Starts mosquitto (anonymous, no persistence) on a free port and
    /// waits until it accepts connections.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
            ),
        )
        .expect("write mosquitto.conf");
        let mut broker = Broker {
            port,
            conf,
            child: None,
            _dir: dir,
        };
        broker.resume();
        broker
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker goes away (SIGKILL: clients see their sockets close).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn resume(&mut self) {
        // Debian installs the broker in /usr/sbin, not always on PATH.
        let program = if std::path::Path::new("/usr/sbin/mosquitto").exists() {
            "/usr/sbin/mosquitto"
        } else {
            "mosquitto"
        };
        let child = Command::new(program)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (apt-get install mosquitto; .ci/run does)");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message as `mosquitto_sub` printed it.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    /// Delivered as a retained message (sent before we subscribed).
    pub retained: bool,
    pub payload: String,
}

/// `mosquitto_sub -t '#'` in the background.
pub struct Subscriber {
    child: Child,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Subscriber {
    pub fn start(broker: &Broker, topic: &str) -> Subscriber {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            .args(["-t", topic, "-F", "%r %t %p"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto_sub (apt-get install mosquitto-clients)");
        let stdout = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.splitn(3, ' ');
                let (Some(r), Some(topic)) = (parts.next(), parts.next()) else {
                    continue;
                };
                sink.lock().expect("lock").push(Received {
                    retained: r == "1",
                    topic: topic.to_owned(),
                    payload: parts.next().unwrap_or("").to_owned(),
                });
            }
        });
        Subscriber { child, seen }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits until a message satisfies `want`; panics after `timeout`
    /// with everything received.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&Received) -> bool,
    ) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| want(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {:#?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
