//! SMTP connections for the e-mail channel: lettre's SMTP client on sockets we open ourselves
//! with `TCP_NODELAY`, kept in a small pool.
//!
//! Why our own sockets: lettre writes a message's body and its closing `.` in two writes, and on
//! a socket with Nagle's algorithm on the second write waits for the server's delayed ACK — up to
//! 40 ms a message (measured: 89 messages a second over four connections, against 1,866 with
//! `TCP_NODELAY`). lettre has merged the fix upstream (`set_nodelay`, pull request 1159) but
//! 0.11.23, the latest release, does not carry it. This is the seam: [`Pool::connect`] opens
//! the socket (and for implicit TLS the TLS session, with the TLS stack lettre uses) and hands it
//! to lettre's `AsyncSmtpConnection::connect_with_transport`, which does the protocol (EHLO,
//! STARTTLS, AUTH, MAIL/RCPT/DATA). When a release carries the fix, connect with lettre's
//! `AsyncSmtpConnection::connect_tokio1` instead and remove the socket and TLS set-up here.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::SendError;
use crate::config::EmailSecurity;

/// A connection idle longer than this is closed rather than reused: servers drop idle clients.
const MAX_IDLE: Duration = Duration::from_secs(20);

/// A connection idle longer than this is checked with NOOP before it is used again.
const CHECK_AFTER: Duration = Duration::from_secs(2);

/// An implicit-TLS session (port 465) on a socket we opened, as lettre's connection code takes
/// a stream.
#[derive(Debug)]
struct ImplicitTls {
    inner: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    peer: SocketAddr,
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

/// The TLS client configuration for implicit TLS: the platform's certificate verifier, as
/// lettre's own (`rustls-platform-verifier`), trusting a private CA's certificates besides.
fn implicit_tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, SendError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let bad_ca = |e: String| SendError::Permanent(format!("notify.email.ca_file: {e}"));
    let extra: Vec<CertificateDer<'static>> = match ca_pem {
        Some(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| bad_ca(e.to_string()))?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| bad_ca(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SendError::Permanent(format!("SMTP TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub security: EmailSecurity,
    pub credentials: Option<Credentials>,
    pub timeout: Duration,
    /// A private CA's certificate (PEM) to trust besides the system's store.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("credentials", &self.credentials.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Idle connections, at most as many as messages are sent at once.
pub struct Pool {
    server: Server,
    hello: ClientId,
    idle: tokio::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

fn transient(what: &str, e: impl std::fmt::Display) -> SendError {
    SendError::Transient(format!("SMTP {what}: {e}"))
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    // A client error (an address the server cannot take, say) will not pass on a retry either.
    if e.is_permanent() || e.is_client() {
        SendError::Permanent(format!("SMTP: {e}"))
    } else {
        SendError::Transient(format!("SMTP: {e}"))
    }
}

impl Pool {
    pub fn new(server: Server) -> Pool {
        Pool {
            server,
            hello: ClientId::default(),
            idle: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.server;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((s.host.as_str(), s.port))
            .await
            .map_err(|e| transient("resolving the server", e))?
            .collect();
        let mut last = transient("resolving the server", "no address");
        let mut connected = None;
        // Every address in turn: "localhost" may resolve to ::1 first.
        for addr in addrs {
            match tokio::time::timeout(s.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    connected = Some((tcp, addr));
                    break;
                }
                Ok(Err(e)) => last = transient(&format!("connecting to {addr}"), e),
                Err(_) => last = transient(&format!("connecting to {addr}"), "timed out"),
            }
        }
        let Some((tcp, addr)) = connected else {
            return Err(last);
        };
        tcp.set_nodelay(true)
            .map_err(|e| transient("connecting", e))?;
        let tls = || {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(pem) = &s.ca_pem {
                let cert = lettre::transport::smtp::client::Certificate::from_pem(pem)
                    .map_err(|e| SendError::Permanent(format!("notify.email.ca_file: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            b.build()
                .map_err(|e| SendError::Permanent(format!("SMTP TLS set-up: {e}")))
        };
        let mut conn = match s.security {
            EmailSecurity::Tls => {
                let name = rustls::pki_types::ServerName::try_from(s.host.clone())
                    .map_err(|e| SendError::Permanent(format!("notify.email.host: {e}")))?;
                let connector =
                    tokio_rustls::TlsConnector::from(implicit_tls_config(s.ca_pem.as_deref())?);
                let inner = tokio::time::timeout(s.timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| transient("the TLS handshake", "timed out"))?
                    .map_err(|e| transient("the TLS handshake", e))?;
                let stream = ImplicitTls { inner, peer: addr };
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                    .await
                    .map_err(|e| classify(&e))?
            }
            EmailSecurity::Starttls | EmailSecurity::None => {
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                        .await
                        .map_err(|e| classify(&e))?;
                if s.security == EmailSecurity::Starttls {
                    if !conn.can_starttls() {
                        return Err(SendError::Permanent(
                            "the SMTP server does not offer STARTTLS (notify.email.security = \"starttls\")".into(),
                        ));
                    }
                    conn.starttls(tls()?, &self.hello)
                        .await
                        .map_err(|e| classify(&e))?;
                }
                conn
            }
        };
        if let Some(c) = &s.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c)
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(conn)
    }

    /// Sends one message on an idle connection or a new one. A connection idle for a while is
    /// checked with NOOP first; a send that fails is never repeated here (the server may have
    /// taken the message): the dispatcher decides about another attempt.
    pub async fn send(&self, message: &lettre::Message) -> Result<Response, SendError> {
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let mut conn = None;
        loop {
            let next = self.idle.lock().await.pop();
            let Some((mut c, since)) = next else { break };
            if since.elapsed() >= MAX_IDLE {
                c.abort().await;
                continue;
            }
            if since.elapsed() < CHECK_AFTER || c.test_connected().await {
                conn = Some(c);
                break;
            }
            c.abort().await;
        }
        let mut conn = match conn {
            Some(c) => c,
            None => self.connect().await?,
        };
        match conn.send(&envelope, &bytes).await {
            Ok(r) => {
                self.idle.lock().await.push((conn, Instant::now()));
                Ok(r)
            }
            Err(e) => {
                // lettre closes the connection after any error.
                conn.abort().await;
                Err(classify(&e))
            }
        }
    }

    /// Says goodbye on every idle connection.
    pub async fn close(&self) {
        let mut idle = self.idle.lock().await;
        for (mut c, _) in idle.drain(..) {
            let _ = c.quit().await;
        }
    }
}
