//! Joins that `diesel print-schema` cannot see, because Postgres no longer checks them with a
//! foreign key: a message's and a read marker's conversation. Checking the key cost a lookup and
//! a lock for every row the message writer stored, and could only ever pass (migration 15 says
//! why); the relation is still what the queries join on, so it is declared here, beside the
//! generated schema, once.

use super::schema::{conversations, messages, read_markers};

diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(read_markers -> conversations (conversation_id));
