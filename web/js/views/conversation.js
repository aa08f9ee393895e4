// The right column: the open conversation's header (views/header.js), its messages with
// scroll-back (views/message.js), the typing indicator and the composer, which also replies
// (with the quoted message above it), edits (Escape cancels) and attaches files (pick, paste or
// drop, with the upload's progress).
//
// Bubbles are kept by seq and rebuilt only when what they show changes, and the list is patched
// in place, so the keyboard focus and an open message menu survive unrelated updates (a typing
// push, a presence change).

import { sizeLabel, upload } from '../attachments.js';
import { h } from './dom.js';
import { renderHeader } from './header.js';
import { bubble, bubbleKey } from './message.js';

/** Builds the column once; returns `update(store)`. The composer keeps its text across updates. */
export function createConversationView(root, chat) {
  const title = h('h2', { id: 'conversation-title' });
  const subtitle = h('p', { class: 'subtitle' });
  const tools = h('div', { class: 'tools' });
  const older = h('button', { class: 'secondary older', onclick: () => chat.loadOlder() }, 'Load older messages');
  const list = h('ol', { class: 'messages', 'aria-live': 'polite', 'aria-labelledby': 'conversation-title' });
  const scroller = h('div', { class: 'scroller' }, older, list);
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 40) chat.loadOlder();
  });
  const typing = h('p', { class: 'typing', dataset: { testid: 'typing' }, hidden: true });

  // What the composer is doing besides writing a new message.
  let replyTo = null; // the message answered
  let editing = null; // the message being edited
  let menu = null; // {seq, mode}: the open message menu
  let refocus = null; // the seq whose "⋯" button gets the focus back once redrawn
  let uploads = []; // {file, progress, attachment?, error?}
  const cache = new Map(); // `${key}:${seq}` -> {signature, el}
  let store = null;

  const contextText = h('span', { class: 'context-text' });
  const contextCancel = h('button', {
    type: 'button', class: 'secondary small', 'aria-label': 'Cancel', onclick: () => cancelContext(),
  }, '✕');
  const context = h('div', { class: 'composer-context', hidden: true }, contextText, contextCancel);
  const uploadList = h('ul', { class: 'uploads', 'aria-label': 'Files to send', hidden: true });

  const composer = h('textarea', {
    rows: 2, placeholder: 'Write a message — Enter sends, Shift+Enter for a new line',
    'aria-label': 'Message', maxlength: 4096, dataset: { testid: 'composer' },
    oninput: () => chat.typing(),
    onkeydown: (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === 'Escape' && (replyTo || editing)) {
        event.preventDefault();
        cancelContext();
      }
    },
    onpaste: (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (files.length) {
        event.preventDefault();
        addFiles(files);
      }
    },
  });
  const attach = h('input', {
    type: 'file', multiple: true, class: 'visually-hidden', id: 'attach-input',
    dataset: { testid: 'attach' },
    onchange: () => { addFiles([...attach.files]); attach.value = ''; },
  });
  const attachLabel = h('label', { for: 'attach-input', class: 'attach-label', title: 'Attach files' },
    h('span', { 'aria-hidden': 'true' }, '📎'), h('span', { class: 'visually-hidden' }, 'Attach files'));
  const sendButton = h('button', { type: 'submit', dataset: { testid: 'send' } }, 'Send');
  const form = h('form', {
    class: 'composer',
    onsubmit: (event) => {
      event.preventDefault();
      submit();
    },
  }, attach, attachLabel, composer, sendButton);
  const composerArea = h('div', { class: 'composer-area' }, context, uploadList, form);
  const notice = h('p', { class: 'notice', role: 'alert' });
  const placeholder = h('p', { class: 'empty' }, 'Pick a conversation, or add a contact to start one.');
  // Phones show the list or a conversation; this goes back to the list (hidden on wide screens).
  const back = h('button', {
    type: 'button', class: 'secondary back', 'aria-label': 'Back to the conversations',
    onclick: () => chat.close(),
  }, '←');
  const panel = h('section', { class: 'panel', 'aria-labelledby': 'conversation-title' },
    h('header', {}, back, h('div', { class: 'heading' }, title, subtitle), tools), scroller, typing, composerArea);
  panel.addEventListener('dragover', (event) => {
    if (attachLabel.hidden) return;
    event.preventDefault();
    panel.classList.add('dropping');
  });
  panel.addEventListener('dragleave', () => panel.classList.remove('dropping'));
  panel.addEventListener('drop', (event) => {
    panel.classList.remove('dropping');
    if (attachLabel.hidden || !event.dataTransfer?.files.length) return;
    event.preventDefault();
    addFiles([...event.dataTransfer.files]);
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && menu) actions.closeMenu(true);
  });
  let shownKey = null;
  let headerSignature = '';

  function cancelContext() {
    replyTo = null;
    if (editing) composer.value = '';
    editing = null;
    drawContext();
    composer.focus();
  }

  function drawContext() {
    context.hidden = !replyTo && !editing;
    if (editing) contextText.textContent = 'Editing your message (Escape cancels)';
    else if (replyTo) contextText.textContent = `Replying to ${store.displayName(replyTo.sender_id)}: ${[...replyTo.content].slice(0, 80).join('')}`;
    sendButton.textContent = editing ? 'Save' : 'Send';
  }

  function drawUploads() {
    uploadList.hidden = !uploads.length;
    uploadList.replaceChildren(...uploads.map((item) => h('li', { class: item.error ? 'error' : '' },
      h('span', {}, `${item.file.name || 'file'} (${sizeLabel(item.file.size)})`),
      item.error ? h('span', {}, ` — ${item.error}`)
        : item.attachment ? h('span', {}, ' — ready')
          : h('progress', { max: 1, value: item.progress, 'aria-label': `uploading ${item.file.name}` }),
      h('button', {
        type: 'button', class: 'secondary small', 'aria-label': `Remove ${item.file.name}`,
        onclick: () => { uploads = uploads.filter((u) => u !== item); drawUploads(); },
      }, '✕'))));
  }

  function addFiles(files) {
    for (const file of files) {
      const item = { file, progress: 0 };
      uploads.push(item);
      upload(chat.api, file, (fraction) => { item.progress = fraction; drawUploads(); })
        .then((attachment) => { item.attachment = attachment; })
        .catch((err) => { item.error = err.message; })
        .finally(drawUploads);
    }
    drawUploads();
  }

  async function submit() {
    const text = composer.value;
    if (editing) {
      const message = editing;
      if (!text.trim()) return;
      editing = null;
      drawContext();
      composer.value = '';
      await chat.edit(message, text).catch((err) => chat.tell(err));
      return;
    }
    if (uploads.some((item) => !item.attachment && !item.error)) {
      chat.tell(new Error('wait until the files are uploaded'));
      return;
    }
    const attachments = uploads.filter((item) => item.attachment).map((item) => item.attachment);
    if (!text.trim() && !attachments.length) return;
    chat.send(text, { reply_to: replyTo?.id, attachments });
    composer.value = '';
    replyTo = null;
    uploads = [];
    drawUploads();
    drawContext();
    composer.focus();
  }

  const actions = {
    openMenu: (seq, mode) => { menu = { seq, mode }; chat.store.changed(); },
    closeMenu: (focusBack = false) => {
      if (focusBack && menu) refocus = menu.seq;
      menu = null;
      chat.store.changed();
    },
    reply: (message) => { editing = null; replyTo = message; drawContext(); composer.focus(); },
    edit: (message) => {
      replyTo = null;
      editing = message;
      composer.value = message.content;
      drawContext();
      composer.focus();
    },
    remove: (message) => chat.remove(message).catch((err) => chat.tell(err)),
    react: (message, emoji) => chat.toggleReaction(message, emoji).catch((err) => chat.tell(err)),
    copy: (message) => navigator.clipboard?.writeText(message.content)
      .then(() => chat.tell(new Error('Copied.')))
      .catch(() => chat.tell(new Error('The browser did not allow copying.'))),
    showQuoted: (message) => chat.showMessage(message.conversation ? keyFromMessage(message) : shownKey, message.reply_to.seq)
      .catch((err) => chat.tell(err)),
  };

  return (current) => {
    store = current;
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
      replyTo = null;
      editing = null;
      menu = null;
      uploads = [];
      drawUploads();
      drawContext();
      composer.focus();
    }
    attachLabel.hidden = !store.features.has('POST /attachments');
    attach.hidden = attachLabel.hidden;
    const signature = headerKey(store, conv);
    if (signature !== headerSignature || shownKey !== conv.key) {
      headerSignature = signature;
      renderHeader(store, chat, conv, { title, subtitle, tools });
    }
    older.hidden = !conv.hasOlder;
    keepScroll(scroller, shownKey !== conv.key, () => patch(list, bubbles(store, conv)));
    if (refocus !== null) {
      list.querySelector(`[data-seq="${refocus}"] [data-testid="message-actions"]`)?.focus();
      refocus = null;
    }
    const typist = conv.typingUntil > Date.now() ? store.displayName(conv.typingUserId) : null;
    typing.hidden = !typist;
    typing.textContent = typist ? `${typist} is typing…` : '';
    shownKey = conv.key;
    const focus = store.focusSeq;
    if (focus && focus.key === conv.key) {
      const el = list.querySelector(`[data-testid="message"][data-seq="${focus.seq}"]`);
      if (el) {
        store.focusSeq = null;
        el.scrollIntoView({ block: 'center' });
        el.classList.add('highlight');
        setTimeout(() => el.classList.remove('highlight'), 2_000);
      }
    }
  };

  function bubbles(current, conv) {
    const group = conv.kind === 'group' ? current.groups.get(conv.groupId) : null;
    const canModerate = Boolean(group?.members?.some((m) => m.user.id === current.me.id && m.role === 'admin'));
    const stored = [...conv.messages.values()].sort((a, b) => a.seq - b.seq).map((message) => {
      const cacheKey = `${conv.key}:${message.seq}`;
      const signature = bubbleKey(current, conv, message, menu, canModerate);
      const held = cache.get(cacheKey);
      if (held && held.signature === signature && held.message === message) return held.el;
      const el = bubble(current, chat, conv, message, { menu, canModerate, actions });
      cache.set(cacheKey, { signature, el, message });
      return el;
    });
    // Optimistic bubbles: shown at once, replaced by the stored message on its ack or push.
    const waiting = [...conv.pending.values()].map((item) => h('li', {
      class: `message mine pending${item.failed ? ' failed' : ''}`,
      dataset: { testid: 'message', pending: 'true' },
    },
    h('span', { class: 'content' }, item.content),
    item.attachments?.length ? h('span', { class: 'meta' }, `📎 ${item.attachments.length} file(s)`) : null,
    h('span', { class: 'meta' }, item.failed ? `not sent: ${item.failed}` : 'sending…'),
    item.failed ? h('button', {
      type: 'button', class: 'secondary small', 'aria-label': 'Dismiss the unsent message',
      onclick: () => { conv.pending.delete(item.client_msg_id); chat.store.changed(); },
    }, 'Dismiss') : null));
    return [...stored, ...waiting];
  }
}

function keyFromMessage(message) {
  const c = message.conversation;
  return c.group_id ? `g:${c.group_id}` : `u:${c.user_id}`;
}

/** What the header shows; it is redrawn only when this changes (an open members list stays open). */
function headerKey(store, conv) {
  const group = conv.kind === 'group' ? store.groups.get(conv.groupId) : null;
  const contact = store.contacts.get(conv.peerId);
  return JSON.stringify([
    conv.key, group?.name, (group?.members ?? []).map((m) => [m.user.id, m.role]),
    conv.kind === 'group' ? [...store.contacts.keys()] : null,
    contact?.online, contact?.last_seen_at, store.blocked.has(conv.peerId), conv.mutedUntil,
    store.features.has('PUT /groups/{}/mute'), store.users.get(conv.peerId)?.username,
  ]);
}

/** Makes `list`'s children exactly `nodes`, moving only what is out of place. */
function patch(list, nodes) {
  nodes.forEach((node, index) => {
    const at = list.children[index];
    if (at !== node) list.insertBefore(node, at ?? null);
  });
  while (list.children.length > nodes.length) list.lastElementChild.remove();
}

/** Redraws the list without losing the reader's place: at the bottom it follows new messages,
 * elsewhere (reading older ones, or after older ones were prepended) it stays put. */
function keepScroll(scroller, opened, redraw) {
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const atBottom = fromBottom - scroller.clientHeight < 40;
  redraw();
  scroller.scrollTop = opened || atBottom ? scroller.scrollHeight : scroller.scrollHeight - fromBottom;
}
