//! The conversation list: every conversation a user is in, most recently active first, with its
//! last message, read state and mute.

use crate::{
    app::{
        models::{ids::UserId, messages::Conversation, mutes::MuteTarget},
        queries,
        services::message_views,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// `me`'s conversations, most recently active first.
pub async fn list(state: &AppState, me: UserId) -> Result<Vec<Conversation>, AppError> {
    let mut conn = state.db.get().await?;
    let summaries = queries::messages::summaries(&mut conn, me).await?;
    let mutes = queries::mutes::active_of(&mut conn, &[me]).await?;
    let last_messages = summaries
        .iter()
        .filter_map(|summary| {
            let record = summary.last_message.clone()?;
            Some((record, summary.conversation.seen_by(me)))
        })
        .collect();
    let mut last_messages = message_views::complete(&mut conn, last_messages)
        .await?
        .into_iter();
    Ok(summaries
        .into_iter()
        .map(|summary| {
            let conv = summary.conversation.seen_by(me);
            let last_seq = summary.conversation.last_seq;
            let read_seq = summary.read_seq.min(last_seq);
            Conversation {
                // In the same order as the summaries that have one.
                last_message: summary.last_message.and_then(|_| last_messages.next()),
                last_seq,
                read_seq,
                unread: last_seq - read_seq,
                peer_read_seq: summary.peer_read_seq.map(|seq| seq.min(last_seq)),
                change_seq: summary.conversation.change_seq,
                muted_until: mutes.get(&(me, MuteTarget::of(&conv))).copied(),
                conversation: conv,
            }
        })
        .collect())
}
