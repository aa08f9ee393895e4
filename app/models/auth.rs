//! Request and response types of the auth routes.

use poem_openapi::{registry::MetaSchema, Object};

use super::{
    fields::{text_field_openapi, Omittable, TextField},
    ids::{SessionId, UserId},
    users::{DisplayName, User, Username},
};

/// Who is asking: the user and the login session their token or ticket belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// A password: at least 8 characters and at most 72 bytes in UTF-8. Never printed, never sent back.
///
/// 72 bytes is all bcrypt reads: a longer password would be cut silently, and two passwords that
/// share their first 72 bytes would both open the account. The schema states the limit in
/// characters (`maxLength` 72, which is exact for ASCII) and in words for the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 72;
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl TextField for Password {
    const FIELD: &'static str = "password";

    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(Self::MIN_CHARS);
        schema.max_length = Some(Self::MAX_BYTES);
        schema.format = Some("password");
        schema.description =
            Some("At least 8 characters and at most 72 bytes in UTF-8 (bcrypt reads no further).");
    }

    fn parse(raw: String) -> Result<Self, String> {
        if raw.chars().count() < Self::MIN_CHARS || raw.len() > Self::MAX_BYTES {
            return Err(format!(
                "must be at least {} characters and at most {} bytes long",
                Self::MIN_CHARS,
                Self::MAX_BYTES
            ));
        }
        Ok(Self(raw))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(Password);

/// Declares a password under another JSON key, with [`Password`]'s rule, so that errors name the
/// field the client sent.
macro_rules! password_field {
    ($(#[$doc:meta])* $ty:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $ty(Password);

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), "(***)"))
            }
        }

        impl TextField for $ty {
            const FIELD: &'static str = $field;

            fn describe(schema: &mut MetaSchema) {
                Password::describe(schema);
            }

            fn parse(raw: String) -> Result<Self, String> {
                Password::parse(raw).map(Self)
            }

            fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }
        text_field_openapi!($ty);
    };
}

password_field!(
    /// The password the account has now (`POST /auth/password`).
    CurrentPassword,
    "current_password"
);
password_field!(
    /// The password the account is to have (`POST /auth/password`).
    NewPassword,
    "new_password"
);

/// A refresh token as sent by the client; its signature is checked later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Far above any token we issue; keeps junk from being parsed at length.
    pub const MAX_CHARS: usize = 2048;
}

impl TextField for RefreshToken {
    const FIELD: &'static str = "refresh_token";

    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.max_length = Some(Self::MAX_CHARS);
    }

    fn parse(raw: String) -> Result<Self, String> {
        if raw.is_empty() || raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be 1–{} characters long", Self::MAX_CHARS));
        }
        Ok(Self(raw))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(RefreshToken);

/// Body of `POST /auth/register`.
#[derive(Debug, Object)]
pub struct RegisterRequest {
    pub username: Username,
    #[oai(write_only)]
    pub password: Password,
    /// Shown to other users; defaults to the username.
    pub display_name: Omittable<DisplayName>,
}

/// Body of `POST /auth/login`.
#[derive(Debug, Object)]
pub struct LoginRequest {
    pub username: Username,
    #[oai(write_only)]
    pub password: Password,
}

/// Body of `POST /auth/password`.
#[derive(Debug, Object)]
pub struct ChangePasswordRequest {
    #[oai(write_only)]
    pub current_password: CurrentPassword,
    #[oai(write_only)]
    pub new_password: NewPassword,
}

/// Body of `DELETE /users/me`: the password, so that a borrowed device cannot delete the account.
#[derive(Debug, Object)]
pub struct DeleteAccountRequest {
    #[oai(write_only)]
    pub password: Password,
}

/// Body of `POST /auth/refresh`.
#[derive(Debug, Object)]
pub struct RefreshRequest {
    pub refresh_token: RefreshToken,
}

/// What login and refresh return.
#[derive(Debug, Object)]
pub struct TokenPair {
    /// Short-lived; send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Single use: each refresh returns a new one, and reusing an old one ends the session.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    pub user: User,
}

/// A single-use ticket for opening a WebSocket: `GET /ws?ticket=<ticket>`.
#[derive(Debug, Object)]
pub struct WsTicket {
    pub ticket: String,
    /// Seconds until the ticket expires.
    pub expires_in: u64,
}
