//! Secrets: never values in the file. A `*_file` key names a file, a `*_credential` key a systemd
//! credential under `$CREDENTIALS_DIRECTORY`; [`read_secret`] reads either into a
//! [`SecretString`]. A database URL may still carry a password: [`DatabaseUrl`] and
//! [`redact_url`] keep it out of logs and messages. Servers echo the credentials they were sent
//! (in an error body, a rejection text): [`Redactor`] blanks every form of them out of a text
//! before it is logged, stored or shown.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// A database URL whose `Debug` and `Display` hide the password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

/// Replaces the password of `scheme://user:password@host…` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_string(),
    }
}

/// The secrets of one connection (a source, a channel) and the forms a server may echo them
/// in: [`Redactor::redact`] replaces each with `***`. The one redaction every error text from
/// outside passes through before it is logged, stored (`last_error`) or sent on.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Adds a secret, with the forms it takes when echoed: percent-encoded (in a URL), escaped
    /// in a JSON string, and base64 (a header, an SMTP exchange).
    pub fn add(&mut self, secret: &str) {
        use base64::Engine as _;
        if secret.is_empty() {
            return;
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        let forms = [
            secret.to_string(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            json.trim_matches('"').to_string(),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ];
        for f in forms {
            self.add_exact(f);
        }
    }

    /// Adds a text to blank out as it is (a derived credential such as base64 of `user:password`).
    pub fn add_exact(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !text.is_empty() && !self.secrets.contains(&text) {
            self.secrets.push(text);
            // Longest first: a secret that contains another is blanked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Adds what a URL carries that grants access: the password in its user part, every query
    /// value (`key=`, `access_token=`, `sign=` …) and, when `whole` (a robot's webhook, which
    /// is a credential in full), the URL itself and each long path segment (a token in the path).
    pub fn add_url(&mut self, url: &str, whole: bool) {
        let Ok(u) = reqwest::Url::parse(url) else {
            if whole {
                self.add(url);
            }
            return;
        };
        if let Some(p) = u.password() {
            self.add(p);
            self.add(&percent_encoding::percent_decode_str(p).decode_utf8_lossy());
        }
        for (k, v) in u.query_pairs() {
            let k = k.to_ascii_lowercase();
            let credential = ["key", "token", "secret", "sign", "pass", "auth", "ticket"]
                .iter()
                .any(|w| k.contains(w));
            if whole || credential {
                self.add(&v);
            }
        }
        if whole {
            self.add(url);
            self.add(u.as_str());
            for seg in u.path_segments().into_iter().flatten() {
                if seg.len() >= 16 {
                    self.add(seg);
                }
            }
        }
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Errors reading a secret; they name the key, never the content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{key}: cannot read secret file {path}: {source}")]
    File {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{key}: credential {name:?} requested but $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=, or use a *_file key)"
    )]
    NoCredentialsDirectory { key: String, name: String },
    #[error("{key}: secret is empty")]
    Empty { key: String },
}

/// Reads a secret from a file or a systemd credential; trailing newlines are dropped.
pub fn read_secret(
    key: &str,
    file: Option<&Path>,
    credential: Option<&str>,
) -> Result<Option<SecretString>, SecretError> {
    let path = match (file, credential) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(name)) => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => PathBuf::from(dir).join(name),
            None => {
                return Err(SecretError::NoCredentialsDirectory {
                    key: key.to_string(),
                    name: name.to_string(),
                });
            }
        },
        (None, None) => return Ok(None),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| SecretError::File {
        key: key.to_string(),
        path: path.clone(),
        source,
    })?;
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(SecretError::Empty {
            key: key.to_string(),
        });
    }
    Ok(Some(SecretString::from(trimmed.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_debug_hides_the_password() {
        let url = DatabaseUrl("postgres://liandong:s3cret@db.example/liandong".into());
        let shown = format!("{url:?} {url}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("liandong:***@db.example"), "{shown}");
        assert_eq!(redact_url("sqlite://var/x.db"), "sqlite://var/x.db");
    }

    #[test]
    fn every_echoed_form_of_a_secret_is_blanked() {
        let mut r = Redactor::new();
        r.add("s3cr\"et/+");
        r.add_exact("dXNlcjpwdw==");
        r.add_url("https://gw.example/send?access_token=tok123&mode=x", false);
        r.add_url(
            "https://qyapi.example/cgi-bin/webhook/send?key=wk-0123",
            true,
        );
        let text = "got s3cr\"et/+ and s3cr%22et%2F%2B and \"s3cr\\\"et/+\" and czNjciJldC8r \
                    dXNlcjpwdw== tok123 mode=x https://qyapi.example/cgi-bin/webhook/send?key=wk-0123";
        let shown = r.redact(text);
        for leak in [
            "s3cr",
            "czNjciJldC8r",
            "dXNlcjpwdw",
            "tok123",
            "wk-0123",
            "qyapi",
        ] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
        assert!(shown.contains("mode=x"), "{shown}");
        assert_eq!(Redactor::new().redact("a"), "a");
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "tok-123\n").unwrap();
        let s = read_secret("sources[0].auth.token_file", Some(&f), None)
            .unwrap()
            .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(s.expose_secret(), "tok-123");
        assert!(!format!("{s:?}").contains("tok-123"));
        let err = read_secret("k", Some(&dir.path().join("missing")), None).unwrap_err();
        assert!(err.to_string().starts_with("k: cannot read secret file"));
    }
}
