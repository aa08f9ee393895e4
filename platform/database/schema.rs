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
