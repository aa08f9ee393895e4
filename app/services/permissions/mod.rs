//! Who may do what: send to, write to or read a conversation, add a contact, manage a group, see
//! someone's presence, fetch an attachment. The rules live here once; the services and the message
//! writer call them (the writer gathers the facts for a whole batch in a few queries, then asks
//! [`may_send`] of each message; the other paths ask one at a time).
//!
//! One file per subject: [`private`] (two users), [`conversations`] (sending, reading, changing
//! messages), [`groups`] (roles and admin actions), [`attachments`], and the [`refusals`] they
//! share. Callers name the rules through this module (`permissions::may_send`), not the files.

mod attachments;
mod conversations;
mod groups;
mod private;
mod refusals;

pub use self::{
    attachments::may_read_attachment,
    conversations::{
        can_read_with, may_change, may_mute, may_read, may_read_stored, may_send, may_write,
        Authority, Change, SendFacts,
    },
    groups::{
        may_ban, may_remove_member, require_admin, require_admin_locked, require_contacts,
        require_not_blocked_by, role_in,
    },
    private::{
        check_interaction, check_private, check_unblocked, may_add_contact, may_block,
        may_interact_privately, presence_hidden_from, presence_visible_to,
    },
    refusals::{
        account_deleted, banned_from_group, no_private_channel, no_such_attachment, no_such_group,
        no_such_message, not_admin,
    },
};
