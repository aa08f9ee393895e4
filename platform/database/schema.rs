// @generated automatically by Diesel CLI.

pub mod chat {
    diesel::table! {
        chat.attachment_blob_deletions (blob_key) {
            blob_key -> Text,
            queued_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.attachments (id) {
            id -> Uuid,
            uploader_id -> Uuid,
            conversation_id -> Nullable<Int8>,
            message_id -> Nullable<Int8>,
            position -> Nullable<Int2>,
            kind -> Text,
            mime -> Text,
            size -> Int8,
            name -> Text,
            width -> Nullable<Int4>,
            height -> Nullable<Int4>,
            duration_ms -> Nullable<Int8>,
            blob_key -> Text,
            thumbnail_key -> Nullable<Text>,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.blocks (blocker_id, blocked_id) {
            blocker_id -> Uuid,
            blocked_id -> Uuid,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.contacts (owner_id, contact_id) {
            owner_id -> Uuid,
            contact_id -> Uuid,
            added_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.conversations (id) {
            id -> Int8,
            user_low -> Nullable<Uuid>,
            user_high -> Nullable<Uuid>,
            group_id -> Nullable<Uuid>,
            last_seq -> Int8,
            change_seq -> Int8,
        }
    }

    diesel::table! {
        chat.group_bans (group_id, user_id) {
            group_id -> Uuid,
            user_id -> Uuid,
            created_at -> Timestamptz,
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
        chat.messages (conversation_id, id) {
            id -> Int8,
            conversation_id -> Int8,
            seq -> Int8,
            sender_id -> Uuid,
            content -> Text,
            client_msg_id -> Text,
            created_at -> Timestamptz,
            change_seq -> Int8,
            edited_at -> Nullable<Timestamptz>,
            deleted -> Bool,
            reply_to_id -> Nullable<Int8>,
        }
    }

    diesel::table! {
        chat.mutes (user_id, kind, target_id) {
            user_id -> Uuid,
            kind -> Text,
            target_id -> Uuid,
            until -> Timestamptz,
        }
    }

    diesel::table! {
        chat.push_outbox (conversation_id, message_id) {
            conversation_id -> Int8,
            message_id -> Int8,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.push_pending (user_id, conversation_id) {
            user_id -> Uuid,
            conversation_id -> Int8,
            message_id -> Int8,
            seq -> Int8,
            unread -> Int4,
            pending_since -> Nullable<Timestamptz>,
            due_at -> Timestamptz,
            attempts -> Int4,
            last_sent_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        chat.push_subscriptions (id) {
            id -> Uuid,
            user_id -> Uuid,
            session_id -> Uuid,
            endpoint -> Text,
            p256dh -> Text,
            auth -> Text,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.reactions (conversation_id, message_id, emoji, user_id) {
            conversation_id -> Int8,
            message_id -> Int8,
            emoji -> Text,
            user_id -> Uuid,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        chat.read_markers (conversation_id, user_id) {
            conversation_id -> Int8,
            user_id -> Uuid,
            read_seq -> Int8,
            updated_at -> Timestamptz,
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
            last_used_at -> Timestamptz,
            user_agent -> Nullable<Text>,
            rotated_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        chat.users (id) {
            id -> Uuid,
            username -> Text,
            display_name -> Text,
            password_hash -> Nullable<Text>,
            created_at -> Timestamptz,
            last_seen_at -> Nullable<Timestamptz>,
            deleted_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        chat.vapid_keys (id) {
            id -> Int2,
            private_key -> Text,
            created_at -> Timestamptz,
        }
    }

    diesel::joinable!(attachments -> users (uploader_id));
    diesel::joinable!(conversations -> groups (group_id));
    diesel::joinable!(group_bans -> groups (group_id));
    diesel::joinable!(group_bans -> users (user_id));
    diesel::joinable!(group_members -> groups (group_id));
    diesel::joinable!(group_members -> users (user_id));
    diesel::joinable!(groups -> users (created_by));
    diesel::joinable!(mutes -> users (user_id));
    diesel::joinable!(push_pending -> conversations (conversation_id));
    diesel::joinable!(push_pending -> users (user_id));
    diesel::joinable!(push_subscriptions -> sessions (session_id));
    diesel::joinable!(push_subscriptions -> users (user_id));
    diesel::joinable!(reactions -> users (user_id));
    diesel::joinable!(sessions -> users (user_id));

    diesel::allow_tables_to_appear_in_same_query!(
        attachment_blob_deletions,
        attachments,
        blocks,
        contacts,
        conversations,
        group_bans,
        group_members,
        groups,
        messages,
        mutes,
        push_outbox,
        push_pending,
        push_subscriptions,
        reactions,
        read_markers,
        sessions,
        users,
        vapid_keys,
    );
}
