//! Diesel's view of the tables created by `platform/migrations`. Keep in step with the SQL.

diesel::table! {
    chat.users (id) {
        id -> Uuid,
        username -> Text,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        created_at -> Timestamptz,
        last_seen_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    chat.sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        refresh_generation -> Int8,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions);

diesel::table! {
    chat.contacts (owner_id, contact_id) {
        owner_id -> Uuid,
        contact_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    chat.groups (id) {
        id -> Uuid,
        name -> Text,
        public -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        member_count -> Int4,
    }
}

diesel::table! {
    chat.group_members (group_id, user_id) {
        group_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        joined_at -> Timestamptz,
    }
}

diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, contacts, groups, group_members);
