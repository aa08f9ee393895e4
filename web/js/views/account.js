// The account panel (a modal dialog; Escape closes it): notifications, the login sessions (end
// one), changing the password, exporting my data and deleting the account. Each part is shown only
// when the server has its route (Api.features), so an older server gets a smaller panel.

import { enablePush, pushAvailable } from '../push.js';
import { attempt, h, timeLabel } from './dom.js';

/** Opens the panel. `onGone()` runs after the account was deleted. */
export async function openAccount(chat, onGone) {
  const { api, store } = chat;
  const features = await api.features();
  const error = h('p', { class: 'error', role: 'alert' });
  const close = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Close');
  const sections = [];

  if (await pushAvailable(api, features)) {
    const state = h('span', { role: 'status' });
    sections.push(section('Notifications',
      h('p', {}, 'Get a notification for new messages while this page is closed.'),
      h('button', {
        type: 'button', dataset: { testid: 'push-enable' },
        onclick: () => attempt(error, async () => { await enablePush(api); state.textContent = 'Notifications are on.'; }),
      }, 'Enable notifications'), state));
  }

  if (features.has('GET /sessions')) {
    const list = h('ul', { class: 'sessions', dataset: { testid: 'sessions' } });
    const load = async () => {
      const sessions = await api.sessions();
      list.replaceChildren(...sessions.map((s) => h('li', {},
        h('span', {}, `${s.user_agent ? shortAgent(s.user_agent) : 'unknown device'} · since ${timeLabel(s.created_at)} · last used ${timeLabel(s.last_used_at)}`),
        s.current ? h('strong', {}, ' (this one)') : h('button', {
          type: 'button', class: 'secondary small', dataset: { testid: 'session-end' },
          onclick: () => attempt(error, async () => { await api.endOtherSession(s.id); await load(); }),
        }, 'End'))));
    };
    attempt(error, load);
    sections.push(section('Where you are logged in', list));
  }

  if (features.has('POST /auth/password')) {
    const current = h('input', { type: 'password', autocomplete: 'current-password', required: true, dataset: { testid: 'password-current' } });
    const next = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 72, dataset: { testid: 'password-new' } });
    const done = h('span', { role: 'status' });
    sections.push(section('Change password', h('form', {
      class: 'stack',
      onsubmit: (event) => {
        event.preventDefault();
        attempt(error, async () => {
          await api.changePassword(current.value, next.value);
          current.value = '';
          next.value = '';
          done.textContent = 'Password changed; your other sessions were logged out.';
        });
      },
    }, h('label', {}, 'Current password', current), h('label', {}, 'New password (8+ characters)', next),
    h('button', { type: 'submit', dataset: { testid: 'password-change' } }, 'Change password'), done)));
  }

  if (features.has('GET /users/me/export')) {
    sections.push(section('Your data', h('button', {
      type: 'button', class: 'secondary', dataset: { testid: 'export' },
      onclick: () => attempt(error, async () => {
        const data = await api.exportData();
        const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
        const link = h('a', { href: url, download: `simplechat-${store.me.username}.json`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      }),
    }, 'Download everything (JSON)')));
  }

  if (features.has('DELETE /users/me')) {
    const password = h('input', { type: 'password', autocomplete: 'current-password', required: true, dataset: { testid: 'delete-password' } });
    sections.push(section('Delete account', h('form', {
      class: 'stack',
      onsubmit: (event) => {
        event.preventDefault();
        attempt(error, async () => {
          await api.deleteAccount(password.value);
          dialog.close();
          onGone();
        });
      },
    }, h('p', {}, 'Your messages stay in others\' histories, signed "Deleted account". This cannot be undone.'),
    h('label', {}, 'Password', password),
    h('button', { type: 'submit', class: 'danger', dataset: { testid: 'account-delete' } }, 'Delete my account'))));
  }

  if (!sections.length) sections.push(h('p', {}, 'This server offers no account settings besides logging out.'));
  const dialog = h('dialog', { class: 'account', 'aria-labelledby': 'account-title', dataset: { testid: 'account-panel' } },
    h('header', {}, h('h2', { id: 'account-title' }, `Account: ${store.me.username}`), close),
    ...sections, error);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function section(title, ...children) {
  return h('section', {}, h('h3', {}, title), ...children);
}

function shortAgent(agent) {
  const match = agent.match(/(Firefox|Edg|Chrome|Safari)\/[\d.]+/);
  return match ? match[0].split('/')[0].replace('Edg', 'Edge') : agent.slice(0, 40);
}
