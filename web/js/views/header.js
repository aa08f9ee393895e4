// The open conversation's header: its name, presence ("online", "last seen …") or members, and
// what can be done to the conversation: block and mute a person; for a group, its members with
// their roles, leaving it, muting it, and — shown to its admins only — adding, removing and
// banning members and renaming it. The server enforces every rule; the page only hides controls
// the user may not use, and the ones whose routes this server does not have.

import { CHATBOT_ID } from '../store.js';
import { attempt, h, presenceLabel } from './dom.js';

// The members pop-up closes on a click elsewhere, and on Escape (the focus goes back to it).
document.addEventListener('click', (event) => {
  for (const panel of document.querySelectorAll('details.members-panel[open]')) {
    if (!panel.contains(event.target)) panel.open = false;
  }
});
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  for (const panel of document.querySelectorAll('details.members-panel[open]')) {
    panel.open = false;
    panel.querySelector('summary').focus();
  }
});

// The group whose members pop-up is open. The header is rebuilt whenever the group changes (a
// member joins, a role changes, the member list first arrives), and the pop-up must stay open
// through that rather than close under the user's pointer.
let openMembersOf = null;

/** Fills `title`, `subtitle` and `tools` for `conv`. */
export function renderHeader(store, chat, conv, { title, subtitle, tools }) {
  const error = h('span', { class: 'error', role: 'alert' });
  if (conv.kind === 'private') {
    const user = store.users.get(conv.peerId);
    title.textContent = user ? user.display_name || user.username : '…';
    const blocked = store.blocked.has(conv.peerId);
    subtitle.textContent = conv.peerId === CHATBOT_ID
      ? 'the built-in chatbot'
      : blocked ? `@${user?.username ?? ''} · blocked`
        : presenceLabel(store.contacts.get(conv.peerId)) || `@${user?.username ?? ''}`;
    if (conv.peerId === CHATBOT_ID) {
      tools.replaceChildren();
      return;
    }
    tools.replaceChildren(...[
      muteButton(store, chat, conv, error, 'PUT /users/{}/mute'),
      h('button', {
        type: 'button', class: 'secondary', 'aria-pressed': String(blocked), dataset: { testid: 'block' },
        onclick: () => attempt(error, () => chat.setBlocked(conv.peerId, !blocked)),
      }, blocked ? 'Unblock' : 'Block'),
      error].filter(Boolean));
    return;
  }
  const group = store.groups.get(conv.groupId);
  title.textContent = `# ${group?.name ?? ''}`;
  const members = group?.members ?? [];
  const names = members.map((member) => member.user.username);
  subtitle.textContent = names.length ? names.join(', ') : '';
  const admin = members.some((m) => m.user.id === store.me.id && m.role === 'admin');
  tools.replaceChildren(...[
    membersPanel(store, chat, conv.groupId, members, admin, error),
    admin ? addMemberForm(store, chat, conv.groupId, new Set(names), error) : null,
    muteButton(store, chat, conv, error, 'PUT /groups/{}/mute'),
    h('button', {
      type: 'button', class: 'secondary danger', dataset: { testid: 'leave-group' },
      onclick: () => attempt(error, () => chat.leave(conv.groupId)),
    }, 'Leave group'),
    error].filter(Boolean));
}

function muteButton(store, chat, conv, error, route) {
  if (!store.features.has(route)) return null;
  const muted = Boolean(conv.mutedUntil) && (conv.mutedUntil === 'forever' || Date.parse(conv.mutedUntil) > Date.now());
  return h('button', {
    type: 'button', class: 'secondary', 'aria-pressed': String(muted), dataset: { testid: 'mute' },
    onclick: () => attempt(error, () => chat.setMuted(conv, !muted)),
  }, muted ? 'Unmute' : 'Mute');
}

/** Members with their roles; admins also get remove / ban buttons and the rename form. */
function membersPanel(store, chat, groupId, members, admin, error) {
  const canBan = store.features.has('PUT /groups/{}/bans/{}');
  const rows = members.map((member) => {
    const self = member.user.id === store.me.id;
    const name = member.user.display_name || member.user.username;
    return h('li', { dataset: { testid: 'member', username: member.user.username } },
      h('span', {}, `${name}${self ? ' (you)' : ''}`),
      h('span', { class: `role ${member.role}` }, member.role),
      admin && !self ? h('button', {
        type: 'button', class: 'secondary small', dataset: { testid: 'member-remove' },
        'aria-label': `Remove ${name} from the group`,
        onclick: () => attempt(error, () => chat.removeMember(groupId, member.user.id)),
      }, 'Remove') : null,
      admin && !self && canBan ? h('button', {
        type: 'button', class: 'secondary small danger', dataset: { testid: 'member-ban' },
        'aria-label': `Ban ${name} from the group`,
        onclick: () => attempt(error, () => chat.removeMember(groupId, member.user.id, { ban: true })),
      }, 'Ban') : null);
  });
  const rename = admin ? renameForm(store, chat, groupId, error) : null;
  return h('details', {
    class: 'members-panel',
    open: openMembersOf === groupId,
    ontoggle: (event) => {
      if (event.target.open) openMembersOf = groupId;
      else if (openMembersOf === groupId && event.target.isConnected) openMembersOf = null;
    },
  },
    h('summary', {}, `Members (${members.length})`),
    h('div', { class: 'members-popup' }, h('ul', { class: 'member-list' }, ...rows), rename));
}

function renameForm(store, chat, groupId, error) {
  const input = h('input', {
    'aria-label': 'new group name', required: true, maxlength: 64,
    value: store.groups.get(groupId)?.name ?? '', dataset: { testid: 'group-name' },
  });
  return h('form', {
    class: 'inline',
    onsubmit: (event) => {
      event.preventDefault();
      attempt(error, () => chat.renameGroup(groupId, input.value.trim()));
    },
  }, input, h('button', { type: 'submit', class: 'secondary', dataset: { testid: 'group-rename' } }, 'Rename'));
}

/** Admins add members from their contacts. */
function addMemberForm(store, chat, groupId, memberNames, error) {
  const candidates = [...store.contacts.values()].filter((c) => !memberNames.has(c.user.username));
  if (!candidates.length) return null;
  const select = h('select', { 'aria-label': 'contact to add' },
    ...candidates.map((c) => h('option', { value: c.user.id }, c.user.username)));
  return h('form', {
    class: 'inline',
    onsubmit: (event) => {
      event.preventDefault();
      attempt(error, () => chat.addMember(groupId, select.value));
    },
  }, select, h('button', { type: 'submit', class: 'secondary', dataset: { testid: 'member-add' } }, 'Add member'));
}
