//! The check pass of a batch: which drafts are retries, and which the rules allow, from at most
//! five statements sent at once (one more reads the originals of retries, when there are any).
//! It runs inside the batch's transaction, and its first statements hold the senders' accounts
//! and, when a rule needs it, lock the conversations written to: the rules are read as they stand
//! when the messages are stored (a removal from a group waits for the group's conversation lock
//! held here; a delete of a quoted message either committed before or waits for the
//! conversation's lock; an account deleted meanwhile is seen, or waits).

use std::collections::{BTreeSet, HashMap, HashSet};

use diesel::{result::Error as DieselError, QueryResult};
use diesel_async::AsyncPgConnection;
use futures_util::{future::BoxFuture, try_join};

use super::{Draft, Written};
use crate::{
    app::{
        models::{
            frames::Target,
            ids::{GroupId, UserId},
            messages::{ConversationRecord, MessageRecord},
        },
        queries::{
            self,
            batch_facts::{Fact, Wanted},
            messages::ConversationKey,
        },
        services::permissions::{self, Authority, SendFacts},
    },
    pkg::utils::errors::AppError,
};

/// What the check pass says of one draft.
pub(super) enum Check {
    /// A retry: the sender stored this `client_msg_id` before.
    Original(Written),
    /// The rules refuse it.
    Refused(AppError),
    /// It may be stored in this conversation; `members` are its group's members as read here
    /// (empty for a private message), for `fanout::audience` to push it to.
    Allowed {
        key: ConversationKey,
        members: Vec<UserId>,
    },
}

/// Finds the retries among the drafts and applies the messaging rules to the others. `begin`
/// opens the batch's transaction (`database::transaction::begin`); it leads the check pass's
/// statements in their round trip.
pub(super) async fn check(
    conn: &mut AsyncPgConnection,
    begin: BoxFuture<'static, QueryResult<usize>>,
    drafts: &[Draft],
) -> Result<Vec<Check>, DieselError> {
    let Facts {
        originals,
        mut facts,
        deleted_quotes,
    } = read_facts(conn, begin, drafts).await?;
    read_original_groups(conn, &originals, &mut facts).await?;
    Ok(drafts
        .iter()
        .map(|draft| {
            if let Some((record, conversation)) =
                originals.get(&(draft.sender, draft.client_msg_id().to_owned()))
            {
                return retry(&facts, draft, record, conversation);
            }
            if !facts.existing.contains(&draft.sender) {
                return Check::Refused(permissions::account_deleted());
            }
            match permissions::may_send(&facts, draft.sender, draft.target(), draft.authority) {
                // A deleted message is final: it takes no replies.
                Ok(_)
                    if draft
                        .reply_to()
                        .is_some_and(|id| deleted_quotes.contains(&id)) =>
                {
                    Check::Refused(AppError::BadRequest(
                        "reply_to: that message was deleted".into(),
                    ))
                }
                Ok(key) => Check::Allowed {
                    key,
                    members: members(&facts, draft.target()),
                },
                Err(refusal) => Check::Refused(refusal),
            }
        })
        .collect())
}

/// A retry gets its original (as it is now), even when the rules would now refuse a new message,
/// but only while the sender can still read the original's conversation: otherwise it is answered
/// as a new send would be (a group the sender left: 404), so nothing written after the sender
/// lost access leaks through an old `client_msg_id`.
fn retry(
    facts: &SendFacts,
    draft: &Draft,
    record: &MessageRecord,
    conversation: &ConversationRecord,
) -> Check {
    if permissions::can_read_with(&facts.members, draft.sender, conversation) {
        return Check::Original(Written::Original {
            record: record.clone(),
            conversation: conversation.clone(),
        });
    }
    match permissions::may_send(facts, draft.sender, draft.target(), draft.authority) {
        Err(refusal) => Check::Refused(refusal),
        // Sendable here, but the id belongs to a message elsewhere that the sender cannot read.
        Ok(_) => Check::Refused(AppError::Conflict(
            "client_msg_id: already used for another message; choose a new one".into(),
        )),
    }
}

/// Reads the members of the groups that retries' originals were sent to, when the drafts did not
/// name them (a retry is answered only while its conversation can still be read).
async fn read_original_groups(
    conn: &mut AsyncPgConnection,
    originals: &Originals,
    facts: &mut SendFacts,
) -> Result<(), DieselError> {
    let mut missing: Vec<GroupId> = originals
        .values()
        .filter_map(|(_, conversation)| conversation.group_id)
        .filter(|group_id| !facts.members.contains_key(group_id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    for (group_id, member) in queries::groups::members_of_groups(conn, &missing).await? {
        facts.members.entry(group_id).or_default().push(member);
    }
    Ok(())
}

/// The members of the group `target` names, as read by the check pass (membership is read just
/// before the store, under the conversation's lock); none for a private message. Who receives
/// the message is decided from them by `fanout::audience`.
fn members(facts: &SendFacts, target: Target) -> Vec<UserId> {
    match target {
        Target::User(_) => Vec::new(),
        Target::Group(group_id) => facts.members.get(&group_id).cloned().unwrap_or_default(),
    }
}

/// Earlier messages with the drafts' `client_msg_id`s, by (sender, client_msg_id).
type Originals = HashMap<(UserId, String), (MessageRecord, ConversationRecord)>;

/// What the check pass reads for a batch.
struct Facts {
    /// The senders' earlier messages with the same `client_msg_id`s.
    originals: Originals,
    /// What the rules look at; its `existing` holds the senders as well as the recipients whose
    /// accounts are not deleted (the senders' held until the batch commits).
    facts: SendFacts,
    /// Which of the quoted messages are deleted.
    deleted_quotes: HashSet<i64>,
}

/// Reads what the check pass needs for the whole batch, after beginning its transaction, holding
/// the senders' accounts (`hold_accounts`) and locking the conversations written to
/// (`lock_conversations`), all in one round trip: Postgres runs the pipelined statements one
/// after the other in the order sent, so the locks are held before any rule is read. The rules'
/// facts are one statement (`queries::batch_facts`); only a batch with retries reads again, for
/// their originals.
async fn read_facts(
    conn: &mut AsyncPgConnection,
    begin: BoxFuture<'static, QueryResult<usize>>,
    drafts: &[Draft],
) -> Result<Facts, DieselError> {
    // All of the batch's conversations or none, so that every batch takes the locks it takes
    // before its store in one sorted order (taking only some here and the rest in the store's
    // upsert could cross another batch's order and deadlock).
    let keys: BTreeSet<ConversationKey> = if drafts.iter().any(needs_lock) {
        drafts.iter().map(Draft::key).collect()
    } else {
        BTreeSet::new()
    };
    let senders: Vec<UserId> = drafts.iter().map(|draft| draft.sender).collect();
    let mut sorted_senders = senders.clone();
    sorted_senders.sort_unstable();
    sorted_senders.dedup();
    let client_msg_ids: Vec<&str> = drafts.iter().map(Draft::client_msg_id).collect();
    let Subjects {
        recipients,
        parties,
        groups,
    } = Subjects::of(drafts);
    // One read tells which senders may still write and which recipients exist.
    let mut people = recipients;
    people.extend_from_slice(&sorted_senders);
    people.sort_unstable();
    people.dedup();
    let quoted: Vec<i64> = drafts.iter().filter_map(Draft::reply_to).collect();
    let wanted = Wanted {
        people: &people,
        parties: &parties,
        groups: &groups,
        quoted: &quoted,
        senders: &senders,
        client_msg_ids: &client_msg_ids,
    };

    // The senders' accounts first, then the conversations: deleting an account holds the account
    // before it locks the conversations of the groups it leaves, and every lock is taken in that
    // order. The facts are read after both, so they see what a deletion or a removal committed.
    let (_, _, _, found) = try_join!(
        begin,
        queries::users::hold_accounts(conn, &sorted_senders),
        queries::message_batches::lock_conversations(conn, &keys),
        queries::batch_facts::read(conn, &wanted),
    )?;
    let mut facts = SendFacts::default();
    let mut deleted_quotes = HashSet::new();
    let mut original_ids = Vec::new();
    for fact in found {
        match fact {
            Fact::Live(user) => {
                facts.existing.insert(user);
            }
            Fact::Link(owner, contact) => {
                facts.links.insert((owner, contact));
            }
            Fact::Block(blocker, blocked) => {
                facts.blocks.insert((blocker, blocked));
            }
            Fact::Member(group_id, member) => {
                facts.members.entry(group_id).or_default().push(member);
            }
            Fact::DeletedQuote(id) => {
                deleted_quotes.insert(id);
            }
            Fact::Original(id) => original_ids.push(id),
        }
    }
    let originals = if original_ids.is_empty() {
        Originals::new()
    } else {
        queries::messages::with_conversations(conn, &original_ids)
            .await?
            .into_iter()
            .map(|(record, conversation)| {
                let key = (record.sender_id, record.client_msg_id.clone());
                (key, (record, conversation))
            })
            .collect()
    };
    Ok(Facts {
        originals,
        facts,
        deleted_quotes,
    })
}

/// Whom the rules will ask about, each once.
struct Subjects {
    /// Recipients of private messages under the rules: do they exist?
    recipients: Vec<UserId>,
    /// Senders and recipients of those: which contact links join them?
    parties: Vec<UserId>,
    /// Groups written to: who are their members?
    groups: Vec<GroupId>,
}

impl Subjects {
    fn of(drafts: &[Draft]) -> Self {
        let mut recipients = HashSet::new();
        let mut parties = HashSet::new();
        let mut groups = HashSet::new();
        for draft in drafts {
            match (draft.target(), draft.authority) {
                (Target::User(other), Authority::Rules) => {
                    recipients.insert(other);
                    parties.extend([draft.sender, other]);
                }
                (Target::User(_), Authority::Trusted) => {}
                (Target::Group(group_id), _) => {
                    groups.insert(group_id);
                }
            }
        }
        Self {
            recipients: recipients.into_iter().collect(),
            parties: parties.into_iter().collect(),
            groups: groups.into_iter().collect(),
        }
    }
}

/// Whether the draft needs its conversation locked before the rules are read. A group's message
/// does: its members are read under that lock, which every change of membership takes too. A
/// private message only when it is a reply: a delete of the quoted message must wait for it or
/// be seen. (The store's upsert locks a pair's row anyway, and no other rule of a pair is written
/// under that lock, so a batch of plain private messages skips a statement and its row locks.)
fn needs_lock(draft: &Draft) -> bool {
    matches!(draft.target(), Target::Group(_)) || draft.reply_to().is_some()
}
