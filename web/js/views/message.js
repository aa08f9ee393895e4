// One message bubble: sender, quoted reply, text (or the deleted marker), attachments, reactions,
// time with the edited mark and the receipt, and its menu (reply, react, edit, delete, copy).
//
// The menu opens from the "⋯" button (shown on hover or focus on a desktop, always reachable by
// Tab), or by a long press on a touch screen. Escape closes it and gives the focus back to the
// button. A deleted message shows only the marker: none of its old text stays in the page.

import { attachmentsOf } from '../attachments.js';
import { h, timeLabel } from './dom.js';

export const EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉'];
const LONG_PRESS_MS = 500;

/**
 * What the bubble depends on besides the message itself: a bubble is rebuilt only when this, or
 * the message's `change_seq`, changes (so focus and an open menu survive unrelated updates).
 */
export function bubbleKey(store, conv, message, menu, canModerate) {
  return [
    message.id, message.change_seq ?? 0, message.reply_to?.preview ?? '', message.reply_to?.deleted ?? '',
    conv.peerReadSeq >= message.seq, menu?.seq === message.seq ? menu.mode : '',
    store.displayName(message.sender_id), canModerate,
  ].join('|');
}

/**
 * `actions`: {openMenu(seq, mode), closeMenu(), reply(message), edit(message), remove(message),
 * react(message, emoji), copy(message), showQuoted(message)}.
 */
export function bubble(store, chat, conv, message, { menu, canModerate, actions }) {
  const me = store.me.id;
  const mine = message.sender_id === me;
  const deleted = Boolean(message.deleted);
  const menuMode = menu?.seq === message.seq ? menu.mode : null;
  const actionsButton = h('button', {
    type: 'button', class: 'actions-button', 'aria-haspopup': 'menu',
    'aria-expanded': String(Boolean(menuMode)), 'aria-label': 'Message actions',
    dataset: { testid: 'message-actions' },
    onclick: () => (menuMode ? actions.closeMenu() : actions.openMenu(message.seq, 'main')),
  }, '⋯');

  const li = h('li', {
    class: `message${mine ? ' mine' : ''}${deleted ? ' deleted' : ''}`,
    id: `message-${conv.key}-${message.seq}`,
    dataset: { testid: 'message', seq: String(message.seq) },
  },
  conv.kind === 'group' && !mine ? h('span', { class: 'sender' }, store.displayName(message.sender_id)) : null,
  !deleted && message.reply_to ? quote(store, message.reply_to, () => actions.showQuoted(message)) : null,
  deleted
    ? h('span', { class: 'deleted-marker', dataset: { testid: 'deleted-marker' } }, 'This message was deleted')
    : message.content ? h('span', { class: 'content' }, message.content) : null,
  deleted ? null : attachmentsOf(chat, message.attachments ?? []),
  deleted ? null : reactions(store, message, (emoji) => actions.react(message, emoji)),
  h('span', { class: 'meta' },
    timeLabel(message.created_at),
    message.edited_at && !deleted
      ? h('span', { class: 'edited', dataset: { testid: 'edited-marker' }, title: `edited ${timeLabel(message.edited_at)}` }, ' · edited')
      : null,
    mine && !deleted ? receipt(conv.peerReadSeq >= message.seq) : null),
  deleted ? null : actionsButton,
  menuMode ? menuOf(message, menuMode, { mine, canModerate, actions }) : null);

  if (!deleted) longPress(li, () => actions.openMenu(message.seq, 'main'));
  return li;
}

function receipt(read) {
  return h('span', { class: `receipt${read ? ' read' : ''}`, title: read ? 'read' : 'sent' },
    read ? ' ✓✓ read' : ' ✓');
}

function quote(store, replyTo, onClick) {
  const text = replyTo.deleted || !replyTo.preview ? 'deleted message' : replyTo.preview;
  return h('button', {
    type: 'button', class: 'reply-quote', dataset: { testid: 'reply-quote' },
    title: 'Show the original', onclick: onClick,
  },
  h('span', { class: 'quote-sender' }, store.displayName(replyTo.sender_id)),
  h('span', { class: 'quote-text' }, text),
  h('span', { class: 'visually-hidden' }, ' (show the original)'));
}

function reactions(store, message, toggle) {
  const list = message.reactions ?? [];
  if (!list.length) return null;
  return h('span', { class: 'reactions' }, ...list.map((reaction) => {
    const mine = reaction.user_ids.includes(store.me.id);
    return h('button', {
      type: 'button', class: `reaction${mine ? ' mine' : ''}`, 'aria-pressed': String(mine),
      title: mine ? 'You reacted; click to take it back' : 'React with this too',
      dataset: { testid: 'reaction', emoji: reaction.emoji },
      onclick: () => toggle(reaction.emoji),
    }, `${reaction.emoji} ${reaction.count}`);
  }));
}

function menuOf(message, mode, { mine, canModerate, actions }) {
  const item = (testid, label, run) => h('button', {
    type: 'button', role: 'menuitem', dataset: { testid },
    onclick: () => run(),
  }, label);
  const body = mode === 'react'
    ? EMOJI.map((emoji) => h('button', {
      type: 'button', role: 'menuitem', class: 'emoji', 'aria-label': `React with ${emoji}`,
      dataset: { testid: `emoji-${emoji}` },
      onclick: () => { actions.closeMenu(); actions.react(message, emoji); },
    }, emoji))
    : [
      item('message-reply', 'Reply', () => { actions.closeMenu(); actions.reply(message); }),
      item('message-react', 'React…', () => actions.openMenu(message.seq, 'react')),
      mine ? item('message-edit', 'Edit', () => { actions.closeMenu(); actions.edit(message); }) : null,
      mine || canModerate
        ? item('message-delete', 'Delete', () => { actions.closeMenu(); actions.remove(message); })
        : null,
      message.content ? item('message-copy', 'Copy text', () => { actions.closeMenu(); actions.copy(message); }) : null,
    ];
  const menu = h('div', {
    class: `menu${mode === 'react' ? ' picker' : ''}`, role: 'menu', 'aria-label': 'Message menu',
    onkeydown: (event) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        actions.closeMenu(true);
        return;
      }
      if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp' && event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
      const items = [...menu.querySelectorAll('[role="menuitem"]')];
      const at = items.indexOf(document.activeElement);
      const step = event.key === 'ArrowDown' || event.key === 'ArrowRight' ? 1 : -1;
      items[(at + step + items.length) % items.length]?.focus();
      event.preventDefault();
    },
  }, ...body);
  // Focus the first item once it is in the page, so Enter on "⋯" then Enter picks "Reply".
  queueMicrotask(() => { if (menu.isConnected) menu.querySelector('[role="menuitem"]')?.focus(); });
  return menu;
}

/** Touch screens: holding a finger on the bubble opens its menu (instead of the browser's). */
function longPress(el, open) {
  let timer = null;
  let touch = false;
  const cancel = () => { clearTimeout(timer); timer = null; };
  el.addEventListener('pointerdown', (event) => {
    touch = event.pointerType === 'touch';
    if (!touch) return;
    cancel();
    timer = setTimeout(() => { timer = null; open(); }, LONG_PRESS_MS);
  });
  for (const type of ['pointerup', 'pointercancel', 'pointerleave']) {
    el.addEventListener(type, cancel);
  }
  el.addEventListener('contextmenu', (event) => {
    if (touch) event.preventDefault();
  });
}
