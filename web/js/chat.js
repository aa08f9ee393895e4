// The protocol, as a client follows it (docs/websocket.md, "Delivery guarantees"):
//
// - after every `ready` (first connect and every reconnect) and every `resync`: re-read the
//   conversation list and the contacts' presence, `sync` each loaded conversation from its
//   lastSeq, and send again every message still waiting for its `ack`, with its *same*
//   `client_msg_id`, so a retry can never store a message twice;
// - a `message` push is appended when it is the next seq, ignored when already held, and a gap
//   (a seq beyond the next) is filled with `sync`;
// - sending shows an optimistic bubble at once, replaced by the stored message when the `ack`
//   (or the push of it) arrives.
// Views call the methods here; they never talk to the server themselves.

import { ApiError } from './api.js';
import { ChatSocket, FrameError, SocketClosed } from './socket.js';
import { CHATBOT_ID, addressOf, keyOf } from './store.js';

/** Send a `typing` frame at most this often while the user types (the server relays 3/s). */
const TYPING_EVERY_MS = 2_500;
/** A peer's typing indicator stays this long after their last `typing` push. */
const TYPING_SHOWN_MS = 4_000;
const SYNC_LIMIT = 100;
/** A problem shown above the conversation goes away after this long. */
const NOTICE_SHOWN_MS = 8_000;

export class Chat {
  constructor(api, store) {
    this.api = api;
    this.store = store;
    this.lastTypingSent = 0;
    this.socket = new ChatSocket({
      getTicket: () => api.wsTicket(),
      onReady: () => this.caughtUp(),
      onPush: (frame) => this.push(frame),
      onStatus: (status) => { store.status = status; store.changed(); },
      onSessionRevoked: () => api.endSession('this session was ended (logged out elsewhere)'),
    });
  }

  start() {
    this.socket.start();
    this.refreshLists().catch((err) => this.tell(err));
    document.addEventListener('visibilitychange', this.onVisible = () => this.markRead());
  }

  stop() {
    this.socket.stop();
    document.removeEventListener('visibilitychange', this.onVisible);
  }

  // --- connection lifecycle ----------------------------------------------------------------------

  /** After `ready` or `resync`: whatever happened while we were not listening is fetched now. */
  async caughtUp() {
    try {
      await this.refreshLists();
      const loaded = [...this.store.conversations.values()].filter((conv) => conv.loaded);
      await Promise.all(loaded.map((conv) => this.sync(conv)));
      await this.retryPending();
      this.markRead();
    } catch (err) {
      this.tell(err);
    }
  }

  /** Contacts (with live presence), groups and the conversation list, from REST. */
  async refreshLists() {
    const [contacts, groups, joinable, conversations] = await Promise.all([
      this.api.contacts(), this.api.groups(), this.api.publicGroups(), this.api.conversations(),
    ]);
    const { store } = this;
    store.contacts = new Map(contacts.map((contact) => [contact.user.id, contact]));
    for (const contact of contacts) {
      store.users.set(contact.user.id, contact.user);
      store.conversation(`u:${contact.user.id}`);
    }
    const members = new Map([...store.groups.values()].map((group) => [group.id, group.members]));
    store.groups = new Map(groups.map((group) => [group.id, { ...group, members: members.get(group.id) }]));
    for (const group of groups) store.conversation(`g:${group.id}`);
    store.joinable = joinable;
    for (const summary of conversations) {
      const conv = store.conversation(keyOf(summary.conversation));
      conv.readSeq = Math.max(conv.readSeq, summary.read_seq);
      conv.newestSeq = Math.max(conv.newestSeq, summary.last_seq);
      if (summary.last_message) store.addMessage(conv, summary.last_message);
    }
    // A group I left (or was removed from) is gone from the list.
    for (const [key, conv] of store.conversations) {
      if (conv.kind === 'group' && !store.groups.has(conv.groupId)) store.conversations.delete(key);
    }
    await this.nameStrangers();
    store.changed();
  }

  /** People I talk to who are not my contacts are only ids so far: look their names up. */
  async nameStrangers() {
    const unknown = [...this.store.conversations.values()]
      .filter((conv) => conv.kind === 'private' && !this.store.users.has(conv.peerId))
      .map((conv) => conv.peerId);
    const users = await Promise.all(unknown.map((id) => this.api.userById(id).catch(() => null)));
    for (const user of users) if (user) this.store.users.set(user.id, user);
  }

  /** Fetches everything after lastSeq, page by page. */
  async sync(conv) {
    for (;;) {
      const reply = await this.socket.request({
        type: 'sync', conversation: addressOf(conv), after_seq: conv.lastSeq, limit: SYNC_LIMIT,
      });
      for (const message of reply.messages) this.store.addMessage(conv, message);
      this.store.changed();
      if (!reply.has_more) return;
    }
  }

  // --- pushes -------------------------------------------------------------------------------------

  push(frame) {
    switch (frame.type) {
      case 'message': return this.onMessage(frame.message);
      case 'typing': return this.onTyping(frame);
      case 'read': return this.onRead(frame);
      case 'presence': return this.onPresence(frame);
      case 'group_event': return this.refreshLists().catch((err) => this.tell(err));
      case 'resync': return this.caughtUp();
      case 'session_revoked': return this.api.endSession('this session was ended (logged out elsewhere)');
      case 'error': return this.tell(new FrameError(frame.error)); // chatbot failures: no request
      default: return undefined; // frames added to the protocol later are ignored
    }
  }

  onMessage(message) {
    const { store } = this;
    const conv = store.conversation(keyOf(message.conversation));
    if (conv.typingUserId === message.sender_id) conv.typingUntil = 0;
    const result = store.addMessage(conv, message);
    if (result === 'gap') this.sync(conv).catch(() => {}); // a failed sync is redone on reconnect
    if (!store.users.has(message.sender_id)) this.nameStrangers().then(() => store.changed());
    if (conv.kind === 'group' && !store.groups.has(conv.groupId)) {
      this.refreshLists().catch(() => {});
    }
    this.markRead();
    store.changed();
  }

  onTyping(frame) {
    const conv = this.store.conversation(keyOf(frame.conversation));
    conv.typingUserId = frame.from;
    conv.typingUntil = Date.now() + TYPING_SHOWN_MS;
    setTimeout(() => this.store.changed(), TYPING_SHOWN_MS + 50);
    this.store.changed();
  }

  onRead(frame) {
    const conv = this.store.conversation(keyOf(frame.conversation));
    if (frame.user_id === this.store.me.id) conv.readSeq = Math.max(conv.readSeq, frame.seq);
    else conv.peerReadSeq = Math.max(conv.peerReadSeq, frame.seq);
    this.store.changed();
  }

  onPresence(frame) {
    const contact = this.store.contacts.get(frame.user_id);
    if (!contact) return;
    contact.online = frame.online;
    contact.last_seen_at = frame.last_seen_at;
    this.store.changed();
  }

  // --- what the user does -----------------------------------------------------------------------

  async open(key) {
    const { store } = this;
    store.openKey = key;
    const conv = store.conversation(key);
    store.changed();
    try {
      if (conv.kind === 'group') await this.loadMembers(conv.groupId);
      if (!conv.loaded) {
        store.addOlder(conv, await this.api.history(addressOf(conv)));
        // Pushes that came while the page was on its way are only counted, not held: fetch them.
        if (conv.newestSeq > conv.lastSeq && this.socket.isLive) await this.sync(conv);
      }
    } catch (err) {
      this.tell(err);
    }
    this.markRead();
    store.changed();
  }

  async loadOlder() {
    const conv = this.store.open;
    if (!conv?.loaded || !conv.hasOlder || conv.loadingOlder) return;
    conv.loadingOlder = true;
    try {
      this.store.addOlder(conv, await this.api.history(addressOf(conv), { beforeSeq: conv.firstSeq }));
    } catch (err) {
      this.tell(err);
    } finally {
      conv.loadingOlder = false;
      this.store.changed();
    }
  }

  /** Moves my read marker to the newest message of the open conversation, when it is seen. */
  markRead() {
    const conv = this.store.open;
    if (!conv || document.visibilityState !== 'visible') return;
    if (conv.newestSeq <= conv.readSeq) return;
    if (this.socket.notify({ type: 'read', conversation: addressOf(conv), seq: conv.newestSeq })) {
      conv.readSeq = conv.newestSeq;
      this.store.changed();
    }
  }

  send(content) {
    const conv = this.store.open;
    if (!conv || !content.trim()) return;
    const item = { client_msg_id: newClientMsgId(), content, failed: null };
    conv.pending.set(item.client_msg_id, item);
    this.store.changed();
    this.deliver(conv, item);
  }

  /** Sends (or re-sends) one waiting message; it stays waiting until an ack, a push or a refusal. */
  async deliver(conv, item) {
    try {
      const ack = await this.socket.request({
        type: 'send', to: addressOf(conv), content: item.content, client_msg_id: item.client_msg_id,
      });
      this.store.addMessage(conv, ack.message);
      this.store.changed();
    } catch (err) {
      if (err instanceof SocketClosed) return; // sent again after the next `ready`
      if (err instanceof FrameError && ['rate_limited', 'unavailable', 'internal'].includes(err.code)) {
        setTimeout(() => this.deliver(conv, item), 1_000); // safe: same client_msg_id
        return;
      }
      item.failed = err.message; // refused for good (forbidden, bad content…)
      this.store.changed();
    }
  }

  async retryPending() {
    for (const conv of this.store.conversations.values()) {
      for (const item of conv.pending.values()) if (!item.failed) this.deliver(conv, item);
    }
  }

  typing() {
    const conv = this.store.open;
    if (!conv || conv.peerId === CHATBOT_ID || Date.now() - this.lastTypingSent < TYPING_EVERY_MS) return;
    if (this.socket.notify({ type: 'typing', to: addressOf(conv) })) this.lastTypingSent = Date.now();
  }

  async addContact(username) {
    const contact = await this.api.addContact(username);
    this.store.users.set(contact.user.id, contact.user);
    await this.refreshLists();
    return contact;
  }

  async createGroup(name) {
    const group = await this.api.createGroup(name);
    await this.refreshLists();
    return this.open(`g:${group.id}`);
  }

  async join(groupId) {
    await this.api.joinGroup(groupId);
    await this.refreshLists();
    return this.open(`g:${groupId}`);
  }

  async addMember(groupId, userId) {
    await this.api.addMember(groupId, userId);
    await this.loadMembers(groupId);
    this.store.changed();
  }

  async loadMembers(groupId) {
    const group = await this.api.group(groupId);
    for (const member of group.members ?? []) this.store.users.set(member.user.id, member.user);
    this.store.groups.set(groupId, group);
  }

  /** Shows a problem to the user; session ends are handled by the API itself. */
  tell(err) {
    if (err instanceof ApiError && err.status === 401) return;
    if (err instanceof SocketClosed) return; // the connection status says it already
    const notice = err.code === 'chatbot_unavailable' || err.code === 'rate_limited'
      ? `Chatbot: ${err.message}`
      : err.message;
    this.store.notice = notice;
    this.store.changed();
    setTimeout(() => {
      if (this.store.notice !== notice) return;
      this.store.notice = null;
      this.store.changed();
    }, NOTICE_SHOWN_MS);
  }
}

/** A fresh id per message (crypto.randomUUID needs a secure context; this works everywhere). */
function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
