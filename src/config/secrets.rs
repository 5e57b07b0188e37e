//! Secrets: never values in the file. A `*_file` key names a file, a `*_credential` key a systemd
//! credential under `$CREDENTIALS_DIRECTORY`; [`read_secret`] reads either into a
//! [`SecretString`]. A database URL may still carry a password: [`DatabaseUrl`] and
//! [`redact_url`] keep it out of logs and messages. Servers echo the credentials they were sent
//! (in an error body, a rejection text): [`Redactor`] blanks every form of them out of a text
//! before it is logged, stored or shown.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::model::{AuthKind, SourceConfig, StoreConfig};

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

/// Replaces the password of `scheme://user:password@host…`, and the value of every query
/// parameter named like a credential (`?password=…`, which sqlx reads as the password too;
/// `access_token=…`), with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &authority[at..]
        ),
        _ => url[..scheme_end + 3 + authority_end].to_string(),
    };
    let tail = &rest[authority_end..];
    let (before_fragment, fragment) = tail.split_at(tail.find('#').unwrap_or(tail.len()));
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if !v.is_empty() && is_credential_name(k) => format!("{k}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

/// Whether a query parameter or a header of this name carries a credential (`key`,
/// `access_token`, `password`, `Authorization`, `X-Auth-Token`, `sign`, `Cookie` …).
pub fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "key", "token", "secret", "sign", "pass", "auth", "ticket", "cookie", "session",
    ]
    .iter()
    .any(|w| name.contains(w))
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

    /// Adds what a URL carries that grants access: the password in its user part (and the Basic
    /// header an HTTP client makes of the user and password), every query value named like a
    /// credential (`key=`, `access_token=`, `sign=`, `password=` …) and, when `whole` (a robot's
    /// webhook, which is a credential in full), every query value, the URL itself and each long
    /// path segment (a token in the path).
    pub fn add_url(&mut self, url: &str, whole: bool) {
        let Ok(u) = reqwest::Url::parse(url) else {
            if whole {
                self.add(url);
            }
            return;
        };
        if let Some(p) = u.password() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let (user, password) = (decode(u.username()), decode(p));
            self.add(p);
            self.add(&password);
            self.add_basic(&user, &password);
        }
        for (k, v) in u.query_pairs() {
            if whole || is_credential_name(&k) {
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

    /// Adds a user's password and the `Authorization: Basic` value made of both.
    pub fn add_basic(&mut self, user: &str, password: &str) {
        use base64::Engine as _;
        self.add(password);
        self.add_exact(
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
        );
    }

    /// Every credential of one source as its server may echo them: the URL's (see
    /// [`Redactor::add_url`]), the auth token, password (with its Basic header) or API key, the
    /// value of each header written inline whose name says it is a credential, and an SQL
    /// source's password — from its file or credential, or written into its DSN. A secret that
    /// cannot be read adds nothing: the source fails on that itself, naming the key.
    pub fn for_source(src: &SourceConfig) -> Redactor {
        let mut r = Redactor::new();
        let secret = |file: Option<&Path>, credential: Option<&str>| {
            read_secret("", file, credential)
                .ok()
                .flatten()
                .map(|s| s.expose_secret().to_string())
        };
        if let Some(url) = &src.url {
            r.add_url(url, false);
        }
        let a = &src.auth;
        match a.kind {
            AuthKind::None => {}
            AuthKind::Bearer => {
                if let Some(t) = secret(a.token_file.as_deref(), a.token_credential.as_deref()) {
                    r.add(&t);
                }
            }
            AuthKind::Basic => {
                let p = secret(a.password_file.as_deref(), a.password_credential.as_deref());
                if let Some(p) = p {
                    r.add_basic(a.username.as_deref().unwrap_or_default(), &p);
                }
            }
            AuthKind::ApiKey => {
                if let Some(k) = secret(a.key_file.as_deref(), a.key_credential.as_deref()) {
                    r.add(&k);
                }
            }
        }
        // A header written inline whose name says credential (`X-Auth-Token`, `Authorization`);
        // a short value (`X-Api-Key-Version = "2"`) is no credential, and blanking it would
        // garble every text it occurs in.
        for (name, value) in &src.headers {
            if is_credential_name(name) && value.trim().len() >= 8 {
                r.add(value);
                // `Bearer abc…`, `Token abc…`: the credential may be echoed without its scheme.
                if let Some((_, rest)) = value.trim().split_once(' ')
                    && rest.trim().len() >= 8
                {
                    r.add(rest.trim());
                }
            }
        }
        if let Some(dsn) = &src.dsn {
            r.add_url(dsn.expose(), false);
        }
        if let Some(p) = secret(
            src.password_file.as_deref(),
            src.password_credential.as_deref(),
        ) {
            r.add(&p);
        }
        r
    }

    /// The store's password, from `password_file` or `password_credential` or written into the
    /// URL (its user part or `?password=`).
    pub fn for_store(store: &StoreConfig) -> Redactor {
        let mut r = Redactor::new();
        r.add_url(store.url.expose(), false);
        if let Ok(Some(p)) = read_secret(
            "store.password_file",
            store.password_file.as_deref(),
            store.password_credential.as_deref(),
        ) {
            r.add(p.expose_secret());
        }
        r
    }

    /// Whether `text` holds any of the secrets of at least 8 bytes. A shorter one (`sign_type=RSA2`
    /// in a URL) is blanked out of texts all the same, but is too likely to be ordinary data for
    /// a record holding it to be taken for an echo.
    pub fn finds_in(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| s.len() >= 8 && text.contains(s.as_str()))
    }

    /// Whether it knows no secret (redacting is then a copy).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Redacts every string of a JSON value, keys included, in place.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        use serde_json::Value as J;
        if self.is_empty() {
            return;
        }
        match v {
            J::String(s) => *s = self.redact(s),
            J::Array(a) => a.iter_mut().for_each(|x| self.redact_json(x)),
            J::Object(m) => {
                let entries = std::mem::take(m);
                for (k, mut x) in entries {
                    self.redact_json(&mut x);
                    m.insert(self.redact(&k), x);
                }
            }
            _ => {}
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

    /// sqlx reads `?password=` as the password: it is one, wherever it is written.
    #[test]
    fn a_password_or_token_in_the_query_is_hidden_too() {
        for (url, shown) in [
            (
                "postgres://liandong@db.example/liandong?password=s3cret&sslmode=require",
                "postgres://liandong@db.example/liandong?password=***&sslmode=require",
            ),
            (
                "postgres://u:p@db/x?application_name=a&password=s3cret#f",
                "postgres://u:***@db/x?application_name=a&password=***#f",
            ),
            (
                "https://api.example?access_token=s3cret",
                "https://api.example?access_token=***",
            ),
            (
                "https://api.example/v1?page=2&sign=s3cret",
                "https://api.example/v1?page=2&sign=***",
            ),
            (
                "mysql://root@127.0.0.1:3306/test",
                "mysql://root@127.0.0.1:3306/test",
            ),
        ] {
            assert_eq!(redact_url(url), shown);
            assert_eq!(DatabaseUrl(url.into()).to_string(), shown);
        }
    }

    #[test]
    fn a_source_knows_every_credential_it_sends() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("{text}\n")).unwrap();
            Some(p)
        };
        let src = SourceConfig {
            url: Some("https://clerk:url-pw-01@api.example/x?access_token=q-tok-001&page=1".into()),
            auth: super::super::model::AuthConfig {
                kind: AuthKind::Basic,
                username: Some("clerk".into()),
                password_file: file("pw", "basic-pw-1"),
                ..Default::default()
            },
            headers: [
                ("X-Auth-Token".to_string(), "hdr-tok-12".to_string()),
                ("Authorization".to_string(), "Token hdr-auth-1".to_string()),
                ("X-Api-Key-Version".to_string(), "2".to_string()),
                ("Accept".to_string(), "application/json".to_string()),
            ]
            .into(),
            dsn: Some(DatabaseUrl(
                "postgres://u:dsn-pw-01@db/x?password=dsn-q-001".into(),
            )),
            password_file: file("sql", "sql-pw-01"),
            ..Default::default()
        };
        let r = Redactor::for_source(&src);
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for secret in [
            "url-pw-01".to_string(),
            b64("clerk:url-pw-01"),
            "q-tok-001".into(),
            "basic-pw-1".into(),
            b64("clerk:basic-pw-1"),
            b64("basic-pw-1"),
            "hdr-tok-12".into(),
            "hdr-auth-1".into(),
            "dsn-pw-01".into(),
            "dsn-q-001".into(),
            "sql-pw-01".into(),
        ] {
            assert_eq!(r.redact(&format!("<{secret}>")), "<***>", "{secret}");
            assert!(r.finds_in(&format!("x{secret}x")), "{secret}");
        }
        for kept in ["clerk", "page=1", "application/json", "api.example", "2"] {
            assert_eq!(r.redact(kept), kept);
        }
        // A secret too short to tell from data is blanked but not looked for in records.
        let mut short = Redactor::new();
        short.add("RSA2");
        assert_eq!(short.redact("sign_type=RSA2"), "sign_type=***");
        assert!(!short.finds_in("RSA2"));
        let mut v =
            serde_json::json!({"q-tok-001": ["a basic-pw-1 b", {"k": "sql-pw-01"}], "n": 1});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"***": ["a *** b", {"k": "***"}], "n": 1})
        );

        let store = StoreConfig {
            url: DatabaseUrl("postgres://liandong:in-url-01@db/x".into()),
            password_file: file("store", "store-pw-1"),
            ..Default::default()
        };
        let r = Redactor::for_store(&store);
        assert_eq!(r.redact("in-url-01 store-pw-1"), "*** ***");
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
