//! Messages as readers see them: a stored row plus what lives in other rows — the message a reply
//! quotes (as it is now) and the reactions. Every path that shows stored messages (history, sync,
//! catch-up, search, changes) completes them here, with three queries for a whole page.

use std::collections::HashMap;

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::app::{
    models::{
        attachments::Attachment,
        ids::{MessageId, UserId},
        messages::{Conv, Message, MessageRecord, Reaction, ReplyTo},
    },
    queries,
};

/// The messages, each seen from its reader's side (`Conv`), with their replies and reactions.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    rows: Vec<(MessageRecord, Conv)>,
) -> QueryResult<Vec<Message>> {
    let mut conversation_ids: Vec<i64> = rows.iter().map(|(row, _)| row.conversation_id).collect();
    conversation_ids.sort_unstable();
    conversation_ids.dedup();
    let ids: Vec<i64> = rows.iter().map(|(row, _)| row.id).collect();
    let quoted_ids: Vec<i64> = rows.iter().filter_map(|(row, _)| row.reply_to_id).collect();

    let reactions = queries::reactions::of_messages(conn, &conversation_ids, &ids).await?;
    let quoted = queries::message_changes::quoted(conn, &conversation_ids, &quoted_ids).await?;
    let attachments = queries::attachments::of_messages(conn, &conversation_ids, &ids).await?;

    let mut reactions_of = HashMap::<i64, Vec<Reaction>>::new();
    for (message_id, emoji, user_id, _) in reactions {
        add_reaction(reactions_of.entry(message_id).or_default(), emoji, user_id);
    }
    let mut attachments_of = HashMap::<(i64, i64), Vec<Attachment>>::new();
    for record in attachments {
        if let (Some(conversation_id), Some(message_id)) =
            (record.conversation_id, record.message_id)
        {
            attachments_of
                .entry((conversation_id, message_id))
                .or_default()
                .push(record.to_attachment());
        }
    }
    let quoted: HashMap<(i64, i64), MessageRecord> = quoted
        .into_iter()
        .map(|row| ((row.conversation_id, row.id), row))
        .collect();
    Ok(rows
        .into_iter()
        .map(|(row, conv)| {
            let reply_to = row
                .reply_to_id
                .and_then(|id| quoted.get(&(row.conversation_id, id)))
                .map(reply_of);
            let reactions = reactions_of.remove(&row.id).unwrap_or_default();
            let attachments = attachments_of
                .remove(&(row.conversation_id, row.id))
                .unwrap_or_default();
            let mut message = row.into_message(conv);
            message.reply_to = reply_to;
            message.reactions = reactions;
            message.attachments = attachments;
            message
        })
        .collect())
}

/// One message as `reader` sees it, completed.
pub async fn one(
    conn: &mut AsyncPgConnection,
    row: MessageRecord,
    conv: Conv,
) -> QueryResult<Message> {
    let mut completed = complete(conn, vec![(row, conv)]).await?;
    Ok(completed.remove(0))
}

/// Counts a user's reaction under its emoji; emoji keep the order in which they were first used
/// (the rows come oldest first).
fn add_reaction(reactions: &mut Vec<Reaction>, emoji: String, user_id: UserId) {
    match reactions
        .iter_mut()
        .find(|reaction| reaction.emoji == emoji)
    {
        Some(reaction) => {
            reaction.user_ids.push(user_id);
            reaction.count += 1;
        }
        None => reactions.push(Reaction {
            emoji,
            count: 1,
            user_ids: vec![user_id],
        }),
    }
}

/// What a reply shows of the message it quotes.
fn reply_of(quoted: &MessageRecord) -> ReplyTo {
    ReplyTo {
        id: MessageId(quoted.id),
        seq: quoted.seq,
        sender_id: quoted.sender_id,
        preview: quoted
            .content
            .chars()
            .take(ReplyTo::PREVIEW_CHARS)
            .collect(),
    }
}
