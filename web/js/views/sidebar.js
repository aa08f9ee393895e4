// The left column: who I am, the connection state, adding contacts and groups, and the
// conversation list ordered by latest activity, with unread counts and online dots; the search
// box (views/search.js) and the account panel (views/account.js).

import { CHATBOT_ID } from '../store.js';
import { openAccount } from './account.js';
import { attempt, h, timeLabel } from './dom.js';
import { createSearch } from './search.js';

const STATUS_TEXT = { online: 'connected', connecting: 'connecting…', offline: 'reconnecting…' };

/** Builds the column once; returns `update(store)` to redraw what changes. */
export function createSidebar(root, chat, onLogout, onAccountGone) {
  const me = h('strong', { class: 'me' });
  const status = h('span', { class: 'status', role: 'status' });
  const header = h('header', {},
    h('div', {}, me, status),
    h('div', { class: 'row' },
      h('button', {
        class: 'secondary', dataset: { testid: 'account' }, 'aria-haspopup': 'dialog',
        onclick: () => openAccount(chat, onAccountGone).catch((err) => chat.tell(err)),
      }, 'Account'),
      h('button', { class: 'secondary', dataset: { testid: 'logout' }, onclick: onLogout }, 'Log out')));

  const contactName = h('input', {
    placeholder: 'add a contact by username', 'aria-label': 'add a contact by username', required: true, maxlength: 32,
    dataset: { testid: 'contact-username' },
  });
  const contactError = h('p', { class: 'error' });
  const contactForm = h('form', {
    class: 'inline',
    onsubmit: (event) => {
      event.preventDefault();
      attempt(contactError, async () => {
        await chat.addContact(contactName.value.trim());
        contactName.value = '';
      });
    },
  }, contactName, h('button', { type: 'submit', dataset: { testid: 'contact-add' } }, 'Add'));

  const groupName = h('input', {
    placeholder: 'new group name', 'aria-label': 'new group name', required: true, maxlength: 64,
  });
  const groupError = h('p', { class: 'error' });
  const groupForm = h('form', {
    class: 'inline',
    onsubmit: (event) => {
      event.preventDefault();
      attempt(groupError, async () => {
        await chat.createGroup(groupName.value.trim());
        groupName.value = '';
      });
    },
  }, groupName, h('button', { type: 'submit' }, 'Create'));

  const joinable = h('div', { class: 'joinable' });
  const list = h('ul', { class: 'conversations', 'aria-label': 'Conversations' });
  root.replaceChildren(header, createSearch(chat), contactForm, contactError, groupForm, groupError,
    joinable, list);

  return (store) => {
    me.textContent = store.me.display_name || store.me.username;
    status.textContent = STATUS_TEXT[store.status];
    status.dataset.state = store.status;
    joinable.replaceChildren(...store.joinable.map((group) => h('button', {
      class: 'secondary', onclick: () => chat.join(group.id).catch((err) => chat.tell(err)),
    }, `Join ${group.name}`)));
    list.replaceChildren(...ordered(store).map((conv) => entry(store, chat, conv)));
  };
}

/** Most recent activity first; conversations without messages after them, by name. */
function ordered(store) {
  const named = [...store.conversations.values()].map((conv) => ({ conv, ...names(store, conv) }));
  named.sort((a, b) => {
    const at = a.conv.lastMessage ? Date.parse(a.conv.lastMessage.created_at) : 0;
    const bt = b.conv.lastMessage ? Date.parse(b.conv.lastMessage.created_at) : 0;
    if (at !== bt) return bt - at;
    return a.title.localeCompare(b.title);
  });
  return named.map((item) => item.conv);
}

/** `peer` is the username or group name (the tests' `data-peer`); `title` what a person reads. */
function names(store, conv) {
  if (conv.kind === 'group') {
    const name = store.groups.get(conv.groupId)?.name ?? 'group';
    return { peer: name, title: `# ${name}` };
  }
  const user = store.users.get(conv.peerId);
  return { peer: user?.username ?? '', title: user ? user.display_name || user.username : '…' };
}

function previewOf(message) {
  if (message.deleted) return 'Message deleted';
  if (message.content) return message.content;
  const first = message.attachments?.[0];
  return first ? `📎 ${first.kind === 'image' ? 'Photo' : first.name}` : '';
}

function entry(store, chat, conv) {
  const { peer, title } = names(store, conv);
  const contact = store.contacts.get(conv.peerId);
  const online = conv.kind === 'private' ? String(Boolean(contact?.online)) : undefined;
  const unread = store.unread(conv);
  const last = conv.lastMessage;
  const preview = last
    ? `${last.sender_id === store.me.id ? 'You: ' : ''}${previewOf(last)}`
    : conv.peerId === CHATBOT_ID ? 'Ask me anything' : 'No messages yet';
  return h('li', {},
    h('button', {
      class: `conversation${conv.key === store.openKey ? ' open' : ''}`,
      dataset: { testid: 'conversation', peer, ...(online ? { online } : {}) },
      onclick: () => chat.open(conv.key),
    },
    h('span', { class: 'dot', title: online && (online === 'true' ? 'online' : 'offline') }),
    h('span', { class: 'title' }, title,
      conv.mutedUntil ? h('span', { class: 'muted-mark', title: 'muted' }, ' 🔕') : null),
    last ? h('time', {}, timeLabel(last.created_at)) : null,
    unread > 0 ? h('span', { class: 'unread', dataset: { testid: 'unread' }, title: `${unread} unread` }, String(unread)) : null,
    h('span', { class: 'preview' }, preview)));
}
