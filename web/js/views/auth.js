// The login / register screen.

import { attempt, h } from './dom.js';

/** `onLoggedIn()` runs once the API holds a session. `reason` explains a session that ended. */
export function renderAuth(root, api, onLoggedIn, reason) {
  const username = h('input', {
    name: 'username', autocomplete: 'username', required: true, minlength: 3, maxlength: 32,
    placeholder: 'username', dataset: { testid: 'auth-username' },
  });
  const password = h('input', {
    name: 'password', type: 'password', autocomplete: 'current-password', required: true,
    minlength: 8, maxlength: 72, placeholder: 'password (8+ characters)',
    dataset: { testid: 'auth-password' },
  });
  const error = h('p', { class: 'error', role: 'alert' }, reason ?? '');
  const submit = (action) => (event) => {
    event.preventDefault();
    if (!username.reportValidity() || !password.reportValidity()) return;
    attempt(error, async () => {
      await action(username.value.trim(), password.value);
      onLoggedIn();
    });
  };
  const form = h('form', { class: 'auth', onsubmit: submit((u, p) => api.login(u, p)) },
    h('h1', {}, 'simplechat'),
    h('label', {}, 'Username', username),
    h('label', {}, 'Password', password),
    h('div', { class: 'row' },
      h('button', { type: 'submit', dataset: { testid: 'auth-login' } }, 'Log in'),
      h('button', {
        type: 'button', class: 'secondary', dataset: { testid: 'auth-register' },
        onclick: submit((u, p) => api.register(u, p)),
      }, 'Register')),
    error);
  root.replaceChildren(form);
  username.focus();
}
