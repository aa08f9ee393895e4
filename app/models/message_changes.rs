//! The validated inputs of the routes that change or search messages: an edit's body, a
//! reaction's emoji and a search text.

use poem_openapi::{registry::MetaSchema, Object};

use super::{
    fields::{string_type, NOT_SPACE_OR_NUL, NO_NUL},
    messages::MessageContent,
    visible_text::{check_visible, VISIBLE},
};

/// Body of `PATCH /messages/{message_id}`.
#[derive(Debug, Object)]
pub struct EditMessageRequest {
    pub content: MessageContent,
}

/// The characters an emoji may hold: no whitespace, control or bidi control characters (JSON
/// Schema's `\s` differs between regex engines, so they are spelled out).
const EMOJI_CHAR: &str = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000]";

/// A reaction's emoji: 1–32 bytes (the schema can only say characters), no whitespace or control
/// characters, and visible ([`check_visible`]); URL-encoded in the path, compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

impl Emoji {
    pub const MAX_BYTES: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > Self::MAX_BYTES {
            return Err(format!("emoji must be 1–{} bytes long", Self::MAX_BYTES));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("emoji must not contain whitespace or control characters".into());
        }
        check_visible(raw).map_err(|reason| format!("emoji {reason}"))?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_type!(Emoji, "Emoji", {
    let mut schema = MetaSchema::new("string");
    schema.min_length = Some(1);
    schema.max_length = Some(Emoji::MAX_BYTES);
    schema.pattern = Some(format!("^{EMOJI_CHAR}*{VISIBLE}{EMOJI_CHAR}*$"));
    schema.description =
        Some("An emoji (or any short text): 1–32 bytes, no whitespace, at least one visible character, no bidi controls.");
    schema
});

impl poem_openapi::types::ParseFromParameter for Emoji {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Self::parse(value).map_err(poem_openapi::types::ParseError::custom)
    }
}

/// What to search for: 1–256 characters, not only whitespace, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("q must not be empty or only whitespace".into());
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "q must be at most {} characters long",
                Self::MAX_CHARS
            ));
        }
        if raw.contains('\0') {
            return Err("q must not contain NUL characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_type!(SearchText, "SearchText", {
    let mut schema = MetaSchema::new("string");
    schema.min_length = Some(1);
    schema.max_length = Some(SearchText::MAX_CHARS);
    schema.pattern = Some(format!("^{NO_NUL}*{NOT_SPACE_OR_NUL}{NO_NUL}*$"));
    schema
});

impl poem_openapi::types::ParseFromParameter for SearchText {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Self::parse(value).map_err(poem_openapi::types::ParseError::custom)
    }
}
