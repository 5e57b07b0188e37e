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
