//! The built-in chatbot. It answers every private message sent to it, and every group message
//! that starts with `@chatbot`, with an ordinary stored message, delivered like any other.
//!
//! Answers are written in the background: the asker's `ack` never waits for the provider. Each
//! answer's `client_msg_id` is `reply:<question id>`, so a question is answered at most once.
//! When the provider is missing, busy, slow or wrong, the asker alone gets an `error` frame with
//! code `chatbot_unavailable` and nothing is stored.

pub mod handle;

use crate::{
    app::{
        models::{
            chatbot::{CHATBOT_ID, MENTION},
            frames::Target,
            ids::{GroupId, UserId},
            messages::{ClientMsgId, ConversationRecord, MessageContent, MessageRecord},
            outgoing::Outgoing,
        },
        queries,
        services::{
            fanout::{self, Event},
            message_writer::{Draft, Written},
            permissions::Authority,
        },
        state::AppState,
    },
    pkg::utils::{errors::AppError, metrics as names},
    platform::chatbot::{Speaker, Turn},
};

/// Where the bot's answer goes.
#[derive(Debug, Clone, Copy)]
enum Destination {
    Private { asker: UserId },
    Group { group_id: GroupId, asker: UserId },
}

impl Destination {
    fn asker(self) -> UserId {
        match self {
            Self::Private { asker } | Self::Group { asker, .. } => asker,
        }
    }

    fn target(self) -> Target {
        match self {
            Self::Private { asker } => Target::User(asker),
            Self::Group { group_id, .. } => Target::Group(group_id),
        }
    }
}

/// Called for every newly stored message: starts an answer when the message is for the bot.
pub fn consider(state: &AppState, record: &MessageRecord, conversation: &ConversationRecord) {
    let Some(destination) = destination(record, conversation) else {
        return;
    };
    let (state, record, conversation) = (state.clone(), record.clone(), conversation.clone());
    let shutdown = state.shutdown.clone();
    let tasks = state.chatbot.tasks.clone();
    tasks.spawn(async move {
        tokio::select! {
            _ = answer(&state, destination, &record, &conversation) => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

fn destination(record: &MessageRecord, conversation: &ConversationRecord) -> Option<Destination> {
    let asker = record.sender_id;
    // The bot reads text only: a message of attachments alone asks it nothing.
    if asker == CHATBOT_ID || record.content.is_empty() {
        return None;
    }
    match (
        conversation.group_id,
        conversation.user_low,
        conversation.user_high,
    ) {
        (Some(group_id), _, _) if record.content.trim_start().starts_with(MENTION) => {
            Some(Destination::Group { group_id, asker })
        }
        (None, Some(low), Some(high)) if low == CHATBOT_ID || high == CHATBOT_ID => {
            Some(Destination::Private { asker })
        }
        _ => None,
    }
}

/// Why the asker gets an `error` frame instead of an answer.
struct Refusal {
    code: &'static str,
    message: &'static str,
}

impl Refusal {
    const fn unavailable(message: &'static str) -> Self {
        Self {
            code: "chatbot_unavailable",
            message,
        }
    }

    /// A refusal for an infrastructure failure, which is logged with `what` failed.
    fn logged<E: std::fmt::Display>(
        what: &'static str,
        message: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |err| {
            tracing::warn!(error = %err, "{what} failed");
            Self::unavailable(message)
        }
    }
}

/// Answers a question, or tells the asker why not.
async fn answer(
    state: &AppState,
    destination: Destination,
    question: &MessageRecord,
    conversation: &ConversationRecord,
) {
    if let Err(refusal) = try_answer(state, destination, question, conversation).await {
        let event = Event::ChatbotRefusal {
            asker: destination.asker(),
            code: refusal.code,
            message: refusal.message,
        };
        // The asker alone: reading them needs no database, so this cannot fail.
        let _ = fanout::publish(state, event).await;
    }
}

async fn try_answer(
    state: &AppState,
    destination: Destination,
    question: &MessageRecord,
    conversation: &ConversationRecord,
) -> Result<(), Refusal> {
    let asker = destination.asker();
    let bot = &state.chatbot;
    let provider = bot.provider.clone().ok_or(Refusal::unavailable(
        "the chatbot is not configured on this server",
    ))?;
    let asked = queries::chatbot::count_question(&state.cache, asker, question.id)
        .await
        .map_err(Refusal::logged(
            "counting a chatbot question",
            "the chatbot could not answer right now",
        ))?;
    if asked > bot.questions_per_minute {
        return Err(Refusal {
            code: "rate_limited",
            message: "too many questions for the chatbot; wait a minute",
        });
    }
    let _permit = bot
        .permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refusal::unavailable("the chatbot is busy; try again shortly"))?;
    let turns = context(state, conversation, question)
        .await
        .map_err(Refusal::logged(
            "reading the chatbot's context",
            "the chatbot could not read the conversation",
        ))?;
    metrics::counter!(names::CHATBOT_CALLS).increment(1);
    let reply = provider.reply(&turns).await.map_err(|err| {
        metrics::counter!(names::CHATBOT_FAILURES).increment(1);
        Refusal::logged(
            "the chatbot provider",
            "the chatbot could not answer right now",
        )(err)
    })?;

    let answer = Outgoing::from_server(
        destination.target(),
        fit(&reply),
        ClientMsgId::server_chosen(format!("reply:{}", question.id)),
    );
    let draft = Draft::new(CHATBOT_ID, answer, Authority::Trusted);
    let written = state.writer.write(draft).await.map_err(Refusal::logged(
        "storing the chatbot's answer",
        "the chatbot's answer could not be stored",
    ))?;
    if let Written::Stored {
        record,
        conversation,
        members,
    } = written
    {
        // A new message without a reply: nothing more to look up.
        let message = record.into_message(conversation.seen_by(CHATBOT_ID));
        let event = Event::NewMessage {
            message: &message,
            conversation: &conversation,
            members: &members,
        };
        // Its readers came with it from the writer: no database is asked, so this cannot fail.
        let _ = fanout::publish(state, event).await;
    }
    Ok(())
}

/// The conversation's recent messages, oldest first, ending with the question.
async fn context(
    state: &AppState,
    conversation: &ConversationRecord,
    question: &MessageRecord,
) -> Result<Vec<Turn>, AppError> {
    let mut conn = state.db.get().await?;
    let (records, _) = queries::messages::page(
        &mut conn,
        conversation.id,
        Some(question.seq + 1),
        None,
        state.chatbot.context_messages,
    )
    .await?;
    Ok(records
        .into_iter()
        // A message deleted for everyone is gone from the conversation, for the bot too.
        .filter(|record| !record.deleted)
        .map(|record| Turn {
            speaker: if record.sender_id == CHATBOT_ID {
                Speaker::Assistant
            } else {
                Speaker::User
            },
            text: record
                .content
                .trim_start()
                .strip_prefix(MENTION)
                .unwrap_or(&record.content)
                .trim()
                .to_owned(),
        })
        .collect())
}

/// Cuts a reply to the longest content a message may have.
fn fit(reply: &str) -> String {
    reply.chars().take(MessageContent::MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sender: UserId, content: &str) -> MessageRecord {
        MessageRecord::sample(sender, content)
    }

    fn group() -> ConversationRecord {
        ConversationRecord {
            id: 1,
            user_low: None,
            user_high: None,
            group_id: Some(GroupId::new_random()),
            last_seq: 1,
            change_seq: 0,
        }
    }

    #[test]
    fn only_mentions_are_answered_in_groups() {
        let user = UserId::new_random();
        assert!(destination(&record(user, "@chatbot hi"), &group()).is_some());
        assert!(destination(&record(user, "  @chatbot hi"), &group()).is_some());
        assert!(destination(&record(user, "hi @chatbot"), &group()).is_none());
        assert!(destination(&record(CHATBOT_ID, "@chatbot loop"), &group()).is_none());
    }

    #[test]
    fn replies_are_cut_to_the_content_limit() {
        assert_eq!(
            fit(&"é".repeat(5000)).chars().count(),
            MessageContent::MAX_CHARS
        );
    }
}
