// What the page knows, in one place, and who to tell when it changes.
//
// Conversations are keyed `u:<user id>` (private, keyed by the *other* user) or `g:<group id>`.
// Each keeps its messages by `seq` and `lastSeq`, the highest seq held *without a gap*: the number
// the WebSocket guide's delivery rules are built on (a push with seq > lastSeq + 1 reveals a gap,
// to be filled with `sync`; seq <= lastSeq is a duplicate).
//
// Messages change after they are sent (edits, deletes, reactions: `message_updated`). Each
// conversation keeps `changeSeq`, the conversation's change number up to which the held messages
// are known to be current; it only moves forward from a `sync` reply, so a reconnect asks for
// every change after it (`changed_after`) and a missed push is never lost.

export const CHATBOT_ID = '00000000-0000-0000-0000-0000000000b0';

/** The key of a conversation, from a server frame (`{kind, user_id | group_id}`) or an address. */
export function keyOf(conversation) {
  return conversation.group_id ? `g:${conversation.group_id}` : `u:${conversation.user_id}`;
}

/** The address a client frame uses for a conversation: `{user_id}` or `{group_id}`. */
export function addressOf(conv) {
  return conv.kind === 'group' ? { group_id: conv.groupId } : { user_id: conv.peerId };
}

function newConversation(key) {
  const [tag, id] = key.split(':');
  return {
    key,
    kind: tag === 'g' ? 'group' : 'private',
    peerId: tag === 'u' ? id : null,
    groupId: tag === 'g' ? id : null,
    loaded: false, // history fetched: messages and lastSeq are meaningful
    messages: new Map(), // seq -> message
    lastSeq: 0,
    firstSeq: 0,
    hasOlder: false,
    newestSeq: 0, // the newest seq the server has told us about
    readSeq: 0, // my read marker
    peerReadSeq: 0, // the highest seq another reader is known to have read
    changeSeq: 0, // held messages are current up to this change_seq (see the top of this file)
    mutedUntil: null,
    early: new Map(), // seq -> a change that came before the message itself (pushes can cross)
    lastMessage: null,
    pending: new Map(), // client_msg_id -> {client_msg_id, content, failed}
    typingUntil: 0,
    typingUserId: null,
  };
}

export class Store {
  constructor() {
    this.listeners = new Set();
    this.scheduled = false;
    this.reset(null);
  }

  reset(me) {
    this.me = me;
    this.status = 'connecting';
    this.notice = null;
    this.users = new Map(); // id -> User
    this.contacts = new Map(); // id -> {user, online, last_seen_at}
    this.groups = new Map(); // id -> Group (with members once opened)
    this.joinable = []; // public groups I am not in
    this.blocked = new Set(); // ids of the users I blocked
    this.features = { has: () => false }; // the server's routes (Api.features)
    this.focusSeq = null; // {key, seq}: a message to scroll to and highlight once shown
    this.conversations = new Map();
    this.openKey = null;
    if (me) this.users.set(me.id, me);
    this.users.set(CHATBOT_ID, { id: CHATBOT_ID, username: 'chatbot', display_name: 'Chatbot' });
    this.conversation(`u:${CHATBOT_ID}`);
  }

  /** The conversation with this key, created empty when new. */
  conversation(key) {
    let conv = this.conversations.get(key);
    if (!conv) {
      conv = newConversation(key);
      this.conversations.set(key, conv);
    }
    return conv;
  }

  get open() {
    return this.openKey ? this.conversations.get(this.openKey) : null;
  }

  /** Stores a message; returns 'appended', 'duplicate' or 'gap' (held, but seqs are missing). */
  addMessage(conv, received) {
    let message = received;
    const early = conv.early.get(message.seq);
    if (early) {
      conv.early.delete(message.seq);
      if ((early.change_seq ?? 0) > (message.change_seq ?? 0)) message = early;
    }
    if (message.client_msg_id) conv.pending.delete(message.client_msg_id);
    conv.newestSeq = Math.max(conv.newestSeq, message.seq);
    if (!conv.lastMessage || message.seq >= conv.lastMessage.seq) conv.lastMessage = message;
    if (message.sender_id === this.me?.id) conv.readSeq = Math.max(conv.readSeq, message.seq);
    if (!conv.loaded) return 'appended';
    if (message.seq <= conv.lastSeq || conv.messages.has(message.seq)) return 'duplicate';
    conv.messages.set(message.seq, message);
    while (conv.messages.has(conv.lastSeq + 1)) conv.lastSeq += 1;
    return message.seq > conv.lastSeq ? 'gap' : 'appended';
  }

  /**
   * A changed message (`message_updated`, or `changed` in a sync reply): replaces the held one
   * with the same seq unless what is held is newer. Quotes of it follow its new text.
   */
  updateMessage(conv, message) {
    const held = conv.messages.get(message.seq);
    if (held && (held.change_seq ?? 0) > (message.change_seq ?? 0)) return false;
    if (held) conv.messages.set(message.seq, message);
    else if (conv.loaded && message.seq > conv.lastSeq) conv.early.set(message.seq, message);
    if (conv.lastMessage?.seq === message.seq) conv.lastMessage = message;
    for (const other of conv.messages.values()) {
      if (other.reply_to?.id === message.id) {
        other.reply_to = {
          ...other.reply_to,
          preview: message.deleted ? '' : [...message.content].slice(0, 100).join(''),
          deleted: message.deleted,
        };
      }
    }
    return Boolean(held);
  }

  /** A page of older history (ascending), as returned by REST. */
  addOlder(conv, page) {
    for (const message of page.items) {
      conv.messages.set(message.seq, message);
      if (!conv.loaded) conv.changeSeq = Math.max(conv.changeSeq, message.change_seq ?? 0);
    }
    if (page.items.length) conv.firstSeq = page.items[0].seq;
    conv.hasOlder = page.has_more;
    if (!conv.loaded) {
      conv.loaded = true;
      const newest = page.items.at(-1);
      conv.lastSeq = newest ? newest.seq : 0;
      if (newest) this.addMessage(conv, newest);
    }
  }

  unread(conv) {
    return Math.max(0, conv.newestSeq - conv.readSeq);
  }

  displayName(userId) {
    const user = this.users.get(userId);
    return user ? user.display_name || user.username : '…';
  }

  /** Runs `listener` after changes, once for all the changes made by one task. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    // Not requestAnimationFrame: it pauses in hidden tabs, and a hidden tab must still count unread.
    queueMicrotask(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener(this);
    });
  }
}
