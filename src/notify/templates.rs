//! The Chinese texts people read, from minijinja templates. The shipped ones (under
//! `templates/notify/` in the repository) are built into the binary; a deployment overrides any
//! of them by putting a file of the same name in `[notify] templates_dir`.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// The shipped templates, by name.
pub const SHIPPED: [(&str, &str); 12] = [
    (
        "digest_subject.txt",
        include_str!("../../templates/notify/digest_subject.txt"),
    ),
    (
        "digest.txt",
        include_str!("../../templates/notify/digest.txt"),
    ),
    (
        "digest.html",
        include_str!("../../templates/notify/digest.html"),
    ),
    (
        "digest_sms.txt",
        include_str!("../../templates/notify/digest_sms.txt"),
    ),
    (
        "digest_robot.md",
        include_str!("../../templates/notify/digest_robot.md"),
    ),
    (
        "alert_subject.txt",
        include_str!("../../templates/notify/alert_subject.txt"),
    ),
    (
        "alert.txt",
        include_str!("../../templates/notify/alert.txt"),
    ),
    (
        "alert_ops_subject.txt",
        include_str!("../../templates/notify/alert_ops_subject.txt"),
    ),
    (
        "alert_ops.txt",
        include_str!("../../templates/notify/alert_ops.txt"),
    ),
    ("test.txt", include_str!("../../templates/notify/test.txt")),
    (
        "report_weekly_subject.txt",
        include_str!("../../templates/report/weekly_subject.txt"),
    ),
    (
        "report_weekly.html",
        include_str!("../../templates/report/weekly.html"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {name} ({origin}): {source}")]
    Syntax {
        name: String,
        origin: String,
        source: minijinja::Error,
    },
    #[error("rendering {name}: {source}")]
    Render {
        name: String,
        source: minijinja::Error,
    },
}

pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    /// The shipped templates, each replaced by the file of its name in `dir` where one exists.
    /// Every template is parsed now, so a broken override is reported at start-up.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, shipped) in SHIPPED {
            let (source, origin) = match dir.map(|d| d.join(name)) {
                Some(path) if path.exists() => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    (text, path.display().to_string())
                }
                _ => (shipped.to_string(), "shipped".to_string()),
            };
            env.add_template_owned(name, source)
                .map_err(|source| TemplateError::Syntax {
                    name: name.to_string(),
                    origin,
                    source,
                })?;
        }
        Ok(Templates { env })
    }

    /// Renders a template; the result has no trailing whitespace and its ID and phone numbers
    /// masked.
    pub fn render(&self, name: &str, ctx: &impl Serialize) -> Result<String, TemplateError> {
        let text = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|source| TemplateError::Render {
                name: name.to_string(),
                source,
            })?;
        Ok(crate::mask::mask_text(text.trim_end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_the_shipped_template_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test.txt"), "测试 {{ channel }}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render(
                "test.txt",
                &serde_json::json!({"channel": "email", "at": "x"}),
            )
            .unwrap();
        assert_eq!(out, "测试 email");

        std::fs::write(dir.path().join("alert.txt"), "{% if %}").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("alert.txt"), "{err}");
    }

    #[test]
    fn rendered_text_masks_phone_and_id_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test.txt"), "{{ at }}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render(
                "test.txt",
                &serde_json::json!({"at": "13812345678 / 513337199001011234"}),
            )
            .unwrap();
        assert!(
            !out.contains("13812345678") && !out.contains("199001011234"),
            "{out}"
        );
    }
}
