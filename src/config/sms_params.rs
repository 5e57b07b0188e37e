//! The parameters a provider's approved SMS template can take (`[notify.sms] template_params`):
//! Aliyun receives them as a JSON object by name, Tencent Cloud as a list in the given order.
//! The names live here, below `notify`, because validation checks the configured ones; notify's
//! digest gives each its value (`DigestCtx::param`).

/// Every parameter name a digest offers.
pub const NAMES: [&str; 7] = [
    "unit",
    "count",
    "overdue",
    "due_soon",
    "first_case",
    "first_due",
    "office",
];

/// The names in `params` that a digest does not offer.
pub fn unknown(params: &[String]) -> Vec<String> {
    params
        .iter()
        .filter(|p| !NAMES.contains(&p.as_str()))
        .cloned()
        .collect()
}

/// How the `http` provider's `body` is built: never by pasting values into text, which a value
/// with a `"` or an `&` would break or extend.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyShape {
    /// The body is a JSON document: each string in it that holds a placeholder (`"{{ text }}"`)
    /// is rendered and put back as a JSON string, so the keys are exactly the configured ones.
    Json(serde_json::Value),
    /// `name={{ value }}&…`: each value rendered, then form-encoded.
    Form(Vec<(String, String)>),
}

/// Reads the configured body as JSON or as a form, or says why it is neither.
pub fn body_shape(body: &str) -> Result<BodyShape, String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return Ok(BodyShape::Json(v));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let trimmed = body.trim();
    let pairs: Option<Vec<(String, String)>> = trimmed
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let key_ok = !k.is_empty()
                && !k
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '{' | '}' | '"' | '<' | '>'));
            key_ok.then(|| (decode(k), decode(v)))
        })
        .collect();
    match pairs {
        Some(p) if !trimmed.is_empty() => Ok(BodyShape::Form(p)),
        _ => Err(
            "neither a JSON document (placeholders inside its strings: \"{{ text }}\") nor a form \
             (name={{ value }}&…); liandong builds the body with a serializer and cannot escape \
             values pasted into other text"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_json_or_a_form_or_refused() {
        let json = body_shape(r#"{"mobile": "{{ phone }}", "n": 1}"#).unwrap();
        assert!(matches!(json, BodyShape::Json(v) if v["mobile"] == "{{ phone }}"));
        assert_eq!(
            body_shape("mobile={{ phone }}&content={{ text }}&sign=%E7%A8%BB").unwrap(),
            BodyShape::Form(vec![
                ("mobile".into(), "{{ phone }}".into()),
                ("content".into(), "{{ text }}".into()),
                ("sign".into(), "稻".into()),
            ])
        );
        assert!(body_shape(r#"{"n": {{ params.count }}}"#).is_err());
        assert!(body_shape("<sms>{{ text }}</sms>").is_err());
        assert!(body_shape("").is_err());
    }
}
