//! SMS through Aliyun (SendSms, signature V3 `ACS3-HMAC-SHA256`), Tencent Cloud (SendSms,
//! `TC3-HMAC-SHA256`) or a generic HTTP gateway (URL, method, headers and body from templates,
//! a success predicate). The signers are pure functions, tested against the providers' own
//! worked examples; the test servers verify them on every request.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::{SendError, Sent};
use crate::config::sms_params::{BodyShape, body_shape};
use crate::config::{Redactor, SmsConfig, SmsProvider};

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length"); // allow-unwrap: HMAC takes keys of any length
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// RFC 3986 encoding as Aliyun's canonical query string wants it: everything but
/// `A-Z a-z 0-9 - _ . ~` as %XX, a space as %20.
pub fn percent(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// The query as Aliyun signs it, and as it is sent: RFC 3986-encoded pairs sorted by name.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent(k), percent(v)))
        .collect();
    q.sort();
    q.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `ACS3-HMAC-SHA256` signature of a request (Aliyun signature V3).
///
/// `headers` are the signed headers (names in any case; `host` and every `x-acs-*` among
/// them); `query` the parameters unencoded. Returns (signed header list, signature hex).
pub fn aliyun_v3_signature(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
    secret: &str,
) -> (String, String) {
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent(k), percent(v)))
        .collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    h.sort();
    let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let request = format!(
        "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(body)
    );
    let to_sign = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(request.as_bytes()));
    (
        signed,
        hex::encode(hmac(secret.as_bytes(), to_sign.as_bytes())),
    )
}

/// The `TC3-HMAC-SHA256` signature of a POST with a JSON body (Tencent Cloud API 3.0), signing
/// the headers `content-type` and `host`.
pub fn tc3_signature(
    secret_key: &str,
    service: &str,
    host: &str,
    content_type: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let request = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}",
        sha256_hex(body)
    );
    let date = DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let scope = format!("{date}/{service}/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        sha256_hex(request.as_bytes())
    );
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac(&k_date, service.as_bytes());
    let k_signing = hmac(&k_service, b"tc3_request");
    hex::encode(hmac(&k_signing, to_sign.as_bytes()))
}

/// A configured SMS provider, ready to send.
pub struct Sms {
    cfg: SmsConfig,
    secret: Option<SecretString>,
    client: reqwest::Client,
    templates: minijinja::Environment<'static>,
    /// `http`: the body, JSON or a form, its placeholders rendered into it by a serializer.
    body: Option<BodyShape>,
    /// The secret, the credentials in the gateway's address and the header values made of them.
    secrets: Redactor,
}

impl Sms {
    pub fn new(cfg: &SmsConfig) -> anyhow::Result<Sms> {
        let secret = crate::config::read_secret(
            "notify.sms.secret_file",
            cfg.secret_file.as_deref(),
            cfg.secret_credential.as_deref(),
        )?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(cfg.timeout_secs.clamp(1, 10)))
            .build()?;
        let mut templates = minijinja::Environment::new();
        let body = if cfg.provider == SmsProvider::Http {
            let shape =
                body_shape(&cfg.body).map_err(|e| anyhow::anyhow!("notify.sms.body: {e}"))?;
            // Every placeholder compiles now, not at the first message.
            for t in placeholders(&shape) {
                templates
                    .template_from_str(t)
                    .map_err(|e| anyhow::anyhow!("notify.sms.body: {t:?}: {e}"))?;
            }
            Some(shape)
        } else {
            None
        };
        if cfg.provider == SmsProvider::Http {
            for (k, v) in &cfg.headers {
                templates.add_template_owned(format!("header:{k}"), v.clone())?;
            }
        }
        let mut secrets = Redactor::new();
        if let Some(s) = &secret {
            secrets.add(s.expose_secret());
        }
        for url in [&cfg.url, &cfg.endpoint].into_iter().flatten() {
            secrets.add_url(url, false);
        }
        // A header that carries a credential (`Authorization = "Bearer {{ secret }}"`, an API key
        // written inline): its value as sent, so that an echo of it is blanked whole.
        let secret_text = secret.as_ref().map_or("", |s| s.expose_secret());
        for (k, v) in &cfg.headers {
            let name = k.to_ascii_lowercase();
            let credential = v.contains("secret")
                || ["auth", "token", "key", "secret", "sign", "pass", "ticket"]
                    .iter()
                    .any(|w| name.contains(w));
            if !credential {
                continue;
            }
            let ctx = serde_json::json!({"secret": secret_text});
            if let Ok(value) = templates
                .get_template(&format!("header:{k}"))
                .and_then(|t| t.render(&ctx))
            {
                secrets.add(&value);
                if let Some((_, token)) = value.split_once(' ') {
                    secrets.add(token.trim());
                }
            }
        }
        Ok(Sms {
            cfg: cfg.clone(),
            secret,
            client,
            templates,
            body,
            secrets,
        })
    }

    /// What to blank out of this provider's error texts.
    pub fn secrets(&self) -> &Redactor {
        &self.secrets
    }

    fn secret(&self) -> &str {
        self.secret.as_ref().map_or("", |s| s.expose_secret())
    }

    /// Sends `text` (the whole message, signature included) or, for providers with approved
    /// templates, the template with `params` (a JSON object by name).
    pub async fn send(
        &self,
        id: i64,
        phone: &str,
        text: &str,
        params: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        let phone: String = phone
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        // Gateways echo what they were sent: no error text leaves here with a credential in it.
        match self.cfg.provider {
            SmsProvider::Aliyun => self.aliyun(id, &phone, params, now).await,
            SmsProvider::Tencent => self.tencent(id, &phone, params, now).await,
            SmsProvider::Http => self.http(id, &phone, text, params).await,
        }
        .map_err(|e| e.redacted(&self.secrets))
    }

    /// The first 200 characters of an answer, its secrets blanked before the cut (so that no
    /// prefix of one survives it).
    fn excerpt(&self, text: &str) -> String {
        self.secrets.redact(text).chars().take(200).collect()
    }

    fn ordered_params(&self, params: &serde_json::Value) -> Vec<(String, String)> {
        self.cfg
            .template_params
            .iter()
            .map(|p| {
                let v = params.get(p).and_then(|v| v.as_str()).unwrap_or_default();
                (p.clone(), v.to_string())
            })
            .collect()
    }

    /// The provider's address (or `endpoint`) and its Host header value.
    fn endpoint(&self, default: &str) -> Result<(reqwest::Url, String), SendError> {
        let url = reqwest::Url::parse(self.cfg.endpoint.as_deref().unwrap_or(default))
            .map_err(|e| SendError::Permanent(format!("notify.sms.endpoint: {e}")))?;
        let host = host_of(&url);
        Ok((url, host))
    }

    async fn aliyun(
        &self,
        id: i64,
        phone: &str,
        params: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        let (url, host) = self.endpoint("https://dysmsapi.aliyuncs.com")?;
        let template_param: serde_json::Map<String, serde_json::Value> = self
            .ordered_params(params)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        let phone = phone.trim_start_matches("+86");
        let query = vec![
            ("PhoneNumbers".to_string(), phone.to_string()),
            ("SignName".to_string(), self.cfg.sign_name.clone()),
            ("TemplateCode".to_string(), self.cfg.template.clone()),
            (
                "TemplateParam".to_string(),
                serde_json::Value::Object(template_param).to_string(),
            ),
            ("OutId".to_string(), format!("liandong-{id}")),
        ];
        let date = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nonce = hex::encode(
            &Sha256::digest(format!("{id}:{}", now.timestamp_nanos_opt().unwrap_or(0)))[..16],
        );
        let headers = vec![
            ("host".to_string(), host.clone()),
            ("x-acs-action".to_string(), "SendSms".to_string()),
            ("x-acs-version".to_string(), "2017-05-25".to_string()),
            ("x-acs-date".to_string(), date),
            ("x-acs-signature-nonce".to_string(), nonce),
            ("x-acs-content-sha256".to_string(), sha256_hex(b"")),
        ];
        let (signed, signature) =
            aliyun_v3_signature("POST", "/", &query, &headers, b"", self.secret());
        let key_id = self.cfg.key_id.as_deref().unwrap_or_default();
        // What is sent is exactly what was signed.
        let mut url = url;
        url.set_query(Some(&canonical_query(&query)));
        let mut req = self.client.post(url).header(
            "Authorization",
            format!(
                "ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={signed},Signature={signature}"
            ),
        );
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            req = req.header(k, v);
        }
        let (status, body) = exchange(req).await?;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let code = json
            .get("Code")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        if status.is_success() && code == "OK" {
            return Ok(Sent {
                provider_id: json
                    .get("BizId")
                    .and_then(|b| b.as_str())
                    .map(str::to_string),
            });
        }
        let message = json
            .get("Message")
            .and_then(|c| c.as_str())
            .map_or_else(|| self.excerpt(&body), str::to_string);
        let error = format!("Aliyun {status} {code}: {message}");
        // The day's limit for the number waits for tomorrow; flow control and the provider's own
        // faults pass; a bad number, signature, template or key does not.
        if code == "isv.DAY_LIMIT_CONTROL" {
            Err(SendError::DailyLimit(error))
        } else if status.is_server_error()
            || code.contains("LIMIT_CONTROL")
            || code.starts_with("isp.")
            || code.starts_with("Throttling")
        {
            Err(SendError::Transient(error))
        } else {
            Err(SendError::Permanent(error))
        }
    }

    async fn tencent(
        &self,
        id: i64,
        phone: &str,
        params: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Sent, SendError> {
        let (url, host) = self.endpoint("https://sms.tencentcloudapi.com")?;
        let phone = if phone.starts_with('+') {
            phone.to_string()
        } else {
            format!("+86{phone}")
        };
        let body = serde_json::json!({
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": self.cfg.sdk_app_id,
            "SignName": self.cfg.sign_name,
            "TemplateId": self.cfg.template,
            "TemplateParamSet": self.ordered_params(params).into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "SessionContext": format!("liandong-{id}"),
        })
        .to_string();
        let content_type = "application/json; charset=utf-8";
        let ts = now.timestamp();
        let signature = tc3_signature(
            self.secret(),
            "sms",
            &host,
            content_type,
            ts,
            body.as_bytes(),
        );
        let date = now.format("%Y-%m-%d");
        let key_id = self.cfg.key_id.as_deref().unwrap_or_default();
        let req = self
            .client
            .post(url)
            .header(
                "Authorization",
                format!(
                    "TC3-HMAC-SHA256 Credential={key_id}/{date}/sms/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
                ),
            )
            .header("Content-Type", content_type)
            .header("X-TC-Action", "SendSms")
            .header("X-TC-Timestamp", ts.to_string())
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Region", self.cfg.region.clone())
            .body(body);
        let (status, text) = exchange(req).await?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let resp = json.get("Response").cloned().unwrap_or_default();
        if let Some(err) = resp.get("Error") {
            let code = err.get("Code").and_then(|c| c.as_str()).unwrap_or_default();
            let error = format!(
                "Tencent {status} {code}: {}",
                err.get("Message")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
            );
            return if code.ends_with("DailyLimit") {
                Err(SendError::DailyLimit(error))
            } else if code.starts_with("InternalError")
                || code.starts_with("LimitExceeded")
                || code == "RequestLimitExceeded"
            {
                Err(SendError::Transient(error))
            } else {
                Err(SendError::Permanent(error))
            };
        }
        if !status.is_success() {
            let error = format!("Tencent {status}: {}", self.excerpt(&text));
            return Err(if status.is_server_error() {
                SendError::Transient(error)
            } else {
                SendError::Permanent(error)
            });
        }
        let set = resp
            .get("SendStatusSet")
            .and_then(|s| s.as_array())
            .cloned()
            .unwrap_or_default();
        if set.is_empty() {
            return Err(SendError::Transient(format!(
                "Tencent answered without a SendStatusSet: {}",
                self.excerpt(&text)
            )));
        }
        for s in &set {
            let code = s.get("Code").and_then(|c| c.as_str()).unwrap_or_default();
            if code != "Ok" {
                let error = format!(
                    "Tencent {code}: {}",
                    s.get("Message")
                        .and_then(|c| c.as_str())
                        .unwrap_or_default()
                );
                return Err(if code.ends_with("DailyLimit") {
                    SendError::DailyLimit(error)
                } else if code.starts_with("LimitExceeded") || code.starts_with("InternalError") {
                    SendError::Transient(error)
                } else {
                    SendError::Permanent(error)
                });
            }
        }
        Ok(Sent {
            provider_id: set[0]
                .get("SerialNo")
                .and_then(|s| s.as_str())
                .map(str::to_string),
        })
    }

    async fn http(
        &self,
        id: i64,
        phone: &str,
        text: &str,
        params: &serde_json::Value,
    ) -> Result<Sent, SendError> {
        let ctx = serde_json::json!({
            "phone": phone,
            "text": text,
            "message_id": format!("liandong-{id}"),
            "sign_name": self.cfg.sign_name,
            "secret": self.secret(),
            "params": params,
        });
        let render = |name: &str| {
            self.templates
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| SendError::Permanent(format!("notify.sms template {name}: {e}")))
        };
        let url = self.cfg.url.as_deref().unwrap_or_default();
        let method = reqwest::Method::from_bytes(self.cfg.method.to_ascii_uppercase().as_bytes())
            .map_err(|e| SendError::Permanent(format!("notify.sms.method: {e}")))?;
        let value = |t: &str| {
            self.templates
                .render_str(t, &ctx)
                .map_err(|e| SendError::Permanent(format!("notify.sms.body {t:?}: {e}")))
        };
        let (body, content_type) = match &self.body {
            Some(BodyShape::Json(doc)) => (
                render_json(doc, &value)?.to_string(),
                "application/json; charset=utf-8",
            ),
            Some(BodyShape::Form(pairs)) => {
                let mut encoded = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let v = if has_placeholder(v) {
                        value(v)?
                    } else {
                        v.clone()
                    };
                    encoded.push(format!("{}={}", percent(k), percent(&v)));
                }
                (
                    encoded.join("&"),
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
            }
            None => {
                return Err(SendError::Permanent(
                    "notify.sms.body: no body for the http provider".into(),
                ));
            }
        };
        let mut req = self.client.request(method, url).body(body);
        if !self
            .cfg
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("Content-Type", content_type);
        }
        for k in self.cfg.headers.keys() {
            req = req.header(k, render(&format!("header:{k}"))?);
        }
        let (status, body) = exchange(req).await?;
        let accepted_status = self.cfg.success_status.contains(&status.as_u16());
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let value_ok = match (&self.cfg.success_pointer, &self.cfg.success_value) {
            (Some(p), Some(want)) => json.pointer(p).is_some_and(|v| match v {
                serde_json::Value::String(s) => s == want,
                other => {
                    serde_json::from_str::<serde_json::Value>(want)
                        .ok()
                        .as_ref()
                        == Some(other)
                }
            }),
            _ => true,
        };
        if accepted_status && value_ok {
            let provider_id = self
                .cfg
                .id_pointer
                .as_deref()
                .and_then(|p| json.pointer(p))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            return Ok(Sent { provider_id });
        }
        let error = format!("gateway {status}: {}", self.excerpt(&body));
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SendError::Transient(error))
        } else {
            Err(SendError::Permanent(error))
        }
    }
}

/// Whether a configured text is a template rather than a literal.
fn has_placeholder(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The placeholder texts of a body, to compile up front.
fn placeholders(shape: &BodyShape) -> Vec<&str> {
    fn walk<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) if has_placeholder(s) => out.push(s),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match shape {
        BodyShape::Json(v) => walk(v, &mut out),
        BodyShape::Form(pairs) => out.extend(
            pairs
                .iter()
                .map(|(_, v)| v.as_str())
                .filter(|v| has_placeholder(v)),
        ),
    }
    out
}

/// The configured JSON document with each string that holds a placeholder replaced by its
/// rendering, as a JSON string: whatever a value holds, the keys stay the configured ones.
pub fn render_json(
    doc: &serde_json::Value,
    value: &dyn Fn(&str) -> Result<String, SendError>,
) -> Result<serde_json::Value, SendError> {
    use serde_json::Value;
    Ok(match doc {
        Value::String(s) if has_placeholder(s) => Value::String(value(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_json(x, value))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), render_json(x, value)?)))
                .collect::<Result<_, SendError>>()?,
        ),
        other => other.clone(),
    })
}

/// `host[:port]` as the Host header carries it.
pub fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Sends a request; a timeout, a refused connection or a dropped answer is transient.
pub async fn exchange(
    req: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, String), SendError> {
    let resp = req.send().await.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "request failed"
        };
        // Without the URL: it may carry a robot's key or a phone number.
        let e = e.without_url();
        SendError::Transient(format!("{what}: {}", crate::sources::http::error_chain(&e)))
    })?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| SendError::Transient(format!("reading the answer: {e}")))?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliyun_v3_signs_the_documented_run_instances_example() {
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            (
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let (signed, sig) =
            aliyun_v3_signature("POST", "/", &query, &headers, b"", "YourAccessKeySecret");
        assert_eq!(
            signed,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sig,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn tc3_signs_the_documented_describe_instances_example() {
        let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let sig = tc3_signature(
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            "cvm",
            "cvm.tencentcloudapi.com",
            "application/json; charset=utf-8",
            1_551_113_065,
            body.as_bytes(),
        );
        assert_eq!(
            sig,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn percent_encoding_follows_rfc_3986() {
        assert_eq!(percent("a b*~-_."), "a%20b%2A~-_.");
        assert_eq!(
            percent("{\"customer\":\"测\"}"),
            "%7B%22customer%22%3A%22%E6%B5%8B%22%7D"
        );
    }
}
