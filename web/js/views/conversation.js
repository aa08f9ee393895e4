// The right column: the open conversation's header (presence, or the group's members), its
// messages with scroll-back, the typing indicator and the composer.

import { CHATBOT_ID } from '../store.js';
import { attempt, h, presenceLabel, timeLabel } from './dom.js';

/** Builds the column once; returns `update(store)`. The composer keeps its text across updates. */
export function createConversationView(root, chat) {
  const title = h('h2');
  const subtitle = h('p', { class: 'subtitle' });
  const members = h('div', { class: 'members' });
  const older = h('button', { class: 'secondary older', onclick: () => chat.loadOlder() }, 'Load older messages');
  const list = h('ol', { class: 'messages', 'aria-live': 'polite' });
  const scroller = h('div', { class: 'scroller' }, older, list);
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 40) chat.loadOlder();
  });
  const typing = h('p', { class: 'typing', dataset: { testid: 'typing' }, hidden: true });
  const composer = h('textarea', {
    rows: 2, placeholder: 'Write a message — Enter sends, Shift+Enter for a new line',
    maxlength: 4096, dataset: { testid: 'composer' },
    oninput: () => chat.typing(),
    onkeydown: (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    },
  });
  const form = h('form', {
    class: 'composer',
    onsubmit: (event) => {
      event.preventDefault();
      chat.send(composer.value);
      composer.value = '';
      composer.focus();
    },
  }, composer, h('button', { type: 'submit', dataset: { testid: 'send' } }, 'Send'));
  const notice = h('p', { class: 'notice', role: 'alert' });
  const placeholder = h('p', { class: 'empty' }, 'Pick a conversation, or add a contact to start one.');
  const panel = h('section', { class: 'panel' },
    h('header', {}, h('div', {}, title, subtitle), members), scroller, typing, form);
  let shownKey = null;

  return (store) => {
    notice.textContent = store.notice ?? '';
    notice.hidden = !store.notice;
    const conv = store.open;
    if (!conv) {
      root.replaceChildren(notice, placeholder);
      shownKey = null;
      return;
    }
    if (shownKey !== conv.key) {
      root.replaceChildren(notice, panel);
      composer.value = '';
      composer.focus();
    }
    renderHeader(store, chat, conv, { title, subtitle, members });
    older.hidden = !conv.hasOlder;
    keepScroll(scroller, shownKey !== conv.key, () => {
      list.replaceChildren(...bubbles(store, conv));
    });
    const typist = conv.typingUntil > Date.now() ? store.displayName(conv.typingUserId) : null;
    typing.hidden = !typist;
    typing.textContent = typist ? `${typist} is typing…` : '';
    shownKey = conv.key;
  };
}

function renderHeader(store, chat, conv, { title, subtitle, members }) {
  if (conv.kind === 'private') {
    const user = store.users.get(conv.peerId);
    title.textContent = user ? user.display_name || user.username : '…';
    subtitle.textContent = conv.peerId === CHATBOT_ID
      ? 'the built-in chatbot'
      : presenceLabel(store.contacts.get(conv.peerId)) || `@${user?.username ?? ''}`;
    members.replaceChildren();
    return;
  }
  const group = store.groups.get(conv.groupId);
  title.textContent = `# ${group?.name ?? ''}`;
  const names = (group?.members ?? []).map((member) => member.user.username);
  subtitle.textContent = names.length ? names.join(', ') : `${group?.member_count ?? ''} members`;
  members.replaceChildren(addMemberForm(store, chat, conv.groupId, new Set(names)));
}

/** Admins add members from their contacts. */
function addMemberForm(store, chat, groupId, memberNames) {
  const candidates = [...store.contacts.values()].filter((c) => !memberNames.has(c.user.username));
  if (!candidates.length) return h('span');
  const select = h('select', { 'aria-label': 'contact to add' },
    ...candidates.map((c) => h('option', { value: c.user.id }, c.user.username)));
  const error = h('span', { class: 'error' });
  return h('form', {
    class: 'inline',
    onsubmit: (event) => {
      event.preventDefault();
      attempt(error, () => chat.addMember(groupId, select.value));
    },
  }, select, h('button', { type: 'submit', class: 'secondary' }, 'Add member'), error);
}

function bubbles(store, conv) {
  const me = store.me.id;
  const stored = [...conv.messages.values()].sort((a, b) => a.seq - b.seq).map((message) => {
    const mine = message.sender_id === me;
    return h('li', {
      class: `message${mine ? ' mine' : ''}`,
      dataset: { testid: 'message', seq: String(message.seq) },
    },
    conv.kind === 'group' && !mine ? h('span', { class: 'sender' }, store.displayName(message.sender_id)) : null,
    h('span', { class: 'content' }, message.content),
    h('span', { class: 'meta' },
      timeLabel(message.created_at),
      mine ? h('span', { class: 'receipt' }, conv.peerReadSeq >= message.seq ? ' ✓✓ read' : ' ✓') : null));
  });
  // Optimistic bubbles: shown at once, replaced by the stored message on its ack or push.
  const waiting = [...conv.pending.values()].map((item) => h('li', {
    class: `message mine pending${item.failed ? ' failed' : ''}`,
    dataset: { testid: 'message', pending: 'true' },
  },
  h('span', { class: 'content' }, item.content),
  h('span', { class: 'meta' }, item.failed ? `not sent: ${item.failed}` : 'sending…')));
  return [...stored, ...waiting];
}

/** Redraws the list without losing the reader's place: at the bottom it follows new messages,
 * elsewhere (reading older ones, or after older ones were prepended) it stays put. */
function keepScroll(scroller, opened, redraw) {
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const atBottom = fromBottom - scroller.clientHeight < 40;
  redraw();
  scroller.scrollTop = opened || atBottom ? scroller.scrollHeight : scroller.scrollHeight - fromBottom;
}
