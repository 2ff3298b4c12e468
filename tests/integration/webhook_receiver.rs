//! Webhook receivers on loopback for the alert tests: a real axum server
//! that records every POST (path, JSON body, arrival time), over plain HTTP
//! or over TLS with a certificate signed by a CA the test makes itself
//! (rcgen, ring), so nothing about delivery is stubbed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use axum::{Json, Router};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// One POST the receiver answered.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

/// Everything a receiver saw: the POSTs, and (TLS) the handshakes that
/// failed, so a test can tell "never connected" from "rejected".
#[derive(Clone, Default)]
pub struct Received {
    posts: Arc<Mutex<Vec<Post>>>,
    failed_handshakes: Arc<Mutex<Vec<String>>>,
}

impl Received {
    pub fn all(&self) -> Vec<Post> {
        self.posts.lock().expect("lock").clone()
    }

    /// POSTs to one path (e.g. `/team`), oldest first.
    pub fn on(&self, path: &str) -> Vec<Post> {
        self.all().into_iter().filter(|p| p.path == path).collect()
    }

    pub fn failed_handshakes(&self) -> Vec<String> {
        self.failed_handshakes.lock().expect("lock").clone()
    }
}

async fn record(State(r): State<Received>, uri: Uri, Json(body): Json<Value>) -> StatusCode {
    r.posts.lock().expect("lock").push(Post {
        path: uri.path().to_owned(),
        body,
        at: Instant::now(),
    });
    StatusCode::OK
}

fn app(received: Received) -> Router {
    Router::new()
        .route("/{*path}", post(record))
        .with_state(received)
}

/// A plain HTTP receiver: (`http://127.0.0.1:PORT`, what it saw).
pub async fn http_receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Received::default();
    let router = app(received.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), received)
}

/// A CA and a server certificate it signed for `127.0.0.1` and `localhost`.
pub struct TestCa {
    /// The CA certificate, PEM: what heaplab is told to trust.
    pub ca_pem: String,
    server_cert: rustls::pki_types::CertificateDer<'static>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
}

pub fn make_ca() -> TestCa {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "heaplab test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    server
        .distinguished_name
        .push(DnType::CommonName, "webhook receiver");
    let server_cert = server.signed_by(&server_key, &issuer).expect("server cert");
    TestCa {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.der().clone(),
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    }
}

/// Accepts TCP connections and completes the TLS handshake before axum
/// sees them; a failed handshake is recorded and the next one awaited.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    received: Received,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(e) => self
                    .received
                    .failed_handshakes
                    .lock()
                    .expect("lock")
                    .push(e.to_string()),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS receiver with `ca`'s server certificate:
/// (`https://127.0.0.1:PORT`, what it saw).
pub async fn https_receiver(ca: &TestCa) -> (String, Received) {
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ca.server_cert.clone()], ca.server_key.clone_key())
        .expect("server TLS config");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let received = Received::default();
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
        received: received.clone(),
    };
    let router = app(received.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("https://{addr}"), received)
}

/// A TLS-terminating proxy with `ca`'s server certificate in front of a
/// plain-HTTP server at `target` (as a team's Caddy or nginx would be):
/// `https://127.0.0.1:PORT`.
pub async fn tls_terminator(ca: &TestCa, target: SocketAddr) -> String {
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ca.server_cert.clone()], ca.server_key.clone_key())
        .expect("server TLS config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = tcp.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends here.
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                if let Ok(mut server) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                }
            });
        }
    });
    format!("https://{addr}")
}
