//! Group robots: a WeCom (企业微信) robot webhook and a DingTalk (钉钉) robot, with DingTalk's
//! signing (加签) when the robot has a secret. Both take a markdown message.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::sms::exchange;
use super::{SendError, Sent};
use crate::config::{Redactor, RobotConfig, RobotKind};

/// DingTalk's `sign` parameter: base64 of HMAC-SHA256(secret, "timestamp\nsecret"),
/// percent-encoded.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let mac = super::sms::hmac(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac);
    percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub struct Robot {
    kind: RobotKind,
    url: SecretString,
    secret: Option<SecretString>,
    client: reqwest::Client,
    /// The webhook (a credential in full: its `key` / `access_token`) and the signing secret.
    secrets: Redactor,
}

impl Robot {
    pub fn new(cfg: &RobotConfig) -> anyhow::Result<Robot> {
        let key = format!("notify.robots.{}.url_file", cfg.name);
        let url = match &cfg.url {
            Some(u) => SecretString::from(u.clone()),
            None => crate::config::read_secret(
                &key,
                cfg.url_file.as_deref(),
                cfg.url_credential.as_deref(),
            )?
            .ok_or_else(|| anyhow::anyhow!("{key}: the robot has no webhook"))?,
        };
        let secret = crate::config::read_secret(
            &format!("notify.robots.{}.secret_file", cfg.name),
            cfg.secret_file.as_deref(),
            cfg.secret_credential.as_deref(),
        )?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(cfg.timeout_secs.clamp(1, 10)))
            .build()?;
        let mut secrets = Redactor::new();
        secrets.add_url(url.expose_secret(), true);
        if let Some(s) = &secret {
            secrets.add(s.expose_secret());
        }
        Ok(Robot {
            kind: cfg.kind,
            url,
            secret,
            client,
            secrets,
        })
    }

    /// What to blank out of this robot's error texts.
    pub fn secrets(&self) -> &Redactor {
        &self.secrets
    }

    /// Posts the message; an error's text never holds the webhook's token or the secret.
    pub async fn send(
        &self,
        title: &str,
        markdown: &str,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        self.post(title, markdown, now)
            .await
            .map_err(|e| e.redacted(&self.secrets))
    }

    async fn post(
        &self,
        title: &str,
        markdown: &str,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        let (url, body) = match self.kind {
            RobotKind::Wecom => (
                self.url.expose_secret().to_string(),
                serde_json::json!({"msgtype": "markdown", "markdown": {"content": markdown}}),
            ),
            RobotKind::Dingtalk => {
                let mut url = self.url.expose_secret().to_string();
                if let Some(secret) = &self.secret {
                    let ts = now.timestamp_millis();
                    let sep = if url.contains('?') { '&' } else { '?' };
                    url = format!(
                        "{url}{sep}timestamp={ts}&sign={}",
                        dingtalk_sign(secret.expose_secret(), ts)
                    );
                }
                (
                    url,
                    serde_json::json!({"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}),
                )
            }
        };
        let (status, text) = exchange(self.client.post(url).json(&body)).await?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let code = json.get("errcode").and_then(|c| c.as_i64());
        if status.is_success() && code == Some(0) {
            return Ok(Sent { provider_id: None });
        }
        let error = format!(
            "robot {status} errcode {}: {}",
            code.map_or_else(|| "?".into(), |c| c.to_string()),
            json.get("errmsg").and_then(|m| m.as_str()).unwrap_or(&text)
        );
        // 45009 (WeCom) and 130101 (DingTalk): too many messages a minute.
        if status.is_server_error()
            || status.as_u16() == 429
            || matches!(code, Some(45009 | 130101 | -1))
        {
            Err(SendError::Transient(error))
        } else {
            Err(SendError::Permanent(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_sign_is_base64_hmac_of_timestamp_and_secret_url_encoded() {
        // Computed independently: printf '1700000000000\nSECabc' | openssl dgst -sha256 -hmac SECabc -binary | base64
        let s = dingtalk_sign("SECabc", 1_700_000_000_000);
        assert_eq!(s, "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D");
        assert!(!dingtalk_sign("k", 1).contains(['+', '/', '=']));
    }
}
