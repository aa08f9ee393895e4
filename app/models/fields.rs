//! Validated string inputs: types that can only hold a valid value.
//!
//! Each type states its rule once, in [`TextField::parse`], and the rule is checked while the
//! request JSON is parsed. poem-openapi's own messages for a missing or mistyped field do not name
//! the field, so these types write their own ("username is required"), as the contract asks.
//! [`text_field_openapi!`] supplies the poem-openapi plumbing that every such type shares.

use poem_openapi::registry::MetaSchema;

use super::visible_text::VISIBLE;

/// A string field of a request body with its own validation rule.
pub trait TextField: Sized {
    /// The JSON key, used to name the field in error messages.
    const FIELD: &'static str;
    /// Adds the rule's limits to the OpenAPI schema (`minLength`, `pattern`, …).
    fn describe(schema: &mut MetaSchema);
    /// Checks the rule; the error text follows the field name ("username must …").
    fn parse(raw: String) -> Result<Self, String>;
    /// The validated value.
    fn as_str(&self) -> &str;
}

/// The rule shared by free-text names (display names, group names): at most `max_chars`
/// characters as sent, no control characters, at least one visible character and no bidi
/// controls ([`visible_text`](super::visible_text)); surrounding whitespace is then trimmed. The
/// length counts what was sent, as the schema's `maxLength` does.
pub fn trimmed_text(raw: &str, max_chars: usize) -> Result<String, String> {
    if raw.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters long"));
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty or only whitespace".into());
    }
    super::visible_text::check_visible(trimmed)?;
    Ok(trimmed.to_owned())
}

/// Adds [`trimmed_text`]'s rule to a schema, so that valid per schema means valid here.
pub fn describe_trimmed_text(schema: &mut MetaSchema, max_chars: usize) {
    schema.min_length = Some(1);
    schema.max_length = Some(max_chars);
    schema.pattern = Some(format!("^{NAME_CHAR}*{VISIBLE}{NAME_CHAR}*$"));
}

/// A character a name may hold: neither a control character nor a bidi control (a regex class
/// that ECMA 262 and Python read alike).
const NAME_CHAR: &str = r"[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]";

/// Any character but NUL (message content, client message ids).
pub const NO_NUL: &str = r"[^\u0000]";
/// A character that is neither NUL nor whitespace (content must hold one).
pub const NOT_SPACE_OR_NUL: &str =
    r"[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Implements poem-openapi's `Type` for a type that travels as one JSON string, given the type's
/// name in error messages and its schema. Shared by the text fields, ids and message ids.
macro_rules! string_type {
    ($ty:ty, $name:expr, $schema:expr) => {
        impl poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}

pub(crate) use string_type;

/// Implements poem-openapi's `Type`, `ParseFromJSON` and `ToJSON` for a [`TextField`].
macro_rules! text_field_openapi {
    ($ty:ty) => {
        $crate::app::models::fields::string_type!(
            $ty,
            format!(
                "string({})",
                <$ty as $crate::app::models::fields::TextField>::FIELD
            ),
            {
                let mut schema = poem_openapi::registry::MetaSchema::new("string");
                <$ty as $crate::app::models::fields::TextField>::describe(&mut schema);
                schema
            }
        );

        impl poem_openapi::types::ParseFromJSON for $ty {
            fn parse_from_json(
                value: Option<serde_json::Value>,
            ) -> poem_openapi::types::ParseResult<Self> {
                use $crate::app::models::fields::TextField;
                let field = <$ty as TextField>::FIELD;
                match value {
                    Some(serde_json::Value::String(raw)) => {
                        <$ty as TextField>::parse(raw).map_err(|reason| {
                            poem_openapi::types::ParseError::custom(format!("{field} {reason}"))
                        })
                    }
                    None | Some(serde_json::Value::Null) => Err(
                        poem_openapi::types::ParseError::custom(format!("{field} is required")),
                    ),
                    Some(_) => Err(poem_openapi::types::ParseError::custom(format!(
                        "{field} must be a string"
                    ))),
                }
            }
        }

        impl poem_openapi::types::ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                use $crate::app::models::fields::TextField;
                Some(serde_json::Value::String(self.as_str().to_owned()))
            }
        }
    };
}

pub(crate) use text_field_openapi;

/// Declares a short name-like text field: 1–`max` characters, not only whitespace, no control
/// characters, surrounding whitespace trimmed; `field` names it in errors.
macro_rules! trimmed_text_field {
    ($(#[$doc:meta])* $ty:ident, $field:literal, max $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(String);

        impl $ty {
            pub const MAX_CHARS: usize = $max;
        }

        impl $crate::app::models::fields::TextField for $ty {
            const FIELD: &'static str = $field;

            fn describe(schema: &mut poem_openapi::registry::MetaSchema) {
                $crate::app::models::fields::describe_trimmed_text(schema, Self::MAX_CHARS);
            }

            fn parse(raw: String) -> Result<Self, String> {
                $crate::app::models::fields::trimmed_text(&raw, Self::MAX_CHARS).map(Self)
            }

            fn as_str(&self) -> &str {
                &self.0
            }
        }
        $crate::app::models::fields::text_field_openapi!($ty);
    };
}
pub(crate) use trimmed_text_field;

/// A body field that names itself in error messages.
pub trait Named {
    /// The JSON key.
    const FIELD: &'static str;
}

impl<T: TextField> Named for T {
    const FIELD: &'static str = <T as TextField>::FIELD;
}

/// An optional body field: it may be left out, but when present it must hold a value. `null` is
/// refused, because the schema (which never says `nullable`) does not allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omittable<T>(pub Option<T>);

impl<T> Omittable<T> {
    /// The value, if one was sent.
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T: poem_openapi::types::Type> poem_openapi::types::Type for Omittable<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> std::borrow::Cow<'static, str> {
        format!("optional_{}", T::name()).into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(|value| value.as_raw_value())
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: poem_openapi::types::ParseFromJSON + Named> poem_openapi::types::ParseFromJSON
    for Omittable<T>
{
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            None => Ok(Self(None)),
            Some(serde_json::Value::Null) => Err(poem_openapi::types::ParseError::custom(format!(
                "{} must not be null; leave it out instead",
                T::FIELD
            ))),
            Some(value) => T::parse_from_json(Some(value))
                .map(|value| Self(Some(value)))
                .map_err(poem_openapi::types::ParseError::propagate),
        }
    }
}

impl<T: poem_openapi::types::ToJSON> poem_openapi::types::ToJSON for Omittable<T> {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.as_ref().and_then(|value| value.to_json())
    }
}

/// Declares a query parameter holding an integer in `$min..=$max`, named `$field` in errors; its
/// schema states the range (`minimum`, `maximum`) and the default that applies when it is left out.
macro_rules! int_range_param {
    ($(#[$doc:meta])* $ty:ident, $field:literal, $min:literal ..= $max:literal, default $default:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty(pub i64);

        impl $ty {
            pub const MIN: i64 = $min;
            pub const MAX: i64 = $max;
            pub const DEFAULT: i64 = $default;

            /// The value, checked against the range; errors name the field and the range.
            pub fn parse(value: i64) -> Result<Self, String> {
                if (Self::MIN..=Self::MAX).contains(&value) {
                    Ok(Self(value))
                } else {
                    Err(format!("{} must be between {} and {}", $field, Self::MIN, Self::MAX))
                }
            }

            /// The given value, or the default when left out.
            pub fn or_default(value: Option<Self>) -> i64 {
                value.map_or(Self::DEFAULT, |limit| limit.0)
            }
        }

        impl poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
                    poem_openapi::registry::MetaSchema {
                        minimum: Some($min as f64),
                        maximum: Some($max as f64),
                        default: Some(serde_json::json!($default)),
                        ..poem_openapi::registry::MetaSchema::new_with_format("integer", "int64")
                    },
                ))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl poem_openapi::types::ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
                value
                    .parse::<i64>()
                    .map_err(|_| {
                        format!("{} must be an integer between {} and {}", $field, $min, $max)
                    })
                    .and_then(Self::parse)
                    .map_err(poem_openapi::types::ParseError::custom)
            }
        }
    };
}

pub(crate) use int_range_param;
