//! Secrets: never values in the file. A `*_file` key names a file, a `*_credential` key a systemd
//! credential under `$CREDENTIALS_DIRECTORY`; [`read_secret`] reads either into a
//! [`SecretString`]. A database URL may still carry a password: [`DatabaseUrl`] and
//! [`redact_url`] keep it out of logs and messages.

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
