//! Secret settings may be given as files: for a key listed in [`SECRET_SETTINGS`], `<NAME>_FILE`
//! names a file whose content is the value (Docker and Kubernetes secrets are mounted as files,
//! which keeps them out of `docker inspect`, `/proc/<pid>/environ` and crash reports).
//!
//! To make another setting file-capable, add its `(NAME, NAME_FILE)` pair to the list: every
//! lookup of `NAME` in `Config::from_lookup` then sees the file's content.

use std::collections::HashMap;

use super::{values::invalid, ConfigError};

/// Every secret setting and its `_FILE` twin. Settings of features that are off are harmless
/// here: a key nobody reads is never looked up.
pub const SECRET_SETTINGS: &[(&str, &str)] = &[
    ("JWT_SECRET", "JWT_SECRET_FILE"),
    ("JWT_PREVIOUS_SECRETS", "JWT_PREVIOUS_SECRETS_FILE"),
    ("DATABASE_URL", "DATABASE_URL_FILE"),
    ("REDIS_URL", "REDIS_URL_FILE"),
    ("VAPID_PRIVATE_KEY", "VAPID_PRIVATE_KEY_FILE"),
    ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY_FILE"),
    ("CHATBOT_API_KEY", "CHATBOT_API_KEY_FILE"),
    ("EDENAI_API_KEY", "EDENAI_API_KEY_FILE"),
    ("OPENAI_API_KEY", "OPENAI_API_KEY_FILE"),
];

/// Reads the file of every `<NAME>_FILE` that is set. Giving both `NAME` and `NAME_FILE` is
/// refused (which one wins would be a guess); so is a file that cannot be read. One trailing
/// newline (what `echo` and editors add) is removed.
pub fn from_files(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<HashMap<&'static str, String>, ConfigError> {
    let mut found = HashMap::new();
    for &(name, file_key) in SECRET_SETTINGS {
        let Some(path) = lookup(file_key).filter(|path| !path.trim().is_empty()) else {
            continue;
        };
        if lookup(name).is_some_and(|value| !value.trim().is_empty()) {
            return Err(invalid(
                file_key,
                format!("set {name} or {file_key}, not both"),
            ));
        }
        let content = std::fs::read_to_string(path.trim())
            .map_err(|err| invalid(file_key, format!("reading {path:?}: {err}")))?;
        let value = content
            .strip_suffix('\n')
            .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
            .unwrap_or(&content);
        found.insert(name, value.to_owned());
    }
    Ok(found)
}
