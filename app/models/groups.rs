//! Group chats: the group, its members and their roles, and the request bodies.

use chrono::{DateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
    Enum, Object,
};

use super::{
    fields::{trimmed_text_field, Named, Omittable},
    ids::{GroupId, UserId},
    users::User,
};
use crate::platform::database::schema::{group_members, groups};

/// A member's rights in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Role {
    /// May rename the group and add or remove members.
    Admin,
    Member,
}

impl Role {
    /// The value stored in `group_members.role`.
    pub fn as_db(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Reads `group_members.role`; the column's CHECK allows nothing else.
    pub fn from_db(value: &str) -> Self {
        if value == "admin" {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

/// A group as clients see it.
#[derive(Debug, Clone, Object)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    /// Public groups are listed in `/groups/public` and anyone may join them.
    pub public: bool,
    /// Absent (never `null`) for groups the system made (`general`).
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub member_count: i32,
    /// Present on `GET /groups/{group_id}`.
    #[oai(skip_serializing_if_is_none)]
    pub members: Option<Vec<Member>>,
}

/// A member of a group.
#[derive(Debug, Clone, Object)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// A row of `chat.groups`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = groups, check_for_backend(diesel::pg::Pg))]
pub struct GroupRecord {
    pub id: GroupId,
    pub name: String,
    pub public: bool,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub member_count: i32,
}

impl GroupRecord {
    /// The client's view, without the member list.
    pub fn into_group(self) -> Group {
        Group {
            id: self.id,
            name: self.name,
            public: self.public,
            created_by: self.created_by,
            created_at: self.created_at,
            member_count: self.member_count,
            members: None,
        }
    }
}

/// A row of `chat.group_members`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = group_members, check_for_backend(diesel::pg::Pg))]
pub struct MemberRecord {
    pub group_id: GroupId,
    pub user_id: UserId,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

impl MemberRecord {
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }

    /// The client's view, given the member's user.
    pub fn into_member(self, user: User) -> Member {
        Member {
            role: self.role(),
            joined_at: self.joined_at,
            user,
        }
    }
}

trimmed_text_field!(
    /// 1–64 characters, not only whitespace, no control characters; surrounding whitespace is
    /// trimmed.
    GroupName,
    "name",
    max 64
);

/// Body of `POST /groups`.
#[derive(Debug, Object)]
pub struct CreateGroupRequest {
    pub name: GroupName,
    /// Initial members besides the creator; each must be one of the creator's contacts.
    pub member_ids: Omittable<MemberIds>,
    /// Listed in `/groups/public` and open for anyone to join. Default false.
    pub public: Omittable<PublicFlag>,
}

impl CreateGroupRequest {
    /// The initial members as sent (none when left out).
    pub fn member_ids(&self) -> &[UserId] {
        self.member_ids.as_ref().map_or(&[], |ids| &ids.0)
    }

    /// Whether the group is public (false when left out).
    pub fn is_public(&self) -> bool {
        self.public.as_ref().is_some_and(|flag| flag.0)
    }
}

/// `member_ids` of `POST /groups`: an array of user ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIds(pub Vec<UserId>);

impl Named for MemberIds {
    const FIELD: &'static str = "member_ids";
}

impl Type for MemberIds {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = UserId;

    fn name() -> Cow<'static, str> {
        "MemberIds".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(UserId::schema_ref())),
            default: Some(serde_json::json!([])),
            ..MetaSchema::new("array")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a UserId> + 'a> {
        Box::new(self.0.iter())
    }
}

impl ParseFromJSON for MemberIds {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        let refused = || ParseError::custom("member_ids must be an array of user ids (UUIDs)");
        let Some(serde_json::Value::Array(items)) = value else {
            return Err(refused());
        };
        items
            .into_iter()
            .map(|item| UserId::parse_from_json(Some(item)).map_err(|_| refused()))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl ToJSON for MemberIds {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
    }
}

/// `public` of `POST /groups`: true or false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicFlag(pub bool);

impl Named for PublicFlag {
    const FIELD: &'static str = "public";
}

impl Type for PublicFlag {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "PublicFlag".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            default: Some(serde_json::Value::Bool(false)),
            ..MetaSchema::new("boolean")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for PublicFlag {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::Bool(public)) => Ok(Self(public)),
            _ => Err(ParseError::custom("public must be true or false")),
        }
    }
}

impl ToJSON for PublicFlag {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Bool(self.0))
    }
}

/// Body of `PATCH /groups/{group_id}`.
#[derive(Debug, Object)]
pub struct RenameGroupRequest {
    pub name: GroupName,
}

/// Body of `POST /groups/{group_id}/members`.
#[derive(Debug, Object)]
pub struct AddMemberRequest {
    /// Must be one of the admin's contacts.
    pub user_id: UserId,
}
