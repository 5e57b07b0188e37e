//! What people read, drawn by a real browser: headless Chromium renders the weekly report's HTML
//! file (`report weekly --format html --output`) and a reminder digest's HTML part (from the
//! .eml the file transport writes) to PNG, and the screenshots are checked: the page has text,
//! and the report's chart is there, at the width it is meant to be shown at, in its colours.
//! Without Chromium the tests say that they skipped, and fail when LIANDONG_REQUIRE_DBS=1 (CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::notify::finding;
use crate::report::decode_png;

/// The browser: `LIANDONG_CHROMIUM`, else the first of chromium, chromium-browser and
/// google-chrome on the PATH.
pub(crate) fn chromium(what: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LIANDONG_CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file());
    if found.is_none() {
        common::skip(
            what,
            "Chromium is not installed (apt-get install chromium, or set LIANDONG_CHROMIUM)",
        );
    }
    found
}

/// A screenshot as decoded RGB.
struct Shot {
    png: Vec<u8>,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Shot {
    /// With LIANDONG_KEEP_SHOTS=DIR, the screenshot is kept as DIR/`name`.png to look at.
    fn keep(&self, name: &str) {
        if let Some(dir) = std::env::var_os("LIANDONG_KEEP_SHOTS") {
            std::fs::write(Path::new(&dir).join(format!("{name}.png")), &self.png).unwrap();
        }
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn pixels(&self) -> impl Iterator<Item = (u32, u32, [u8; 3])> + '_ {
        (0..self.height).flat_map(move |y| (0..self.width).map(move |x| (x, y, self.at(x, y))))
    }

    /// The share of pixels that are not white.
    fn ink(&self) -> f64 {
        let n = self
            .pixels()
            .filter(|(_, _, p)| p.iter().any(|c| *c < 240))
            .count();
        n as f64 / f64::from(self.width * self.height)
    }

    /// Rows between `from` and `to` with dark text, grouped into lines: how many lines.
    fn text_lines(&self, from: u32, to: u32) -> usize {
        let mut lines = 0;
        let mut previous = false;
        for y in from..to.min(self.height) {
            let dark = (0..self.width).any(|x| self.at(x, y).iter().all(|c| *c < 110));
            if dark && !previous {
                lines += 1;
            }
            previous = dark;
        }
        lines
    }
}

/// The page at `html` as Chromium draws it in a 1366 × 2000 window, with a profile of its own.
fn screenshot(browser: &Path, html: &Path) -> Shot {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shot.png");
    let log = dir.path().join("chromium.log");
    let mut child = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1366,2000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("file://{}", html.canonicalize().unwrap().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium took over 2 minutes: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let bytes = std::fs::read(&out).unwrap_or_else(|e| {
        panic!(
            "Chromium ({status}) wrote no screenshot ({e}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let (width, height, rgb) = decode_png(&bytes);
    Shot {
        png: bytes,
        width,
        height,
        rgb,
    }
}

/// Close to a colour, whatever the browser's resampling does at the edges.
fn near(p: [u8; 3], c: [u8; 3]) -> bool {
    p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 10)
}

/// The chart's bars (liandong::report::chart): blue for open, red for overdue.
const BLUE: [u8; 3] = [70, 114, 196];
const RED: [u8; 3] = [196, 40, 40];

#[tokio::test(flavor = "multi_thread")]
async fn chromium_shows_the_html_reports_chart_and_table() {
    let what = "the browser test of the HTML report";
    let Some(browser) = chromium(what) else {
        return;
    };
    let env = crate::report::env("");
    crate::report::w42(&env).await;
    let (html, o) = crate::report::w42_file(&env, "html");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if crate::report::no_font(&o) {
        return;
    }
    let shot = tokio::task::spawn_blocking(move || screenshot(&browser, &html))
        .await
        .unwrap();
    shot.keep("report");
    assert!(shot.ink() > 0.01, "the page is blank");

    // The chart: its blue bars (no other blue on the page), and within their rows its red ones
    // (red text elsewhere blends into near the same red at its edges).
    let blue: Vec<(u32, u32)> = shot
        .pixels()
        .filter(|(_, _, p)| near(*p, BLUE))
        .map(|(x, y, _)| (x, y))
        .collect();
    assert!(
        blue.len() > 2000,
        "the chart's bars are not drawn ({} blue pixels): the image did not load",
        blue.len()
    );
    let left = blue.iter().map(|b| b.0).min().unwrap();
    let right = blue.iter().map(|b| b.0).max().unwrap();
    let top = blue.iter().map(|b| b.1).min().unwrap();
    let bottom = blue.iter().map(|b| b.1).max().unwrap();
    let red = (top..=bottom)
        .flat_map(|y| (left..=right).map(move |x| (x, y)))
        .filter(|&(x, y)| near(shot.at(x, y), RED))
        .count();
    assert!(
        red > 1000,
        "the chart's red bars are not drawn ({red} pixels)"
    );
    // Shown at the <img> width (720 px, the bars end before it), not the PNG's 1440.
    assert!(
        right < 8 + 720,
        "the bars span x = {left}..{right}: the chart is not shown at 720 px"
    );
    // The chart region is not blank: much ink, several colours (white, the bars, the names and
    // numbers, the grid).
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0;
    for y in top..=bottom {
        for x in 0..(8 + 720).min(shot.width) {
            let p = shot.at(x, y);
            colours.insert(p.map(|c| c / 32));
            if p.iter().any(|c| *c < 240) {
                ink += 1;
            }
        }
    }
    let share = f64::from(ink) / f64::from((bottom - top + 1) * (8 + 720));
    assert!(
        share > 0.15,
        "the chart region is {:.1} % ink",
        share * 100.0
    );
    assert!(
        colours.len() >= 4,
        "the chart region has {} colours",
        colours.len()
    );
    // Text among the bars (the legend, the numbers), and the table, its legend and the footer
    // below the chart.
    assert!(shot.text_lines(top, bottom) >= 2, "no text among the bars");
    let below = shot.text_lines(bottom + 40, shot.height);
    assert!(below >= 6, "{below} lines of text below the chart");
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_shows_a_digests_html() {
    let what = "the browser test of a digest";
    let Some(browser) = chromium(what) else {
        return;
    };
    let store = common::temp_sqlite();
    let mail = store.dir.path().join("mail");
    let config = common::write(
        store.dir.path(),
        "liandong.toml",
        format!(
            r#"[store]
url = "{}"

[[units]]
id = "scjg"
name = "稻城县市场监督管理局"
contacts = [{{ name = "张三", role = "contact", email = "scjg@example.gov.cn" }}]

[[units]]
id = "fjld"
name = "稻城县府检联动办公室"
kind = "liaison"

[notify.email]
transport = "file"
dir = "{}"

[notify.stages.meeting]
enabled = false

[notify.stages.training]
enabled = false
"#,
            store.url,
            mail.display()
        ),
    );
    common::open(&store.url)
        .await
        .apply_findings(
            &[
                finding("R1", "scjg", "稻市监罚〔2025〕1号", "2025-10-01", "overdue"),
                finding("R7", "scjg", "稻检建〔2025〕7号", "2025-10-15", "due_soon"),
            ],
            common::now(),
        )
        .await
        .unwrap();
    let o = common::bin()
        .arg("--config")
        .arg(&config)
        .args(["notify", "--as-of", "2025-10-13T10:00:00+08:00"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The digest to 市场监管's contact, its HTML part as a file.
    let mut html = None;
    for entry in std::fs::read_dir(&mail).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let m = mailparse::parse_mail(&bytes).unwrap();
        let to = m
            .headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case("To"))
            .map(|h| h.get_value())
            .unwrap_or_default();
        if !to.contains("scjg@example.gov.cn") {
            continue;
        }
        fn find_html(p: &mailparse::ParsedMail<'_>) -> Option<String> {
            if p.ctype.mimetype == "text/html" {
                return p.get_body().ok();
            }
            p.subparts.iter().find_map(find_html)
        }
        html = find_html(&m);
    }
    let html = html.expect("a digest with an HTML part to scjg@example.gov.cn");
    assert!(html.contains("稻市监罚〔2025〕1号"), "{html}");
    let file = common::write(store.dir.path(), "digest.html", &html);
    let shot = tokio::task::spawn_blocking(move || screenshot(&browser, &file))
        .await
        .unwrap();
    shot.keep("digest");
    assert!(shot.ink() > 0.005, "the digest is blank");
    // The greeting, the table's header and two items, the totals, the footer.
    let lines = shot.text_lines(0, shot.height);
    assert!(lines >= 6, "the digest shows {lines} lines of text");
}
