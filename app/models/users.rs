//! Users: the public `User` shape, the stored row, and the validated username and display name.

use chrono::{DateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use poem_openapi::{registry::MetaSchema, Object};

use super::{
    fields::{int_range_param, string_type, text_field_openapi, trimmed_text_field, TextField},
    ids::UserId,
};
use crate::platform::database::schema::users;

/// A user as every client sees them.
#[derive(Debug, Clone, Object)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// Present (and true) only for a deleted account, which is shown as `deleted` /
    /// `Deleted account`.
    #[oai(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// How a deleted account is named wherever it still appears (as the sender of its messages).
pub const DELETED_USERNAME: &str = "deleted";
/// See [`DELETED_USERNAME`].
pub const DELETED_DISPLAY_NAME: &str = "Deleted account";
/// How long a deleted account's username stays taken, so nobody can pose as its owner at once.
pub const USERNAME_RESERVED_DAYS: i32 = 30;

/// A row of `chat.users`, including the secret parts that never leave the server.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Set when the account was deleted; the row stays as a tombstone.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<UserRecord> for User {
    fn from(record: UserRecord) -> Self {
        if record.deleted_at.is_some() {
            return Self {
                id: record.id,
                username: DELETED_USERNAME.into(),
                display_name: DELETED_DISPLAY_NAME.into(),
                created_at: record.created_at,
                deleted: true,
            };
        }
        Self {
            id: record.id,
            username: record.username,
            display_name: record.display_name,
            created_at: record.created_at,
            deleted: false,
        }
    }
}

/// A user about to be stored.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
}

/// 3–32 characters of `a-z 0-9 _ .`. Letters may be typed in either case: the case is kept for
/// display, and uniqueness and login ignore it (`Alice` and `alice` are the same user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 32;

    /// The form used to compare usernames.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// True for the characters a username may contain (either case; see [`Username`]).
pub fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl TextField for Username {
    const FIELD: &'static str = "username";

    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(Self::MIN_CHARS);
        schema.max_length = Some(Self::MAX_CHARS);
        schema.pattern = Some("^[A-Za-z0-9_.]{3,32}$".into());
    }

    fn parse(raw: String) -> Result<Self, String> {
        let length = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&length) {
            return Err(format!(
                "must be {}–{} characters long",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            ));
        }
        if !raw.chars().all(is_username_char) {
            return Err("may contain only letters a-z, digits 0-9, '_' and '.'".into());
        }
        Ok(Self(raw))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(Username);

/// A username prefix to search by (`GET /users?q=`): up to 32 username characters, maybe none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsernamePrefix(String);

impl UsernamePrefix {
    /// The form used to compare usernames.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

string_type!(UsernamePrefix, "UsernamePrefix", {
    let mut schema = MetaSchema::new("string");
    schema.max_length = Some(Username::MAX_CHARS);
    schema.pattern = Some("^[A-Za-z0-9_.]*$".into());
    schema
});

impl poem_openapi::types::ParseFromParameter for UsernamePrefix {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        if value.chars().count() > Username::MAX_CHARS || !value.chars().all(is_username_char) {
            return Err(poem_openapi::types::ParseError::custom(format!(
                "q must be at most {} characters: letters a-z, digits 0-9, '_' and '.'",
                Username::MAX_CHARS
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

int_range_param!(
    /// How many users one search returns.
    SearchLimit,
    "limit",
    1..=100,
    default 20
);

trimmed_text_field!(
    /// 1–64 characters, not only whitespace, no control characters; surrounding whitespace is
    /// trimmed.
    DisplayName,
    "display_name",
    max 64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_contract() {
        for good in ["abc", "alice_1", "a.b", "Alice", &"x".repeat(32)] {
            assert!(Username::parse(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["ab", "al ice", "alice!", "élan", &"x".repeat(33), ""] {
            assert!(Username::parse(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_compare_without_case() {
        let upper = Username::parse("Alice".into()).unwrap();
        assert_eq!(upper.folded(), "alice");
        assert_eq!(upper.as_str(), "Alice");
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Al  ".into()).unwrap().as_str(), "Al");
        assert!(DisplayName::parse("   ".into()).is_err());
        assert!(DisplayName::parse("x".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{7}b".into()).is_err());
    }
}
