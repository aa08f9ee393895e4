//! Group chats: the group, its members and their roles, and the request bodies.

use chrono::{DateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use poem_openapi::{registry::MetaSchema, Enum, Object};

use super::{
    fields::{text_field_openapi, trimmed_text, TextField},
    ids::{GroupId, UserId},
    user::User,
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
    /// Absent for groups the system made (`general`).
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

/// 1–64 characters, not only whitespace; surrounding whitespace is trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub const MAX_CHARS: usize = 64;
}

impl TextField for GroupName {
    const FIELD: &'static str = "name";

    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.max_length = Some(Self::MAX_CHARS);
    }

    fn parse(raw: String) -> Result<Self, String> {
        trimmed_text(&raw, Self::MAX_CHARS).map(Self)
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(GroupName);

/// Body of `POST /groups`.
#[derive(Debug, Object)]
pub struct CreateGroupRequest {
    pub name: GroupName,
    /// Initial members besides the creator; each must be one of the creator's contacts.
    #[oai(default)]
    pub member_ids: Vec<UserId>,
    /// Listed in `/groups/public` and open for anyone to join. Default false.
    #[oai(default)]
    pub public: bool,
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
