//! Validated string inputs: types that can only hold a valid value.
//!
//! Each type states its rule once, in [`TextField::parse`], and the rule is checked while the
//! request JSON is parsed. poem-openapi's own messages for a missing or mistyped field do not name
//! the field, so these types write their own ("username is required"), as the contract asks.
//! [`text_field_openapi!`] supplies the poem-openapi plumbing that every such type shares.

use poem_openapi::registry::MetaSchema;

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

/// The rule shared by free-text names (display names, group names): surrounding whitespace is
/// trimmed, and what remains is 1..=`max_chars` characters with no control characters.
pub fn trimmed_text(raw: &str, max_chars: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters long"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

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
