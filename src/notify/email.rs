//! E-mail through lettre: SMTP (STARTTLS, implicit TLS, or plain to a loopback server) with a
//! pooled connection and a timeout around every send, or `.eml` files in a folder (the embedded
//! default). Chinese subjects and bodies are encoded by lettre.
//!
//! What mail clients old and new need besides: every message says `Auto-Submitted:
//! auto-generated` (RFC 3834: no responder answers it); a file's name is in its Content-Type
//! (`name=`, RFC 2047 words) as well as in its Content-Disposition (`filename*=`, RFC 2231),
//! since older Outlook and Foxmail read only the former; `multipart/related` names the type of
//! its root part (RFC 2387).

use std::time::Duration;

use lettre::Message;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::authentication::Credentials;
use secrecy::ExposeSecret as _;

use super::{SendError, Sent};
use crate::config::{EmailConfig, EmailTransport, Redactor};

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

/// The `Auto-Submitted: auto-generated` header (RFC 3834).
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

type HeaderError = Box<dyn std::error::Error + Send + Sync>;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, HeaderError> {
        if s.trim().eq_ignore_ascii_case("auto-generated") {
            Ok(AutoSubmitted)
        } else {
            Err(format!("Auto-Submitted: {s:?} is not auto-generated").into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// A file's Content-Type with its name: `application/pdf; name="=?utf-8?b?…?="`.
#[derive(Debug, Clone)]
struct NamedType(HeaderValue);

impl NamedType {
    /// `mime` with `name=` quoted, in RFC 2047 words when it is not plain ASCII, on a line of its
    /// own. `mime` must be a content type in printable ASCII: it goes into the header as it is.
    fn new(mime: &str, name: &str) -> Result<NamedType, String> {
        let mime = mime.trim();
        header::ContentType::parse(mime).map_err(|e| e.to_string())?;
        if !mime.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err("not printable ASCII".into());
        }
        let raw = format!("{mime}; name=\"{name}\"");
        let encoded = format!("{mime};\r\n name=\"{}\"", encoded_words(name));
        Ok(NamedType(HeaderValue::dangerous_new_pre_encoded(
            Self::name(),
            raw,
            encoded,
        )))
    }
}

impl Header for NamedType {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Type")
    }

    fn parse(s: &str) -> Result<Self, HeaderError> {
        let (mime, name) = s
            .split_once("; name=\"")
            .and_then(|(m, n)| Some((m, n.strip_suffix('"')?)))
            .ok_or("a Content-Type without a name")?;
        Ok(NamedType::new(mime, name)?)
    }

    fn display(&self) -> HeaderValue {
        self.0.clone()
    }
}

/// A parameter value as RFC 2047 words (`=?utf-8?b?…?=`, each under 76 characters, folded),
/// or as it is when it is printable ASCII without quotes or backslashes.
fn encoded_words(value: &str) -> String {
    if value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        return value.to_owned();
    }
    // 45 bytes make 60 base64 characters: a word of 72.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| {
            format!(
                "=?utf-8?b?{}?=",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, w)
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// A file of the message: its Content-Type with `name=`, its Content-Disposition with the
/// file name (inline with a Content-ID, or attached). Fails on a bad content type.
fn file_part(
    name: &str,
    mime: &str,
    cid: Option<&str>,
    body: Vec<u8>,
) -> Result<SinglePart, String> {
    let content_type = NamedType::new(mime, name)?;
    let disposition = match cid {
        Some(_) => header::ContentDisposition::inline_with_name(name),
        None => header::ContentDisposition::attachment(name),
    };
    let mut part = SinglePart::builder();
    if let Some(cid) = cid {
        part = part.header(header::ContentId::from(format!("<{cid}>")));
    }
    Ok(part.header(disposition).header(content_type).body(body))
}

/// `multipart/related` around an HTML alternative, naming it (RFC 2387 wants the root's type).
fn related() -> lettre::message::MultiPartBuilder {
    let boundary = format!("related-{}", hex::encode(crate::random::bytes::<16>()));
    let ct = format!("multipart/related; boundary=\"{boundary}\"; type=\"multipart/alternative\"");
    match header::ContentType::parse(&ct) {
        Ok(ct) => MultiPart::builder().header(ct),
        // Not reached: the text above is a valid content type.
        Err(_) => MultiPart::related(),
    }
}

enum Transport {
    Smtp(super::smtp::Pool),
    /// `.eml` files in this folder.
    File(std::path::PathBuf),
}

/// Writes one message as `<id>.eml` in `dir`: first to a hidden temporary file, synced, then
/// renamed, so that a full disk or a crash leaves no empty or partial mail for a reader to pick
/// up (the temporary file is removed on failure). Returns the file's name.
async fn write_eml(dir: &std::path::Path, message: &Message) -> std::io::Result<String> {
    let id = hex::encode(crate::random::bytes::<16>());
    let name = format!("{id}.eml");
    let (tmp, path) = (dir.join(format!(".{id}.eml.tmp")), dir.join(&name));
    let bytes = message.formatted();
    // Plain blocking writes on a blocking thread: every error of the write reaches us (a
    // buffered async file may report a failed write only on a later call).
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(name)
}

pub struct Email {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
    domain: String,
    /// The SMTP user and password, and the AUTH exchanges made of them.
    secrets: Redactor,
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
        let mut secrets = Redactor::new();
        let transport = match cfg.transport {
            EmailTransport::File => {
                std::fs::create_dir_all(&cfg.dir).with_context(|| {
                    format!("notify.email.dir: cannot create {}", cfg.dir.display())
                })?;
                Transport::File(cfg.dir.clone())
            }
            EmailTransport::Smtp => {
                let password = crate::config::read_secret(
                    "notify.email.password_file",
                    cfg.password_file.as_deref(),
                    cfg.password_credential.as_deref(),
                )?;
                let credentials = match (&cfg.username, password) {
                    (Some(user), Some(pw)) => {
                        secrets = smtp_secrets(user, pw.expose_secret());
                        Some(Credentials::new(
                            user.clone(),
                            pw.expose_secret().to_string(),
                        ))
                    }
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
            secrets,
        })
    }

    /// What to blank out of this transport's error texts.
    pub fn secrets(&self) -> &Redactor {
        &self.secrets
    }

    /// Sends one message, with the same Message-ID on every attempt (made of its outbox id and
    /// dedupe key), so that a duplicate after a crash can be recognised.
    /// A server's rejection may quote the credentials it was given: an error's text never holds
    /// them.
    pub async fn send(&self, mail: &Mail<'_>) -> Result<Sent, SendError> {
        self.deliver(mail)
            .await
            .map_err(|e| e.redacted(&self.secrets))
    }

    async fn deliver(&self, mail: &Mail<'_>) -> Result<Sent, SendError> {
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
            .message_id(Some(format!("<liandong.{id}.{short}@{}>", self.domain)))
            .header(AutoSubmitted);
        let message = match html.map(Payload::parse) {
            Some(Payload { html, parts }) if !parts.is_empty() => {
                // text + HTML, the HTML's inline images beside it, the attachments after.
                let mut related =
                    related().multipart(MultiPart::alternative_plain_html(text.to_string(), html));
                let mut attached = Vec::new();
                for p in parts {
                    let body = base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        &p.base64,
                    )
                    .map_err(|e| SendError::Permanent(format!("{}: bad content: {e}", p.name)))?;
                    let part = file_part(&p.name, &p.content_type, p.cid.as_deref(), body)
                        .map_err(|e| {
                            SendError::Permanent(format!("{}: bad content type: {e}", p.name))
                        })?;
                    match p.cid {
                        Some(_) => related = related.singlepart(part),
                        None => attached.push(part),
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
                Transport::File(dir) => write_eml(dir, &message)
                    .await
                    .map(Some)
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

/// The SMTP user and password as a server may echo them: as they are, base64 each (AUTH LOGIN),
/// and base64 of `\0user\0password` (AUTH PLAIN) and of `user:password`.
pub fn smtp_secrets(user: &str, password: &str) -> Redactor {
    use base64::Engine as _;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut r = Redactor::new();
    r.add(password);
    r.add(user);
    r.add_exact(b64(format!("\0{user}\0{password}")));
    r.add_exact(b64(format!("{user}\0{password}")));
    r.add_exact(b64(format!("{user}:{password}")));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: a full disk must not leave an empty or half-written `.eml` for the reader of
    /// the folder. On a 64 KB tmpfs (mounted by the test; skipped where mounting is not
    /// allowed), a 200 KB message fails to write and leaves nothing behind; a small one is
    /// written whole under its final name.
    #[tokio::test]
    async fn a_full_disk_leaves_no_empty_or_partial_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED: cannot mount a small tmpfs here");
            return;
        }
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(self.0).status();
            }
        }
        let _unmount = Unmount(dir.path());
        let message = |body: String| {
            Message::builder()
                .from("a@example.gov.cn".parse().unwrap())
                .to("b@example.gov.cn".parse().unwrap())
                .subject("测试")
                .body(body)
                .unwrap()
        };
        let listing = || -> Vec<(String, u64)> {
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().len(),
                    )
                })
                .collect()
        };
        assert!(
            write_eml(dir.path(), &message("字".repeat(70_000)))
                .await
                .is_err()
        );
        assert_eq!(listing(), [], "nothing left behind");
        let name = write_eml(dir.path(), &message("短信".into()))
            .await
            .unwrap();
        let files = listing();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].0, name);
        assert!(files[0].1 > 100, "{files:?}");
    }

    #[test]
    fn an_smtp_rejection_quoting_the_credentials_is_blanked() {
        use base64::Engine as _;
        let r = smtp_secrets("fjld", "Pw-s3cret!");
        let plain = base64::engine::general_purpose::STANDARD.encode("\0fjld\0Pw-s3cret!");
        let login_user = base64::engine::general_purpose::STANDARD.encode("fjld");
        let login_pw = base64::engine::general_purpose::STANDARD.encode("Pw-s3cret!");
        let e = SendError::Permanent(format!(
            "SMTP: permanent error (535): 5.7.8 bad AUTH PLAIN {plain} / LOGIN {login_user} \
             {login_pw} for fjld with Pw-s3cret!"
        ))
        .redacted(&r);
        let shown = e.to_string();
        for leak in [plain.as_str(), &login_user, &login_pw, "fjld", "s3cret"] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
        assert!(shown.starts_with("SMTP: permanent error (535)"), "{shown}");
    }

    #[test]
    fn a_file_name_is_encoded_in_words_old_clients_read() {
        assert_eq!(encoded_words("chart.png"), "chart.png");
        let name = "府检联动落后单位周报-2026年第1周（2025年12月29日—2026年1月4日）.xlsx";
        let words = encoded_words(name);
        let decoded: String = words
            .split("\r\n ")
            .map(|w| {
                assert!(w.len() <= 75, "{w}");
                let b64 = w
                    .strip_prefix("=?utf-8?b?")
                    .unwrap()
                    .strip_suffix("?=")
                    .unwrap();
                let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
                    .unwrap();
                String::from_utf8(bytes).expect("each word whole characters")
            })
            .collect();
        assert_eq!(decoded, name);
        assert!(words.contains("\r\n "), "a long name takes several words");
    }

    #[test]
    fn a_content_type_goes_into_the_header_only_when_it_is_valid_ascii() {
        let t = NamedType::new("application/pdf", "报告.pdf").unwrap();
        let mut h = header::Headers::new();
        h.set(t);
        let text = h.to_string();
        assert!(
            text.starts_with("Content-Type: application/pdf;\r\n name=\"=?utf-8?b?"),
            "{text}"
        );
        assert!(NamedType::new("application/pdf\r\nBcc: x@y", "a").is_err());
        assert!(NamedType::new("text/plain; charset=\"中\"", "a").is_err());
    }
}
