//! E-mail through lettre: SMTP (STARTTLS, implicit TLS, or plain to a loopback server) with a
//! pooled connection and a timeout around every send, or `.eml` files in a folder (the embedded
//! default). Chinese subjects and bodies are encoded by lettre.

use std::time::Duration;

use lettre::message::{Attachment, Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;

use super::{SendError, Sent};
use crate::config::{EmailConfig, EmailTransport};

/// A file carried by an e-mail: an inline image (with a Content-ID the HTML refers to as
/// `cid:…`) or an attachment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub name: String,
    pub content_type: String,
    pub cid: Option<String>,
    pub base64: String,
}

/// An e-mail's payload in the outbox: its HTML, and the files it carries. Stored as JSON; a
/// payload that is not JSON is the HTML alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Payload {
    pub html: String,
    pub parts: Vec<Part>,
}

impl Payload {
    pub fn parse(stored: &str) -> Payload {
        serde_json::from_str(stored).unwrap_or_else(|_| Payload {
            html: stored.to_string(),
            parts: Vec::new(),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One e-mail to send.
#[derive(Debug, Clone, Copy)]
pub struct Mail<'a> {
    /// The outbox id and dedupe key.
    pub id: i64,
    pub key: &'a str,
    pub to_name: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
}

enum Transport {
    Smtp(super::smtp::Pool),
    File(AsyncFileTransport<Tokio1Executor>),
}

pub struct Email {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
    domain: String,
}

impl Email {
    /// Builds the transport.
    pub fn new(cfg: &EmailConfig) -> anyhow::Result<Email> {
        use anyhow::Context as _;
        let from: Mailbox = cfg
            .from
            .parse()
            .with_context(|| format!("notify.email.from: {:?} is not an address", cfg.from))?;
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let transport = match cfg.transport {
            EmailTransport::File => {
                std::fs::create_dir_all(&cfg.dir).with_context(|| {
                    format!("notify.email.dir: cannot create {}", cfg.dir.display())
                })?;
                Transport::File(AsyncFileTransport::<Tokio1Executor>::new(&cfg.dir))
            }
            EmailTransport::Smtp => {
                let password = crate::config::read_secret(
                    "notify.email.password_file",
                    cfg.password_file.as_deref(),
                    cfg.password_credential.as_deref(),
                )?;
                let credentials = match (&cfg.username, password) {
                    (Some(user), Some(pw)) => Some(Credentials::new(
                        user.clone(),
                        pw.expose_secret().to_string(),
                    )),
                    _ => None,
                };
                Transport::Smtp(super::smtp::Pool::new(super::smtp::Server {
                    host: cfg.host.clone(),
                    port: cfg.port,
                    security: cfg.security,
                    credentials,
                    timeout,
                    ca_pem: cfg
                        .ca_file
                        .as_ref()
                        .map(|f| {
                            std::fs::read(f).with_context(|| {
                                format!("notify.email.ca_file: cannot read {}", f.display())
                            })
                        })
                        .transpose()?,
                }))
            }
        };
        let domain = from.email.domain().to_string();
        Ok(Email {
            transport,
            from,
            timeout,
            domain,
        })
    }

    /// Sends one message, with the same Message-ID on every attempt (made of its outbox id and
    /// dedupe key), so that a duplicate after a crash can be recognised.
    pub async fn send(&self, mail: &Mail<'_>) -> Result<Sent, SendError> {
        let Mail {
            id,
            key,
            to_name,
            to,
            subject,
            text,
            html,
        } = *mail;
        let address = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("{to:?} is not an e-mail address: {e}")))?;
        let short = &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()))[..12];
        let builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(to_name.to_string()), address))
            .subject(subject)
            .message_id(Some(format!("<liandong.{id}.{short}@{}>", self.domain)));
        let message = match html.map(Payload::parse) {
            Some(Payload { html, parts }) if !parts.is_empty() => {
                // text + HTML, the HTML's inline images beside it, the attachments after.
                let mut related = MultiPart::related()
                    .multipart(MultiPart::alternative_plain_html(text.to_string(), html));
                let mut attached = Vec::new();
                for p in parts {
                    let ct = header::ContentType::parse(&p.content_type).map_err(|e| {
                        SendError::Permanent(format!("{}: bad content type: {e}", p.name))
                    })?;
                    let body = base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        &p.base64,
                    )
                    .map_err(|e| SendError::Permanent(format!("{}: bad content: {e}", p.name)))?;
                    match p.cid {
                        Some(cid) => {
                            related =
                                related.singlepart(Attachment::new_inline(cid).body(body, ct));
                        }
                        None => attached.push(Attachment::new(p.name).body(body, ct)),
                    }
                }
                let mut mixed = MultiPart::mixed().multipart(related);
                for a in attached {
                    mixed = mixed.singlepart(a);
                }
                builder.multipart(mixed)
            }
            Some(Payload { html, .. }) => {
                builder.multipart(MultiPart::alternative_plain_html(text.to_string(), html))
            }
            None => builder
                .header(header::ContentType::TEXT_PLAIN)
                .body(text.to_string()),
        }
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        let sent = tokio::time::timeout(self.timeout, async {
            match &self.transport {
                Transport::Smtp(pool) => pool.send(&message).await.map(|r| {
                    let text: Vec<&str> = r.message().collect();
                    Some(
                        format!("{} {}", r.code(), text.join(" "))
                            .chars()
                            .take(200)
                            .collect(),
                    )
                }),
                Transport::File(t) => t
                    .send(message)
                    .await
                    .map(|id| Some(format!("{id}.eml")))
                    .map_err(|e| SendError::Transient(format!("writing the .eml file: {e}"))),
            }
        })
        .await
        .map_err(|_| {
            SendError::Transient(format!("no answer within {} s", self.timeout.as_secs()))
        })??;
        Ok(Sent { provider_id: sent })
    }
}
