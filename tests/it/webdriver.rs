//! A small WebDriver client for the console's browser test: chromedriver (Debian's
//! `chromium-driver`) on a free port, one headless Chromium session at 1366×768, spoken to in
//! the W3C protocol's JSON over the HTTP client liandong already has.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::notify::free_port;

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver with one Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// A headless Chromium at 1366×768 (an office screen); `None` (said, or failed under
    /// LIANDONG_REQUIRE_DBS=1) when Chromium or chromedriver is missing.
    pub async fn start(what: &str) -> Option<Browser> {
        let chromium = crate::browser::chromium(what)?;
        let driver_path = std::env::var_os("LIANDONG_CHROMEDRIVER")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                let path = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path)
                    .map(|d| d.join("chromedriver"))
                    .find(|p| p.is_file())
            });
        let Some(driver_path) = driver_path else {
            common::skip(
                what,
                "chromedriver is not installed (apt-get install chromium-driver)",
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver never got ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut b = Browser { driver, base, http };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--window-size=1366,768", "--lang=zh-CN"],
            },
        }}});
        let v = b.call("POST", "/session", caps).await;
        let id = v["sessionId"].as_str().expect("a session").to_string();
        b.base = format!("{}/session/{id}", b.base);
        Some(b)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let rq = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body),
        };
        let res = rq.send().await.expect("chromedriver answers");
        let status = res.status();
        let v: Value = res.json().await.expect("JSON from chromedriver");
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.call("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits (up to 10 s) until the current URL satisfies `pred`; returns it.
    pub async fn wait_url(&self, pred: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let url = self.url().await;
            if pred(&url) {
                return url;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 10 s) until the page holds `text`; returns the page.
    pub async fn wait_text(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let page = self.source().await;
            if page.contains(text) {
                return page;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no {text:?} on {}:\n{page}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching a CSS selector, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> Element {
        self.find_by("css selector", css).await
    }

    /// The first element matching an XPath expression, waiting up to 10 s for it.
    pub async fn xpath(&self, expr: &str) -> Element {
        self.find_by("xpath", expr).await
    }

    async fn find_by(&self, using: &str, value: &str) -> Element {
        let started = Instant::now();
        loop {
            let res = self
                .http
                .post(format!("{}/element", self.base))
                .json(&json!({ "using": using, "value": value }))
                .send()
                .await
                .expect("chromedriver answers");
            if res.status().is_success() {
                let v: Value = res.json().await.unwrap();
                return Element(v["value"][ELEMENT].as_str().unwrap().to_string());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no element {value} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, e: &Element) {
        self.call("POST", &format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    pub async fn type_into(&self, e: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// Sets an input's value directly (a date field takes keystrokes in the browser's locale).
    pub async fn set_value(&self, e: &Element, value: &str) {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": "arguments[0].value = arguments[1];",
                    "args": [{ ELEMENT: e.0 }, value] }),
        )
        .await;
    }

    /// The page as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = self.call("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .expect("a base64 PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; chromedriver goes with the process.
        let url = self.base.clone();
        let http = self.http.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(http.delete(url).send());
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
