// The protocol, as a client follows it (docs/websocket.md, "Delivery guarantees"):
//
// - after every `ready` (first connect and every reconnect) and every `resync`: re-read the
//   conversation list and the contacts' presence, `sync` each loaded conversation from its
//   lastSeq, and send again every message still waiting for its `ack`, with its *same*
//   `client_msg_id`, so a retry can never store a message twice;
// - `sync` always carries `changed_after` (the conversation's change number the page is current
//   to), so edits, deletes and reactions made while the page was away are applied too, and a
//   `message_updated` push replaces the held message at once;
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
    this.refreshLists().then(() => this.openFromAddress()).catch((err) => this.tell(err));
    document.addEventListener('visibilitychange', this.onVisible = () => this.markRead());
    window.addEventListener('hashchange', this.onHash = () => this.openFromAddress());
    // A click on a notification, when this page is already open (see push.js).
    navigator.serviceWorker?.addEventListener('message', this.onWorker = (event) => {
      if (event.data?.type === 'open' && event.data.conversation) {
        this.open(keyOf(event.data.conversation)).catch((err) => this.tell(err));
      }
    });
  }

  stop() {
    this.socket.stop();
    document.removeEventListener('visibilitychange', this.onVisible);
    window.removeEventListener('hashchange', this.onHash);
    navigator.serviceWorker?.removeEventListener('message', this.onWorker);
  }

  /**
   * `/#u:<user id>` or `/#g:<group id>` opens that conversation (how a notification's click
   * opens the page at its conversation).
   */
  openFromAddress() {
    const key = decodeURIComponent(location.hash.slice(1));
    if (!/^[ug]:[0-9a-f-]{36}$/.test(key)) return;
    history.replaceState(null, '', location.pathname);
    this.open(key).catch((err) => this.tell(err));
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
    const [contacts, groups, joinable, conversations, blocked, features] = await Promise.all([
      this.api.contacts(), this.api.groups(), this.api.publicGroups(), this.api.conversations(),
      this.api.blocked().catch(() => []), this.api.features(),
    ]);
    const { store } = this;
    store.features = features;
    store.blocked = new Set(blocked.map((user) => user.id));
    for (const user of blocked) store.users.set(user.id, user);
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
      conv.peerReadSeq = Math.max(conv.peerReadSeq, summary.peer_read_seq ?? 0);
      conv.mutedUntil = summary.muted_until ?? null;
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

  /** Fetches everything after lastSeq, and every change to what is held, page by page. */
  async sync(conv) {
    for (;;) {
      const reply = await this.socket.request({
        type: 'sync', conversation: addressOf(conv), after_seq: conv.lastSeq,
        changed_after: conv.changeSeq, limit: SYNC_LIMIT,
      });
      for (const message of reply.changed ?? []) this.store.updateMessage(conv, message);
      if (typeof reply.change_seq === 'number') {
        conv.changeSeq = Math.max(conv.changeSeq, reply.change_seq);
      }
      for (const message of reply.messages) this.store.addMessage(conv, message);
      this.store.changed();
      if (!reply.has_more && !reply.changed_has_more) return;
    }
  }

  // --- pushes -------------------------------------------------------------------------------------

  push(frame) {
    switch (frame.type) {
      case 'message': return this.onMessage(frame.message);
      case 'message_updated': return this.onUpdated(frame.message);
      case 'typing': return this.onTyping(frame);
      case 'read': return this.onRead(frame);
      case 'presence': return this.onPresence(frame);
      case 'group_event': return this.onGroupEvent(frame);
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

  async onGroupEvent(frame) {
    try {
      await this.refreshLists();
      if (this.store.openKey === `g:${frame.group_id}` && this.store.groups.has(frame.group_id)) {
        await this.loadMembers(frame.group_id);
        this.store.changed();
      }
    } catch (err) {
      this.tell(err);
    }
  }

  onUpdated(message) {
    const conv = this.store.conversation(keyOf(message.conversation));
    this.store.updateMessage(conv, message);
    this.store.changed();
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

  /** Back to the list (phones show either the list or a conversation). */
  close() {
    this.store.openKey = null;
    this.store.changed();
  }

  /** One older page of the open conversation; while one is on its way, that one. */
  loadOlder() {
    const conv = this.store.open;
    if (!conv?.loaded || !conv.hasOlder) return Promise.resolve();
    if (!conv.loadingOlder) {
      conv.loadingOlder = this.api.history(addressOf(conv), { beforeSeq: conv.firstSeq })
        .then((page) => this.store.addOlder(conv, page))
        .catch((err) => this.tell(err))
        .finally(() => {
          conv.loadingOlder = null;
          this.store.changed();
        });
    }
    return conv.loadingOlder;
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

  /** `extra`: `{reply_to?: message id, attachments?: [Attachment]}`. */
  send(content, extra = {}) {
    const conv = this.store.open;
    const attachments = extra.attachments ?? [];
    if (!conv || (!content.trim() && !attachments.length)) return;
    const item = {
      client_msg_id: newClientMsgId(), content, failed: null,
      reply_to: extra.reply_to ?? null, attachments,
    };
    conv.pending.set(item.client_msg_id, item);
    this.store.changed();
    this.deliver(conv, item);
  }

  /** Sends (or re-sends) one waiting message; it stays waiting until an ack, a push or a refusal. */
  async deliver(conv, item) {
    try {
      const frame = {
        type: 'send', to: addressOf(conv), content: item.content, client_msg_id: item.client_msg_id,
      };
      if (item.reply_to) frame.reply_to = item.reply_to;
      if (item.attachments.length) frame.attachments = item.attachments.map((a) => a.id);
      const ack = await this.socket.request(frame);
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

  // --- changing messages --------------------------------------------------------------------------

  /** Applies a changed message the API answered (the push of it may come before or after). */
  applied(message) {
    if (message) this.onUpdated(message);
  }

  async edit(message, content) {
    this.applied(await this.api.editMessage(message.id, content));
  }

  async remove(message) {
    await this.api.deleteMessage(message.id);
    // The push brings the deleted message; until then nothing of it stays on screen.
    const conv = this.store.conversation(keyOf(message.conversation));
    this.store.updateMessage(conv, {
      ...message, content: '', deleted: true, reactions: [], attachments: [], reply_to: null,
      change_seq: message.change_seq ?? 0,
    });
    this.store.changed();
  }

  async toggleReaction(message, emoji) {
    const mine = (message.reactions ?? []).some((r) => r.emoji === emoji && r.user_ids.includes(this.store.me.id));
    this.applied(await this.api.react(message.id, emoji, !mine));
  }

  /** Opens a conversation and shows one of its messages (a search result, a quoted message). */
  async showMessage(key, seq) {
    if (this.store.openKey !== key) await this.open(key);
    const conv = this.store.conversation(key);
    while (conv.loaded && !conv.messages.has(seq) && conv.hasOlder && seq < conv.firstSeq) {
      const before = conv.firstSeq;
      await this.loadOlder();
      if (conv.firstSeq === before) break;
    }
    this.store.focusSeq = { key, seq };
    this.store.changed();
  }

  /** One page of search results, newest first; `before` (a message id) pages back. */
  async search(q, before) {
    const page = await this.api.search(q, { before });
    const unknown = page.items.map((m) => m.sender_id).filter((id) => !this.store.users.has(id));
    const users = await Promise.all([...new Set(unknown)].map((id) => this.api.userById(id).catch(() => null)));
    for (const user of users) if (user) this.store.users.set(user.id, user);
    return page;
  }

  // --- people and groups -------------------------------------------------------------------------

  async setBlocked(userId, on) {
    await this.api.block(userId, on);
    if (on) this.store.blocked.add(userId);
    else this.store.blocked.delete(userId);
    this.store.changed();
  }

  async setMuted(conv, on) {
    await this.api.mute(addressOf(conv), on);
    conv.mutedUntil = on ? 'forever' : null;
    this.store.changed();
    this.refreshLists().catch(() => {});
  }

  async renameGroup(groupId, name) {
    await this.api.renameGroup(groupId, name);
    await this.loadMembers(groupId);
    await this.refreshLists();
  }

  async removeMember(groupId, userId, { ban = false } = {}) {
    if (ban) await this.api.ban(groupId, userId);
    else await this.api.removeMember(groupId, userId);
    await this.loadMembers(groupId);
    this.store.changed();
  }

  async leave(groupId) {
    await this.api.removeMember(groupId, this.store.me.id);
    if (this.store.openKey === `g:${groupId}`) this.store.openKey = null;
    await this.refreshLists();
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
