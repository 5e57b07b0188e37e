//! SMTP connections for the e-mail channel: lettre's SMTP client on sockets with `TCP_NODELAY`,
//! kept in a small pool.
//!
//! lettre's own transport writes a message's body and its closing `.` in two writes on a socket
//! with Nagle's algorithm on: the second write waits for the server's delayed ACK, up to 40 ms a
//! message (measured: 89 messages a second over four connections, a fifth of a Python smtplib
//! loop). Our own sockets set `TCP_NODELAY`; lettre's connection code does the protocol
//! (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA). For implicit TLS the socket is handed to lettre's
//! network stream type, which lettre marks deprecated as public API (0.11, pinned by Cargo.lock).
#![allow(deprecated)]

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncNetworkStream, AsyncSmtpConnection, AsyncTokioStream, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::SendError;
use crate::config::EmailSecurity;

/// A connection idle longer than this is closed rather than reused: servers drop idle clients.
const MAX_IDLE: Duration = Duration::from_secs(20);

/// A connection idle longer than this is checked with NOOP before it is used again.
const CHECK_AFTER: Duration = Duration::from_secs(2);

/// An implicit-TLS stream (lettre's) seen as a tokio stream, so that lettre's connection code
/// can run over a socket we opened.
#[derive(Debug)]
struct ImplicitTls {
    inner: AsyncNetworkStream,
    peer: SocketAddr,
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let slice = buf.initialize_unfilled();
        match futures_util::io::AsyncRead::poll_read(Pin::new(&mut self.inner), cx, slice) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_util::io::AsyncWrite::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_close(Pin::new(&mut self.inner), cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
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
                #[allow(deprecated)]
                let mut inner = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                inner.upgrade_tls(tls()?).await.map_err(|e| classify(&e))?;
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
