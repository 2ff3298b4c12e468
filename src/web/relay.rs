//! Device requests carried out by an agent. A device plugged into an agent
//! sits on the agent's LAN, which the server may not reach; a scenario run
//! (a reboot, a flash) started on the server for such a device still runs on the
//! server — through the one recorder, the live hub and the same runner as
//! a local device — but its HTTP client sends every request through this
//! relay: a proxy on the server's loopback that queues each request as an
//! [`AgentCommand`] for the agent's long poll and answers with the
//! agent's [`CommandResult`]. The runner needs no change, and its results
//! land in the central store exactly as a local run's do.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::{oneshot, Notify};

use crate::ingest::forward::{
    AgentCommand, CommandResult, LineBytes, DEVICE_UNREACHABLE, RELAY_FAILURE_HEADER,
};

/// Largest request body relayed: an image upload of a scenario, or an OTA
/// image of a flash (an ESP32-S3 app slot is at most a few MB).
const RELAY_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Longest a relayed request waits for the agent's answer.
const RELAY_WAIT: Duration = Duration::from_secs(90);

#[derive(Default)]
struct AgentQueue {
    pending: VecDeque<AgentCommand>,
    notify: Arc<Notify>,
    waiting: HashMap<u64, oneshot::Sender<CommandResult>>,
}

struct Inner {
    proxy: Option<SocketAddr>,
    /// Secret per agent, sent as the proxy credential by that agent's
    /// device clients: how the proxy knows whose device a request is for.
    keys: Mutex<HashMap<String, String>>,
    queues: Mutex<HashMap<String, AgentQueue>>,
    next_id: AtomicU64,
}

/// The relay; cheap to clone.
#[derive(Clone)]
pub struct AgentRelay {
    inner: Arc<Inner>,
}

impl AgentRelay {
    /// Starts the loopback proxy.
    pub async fn start() -> std::io::Result<AgentRelay> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let relay = AgentRelay::with_proxy(Some(listener.local_addr()?));
        let app = Router::new()
            .fallback(relay_request)
            .with_state(relay.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "agent relay stopped");
            }
        });
        Ok(relay)
    }

    fn with_proxy(proxy: Option<SocketAddr>) -> AgentRelay {
        AgentRelay {
            inner: Arc::new(Inner {
                proxy,
                keys: Mutex::default(),
                queues: Mutex::default(),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// An HTTP client whose requests agent `agent` makes for the server.
    pub fn client_for(&self, agent: &str) -> Result<reqwest::Client, reqwest::Error> {
        let proxy = self.inner.proxy.map_or_else(
            || "http://127.0.0.1:9".to_owned(),
            |a| format!("http://{a}"),
        );
        let key = self.key(agent);
        let credential = HeaderValue::from_str(&format!("Agent {key}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Agent -"));
        crate::tls::client_builder()
            .proxy(reqwest::Proxy::all(proxy)?.custom_http_auth(credential))
            .build()
    }

    fn key(&self, agent: &str) -> String {
        let mut keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry(agent.to_owned())
            .or_insert_with(|| {
                let mut bytes = [0u8; 16];
                let _ = getrandom::fill(&mut bytes);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            })
            .clone()
    }

    fn agent_of_key(&self, key: &str) -> Option<String> {
        let keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().find(|(_, k)| *k == key).map(|(a, _)| a.clone())
    }

    fn queue<T>(&self, agent: &str, f: impl FnOnce(&mut AgentQueue) -> T) -> T {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        f(queues.entry(agent.to_owned()).or_default())
    }

    /// Queues a command for `agent`; its result, or `None` when the agent
    /// did not answer in time.
    async fn call(
        &self,
        agent: &str,
        command: impl FnOnce(u64) -> AgentCommand,
    ) -> Option<CommandResult> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.queue(agent, |q| {
            q.pending.push_back(command(id));
            q.waiting.insert(id, tx);
            q.notify.notify_one();
        });
        let result = tokio::time::timeout(RELAY_WAIT, rx)
            .await
            .ok()
            .and_then(Result::ok);
        if result.is_none() {
            self.queue(agent, |q| {
                q.waiting.remove(&id);
                q.pending
                    .retain(|c| !matches!(c, AgentCommand::DeviceHttp { id: i, .. } if *i == id));
            });
        }
        result
    }

    /// The agent's long poll: the commands waiting for it, or none after
    /// `wait`.
    pub async fn next_commands(&self, agent: &str, wait: Duration) -> Vec<AgentCommand> {
        let notify = self.queue(agent, |q| q.notify.clone());
        let take =
            |relay: &AgentRelay| relay.queue(agent, |q| q.pending.drain(..).collect::<Vec<_>>());
        let now = take(self);
        if !now.is_empty() {
            return now;
        }
        let _ = tokio::time::timeout(wait, notify.notified()).await;
        take(self)
    }

    /// The agent's answer to command `id`; false when nobody waits for it.
    pub fn complete(&self, agent: &str, id: u64, result: CommandResult) -> bool {
        self.queue(agent, |q| q.waiting.remove(&id))
            .is_some_and(|tx| tx.send(result).is_ok())
    }
}

/// A request a device client sent to the proxy: absolute URL, the agent's
/// key as the proxy credential.
async fn relay_request(State(relay): State<AgentRelay>, request: Request) -> Response {
    let credential = request
        .headers()
        .get(axum::http::header::PROXY_AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Agent "))
        .map(str::to_owned);
    let Some(agent) = credential.and_then(|k| relay.agent_of_key(&k)) else {
        return (StatusCode::PROXY_AUTHENTICATION_REQUIRED, "unknown agent").into_response();
    };
    let method = request.method().to_string();
    let url = request.uri().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "proxy-authorization" | "host" | "connection" | "content-length"
            )
        })
        .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = match to_bytes(request.into_body(), RELAY_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let command = |id| AgentCommand::DeviceHttp {
        id,
        method,
        url,
        headers,
        body: LineBytes::new(&body),
        timeout_ms: RELAY_WAIT.as_millis() as u64,
    };
    match relay.call(&agent, command).await {
        None => (
            StatusCode::GATEWAY_TIMEOUT,
            [(RELAY_FAILURE_HEADER, "no-reply")],
            format!("agent {agent} did not carry out the request in time"),
        )
            .into_response(),
        Some(CommandResult {
            error: Some(error), ..
        }) => {
            let failure = if error == DEVICE_UNREACHABLE {
                "unreachable"
            } else {
                "no-reply"
            };
            (
                StatusCode::BAD_GATEWAY,
                [(RELAY_FAILURE_HEADER, failure)],
                format!("agent {agent}: {error}"),
            )
                .into_response()
        }
        Some(result) => {
            let status = result
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = Response::new(Body::from(result.body.into_bytes()));
            *response.status_mut() = status;
            for (name, value) in result.headers {
                if let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    if !matches!(
                        n.as_str(),
                        "content-length" | "transfer-encoding" | "connection"
                    ) {
                        response.headers_mut().append(n, v);
                    }
                }
            }
            response
        }
    }
}
