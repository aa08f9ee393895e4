// The search box: finds messages in every conversation I am in (GET /messages/search); a result
// opens its conversation scrolled to the message. Escape clears the box and the results.

import { keyOf } from '../store.js';
import { h, timeLabel } from './dom.js';

const DEBOUNCE_MS = 300;

/** Builds the box and its result list; returns the element. */
export function createSearch(chat) {
  let timer = null;
  let asked = 0;
  const results = h('ul', { class: 'search-results', 'aria-label': 'Search results', hidden: true });
  const status = h('p', { class: 'search-status', role: 'status' });
  const input = h('input', {
    type: 'search', placeholder: 'Search messages', 'aria-label': 'Search messages',
    maxlength: 256, dataset: { testid: 'search-input' },
    oninput: () => { clearTimeout(timer); timer = setTimeout(run, DEBOUNCE_MS); },
    onkeydown: (event) => {
      if (event.key === 'Enter') { event.preventDefault(); clearTimeout(timer); run(); }
      if (event.key === 'Escape') { input.value = ''; clear(); }
    },
  });

  function clear() {
    asked += 1;
    results.hidden = true;
    results.replaceChildren();
    status.textContent = '';
  }

  async function run(before) {
    const q = input.value.trim();
    if (!q) { clear(); return; }
    const mine = before ? asked : ++asked;
    status.textContent = 'Searching…';
    try {
      const page = await chat.search(q, before);
      if (mine !== asked) return;
      results.querySelector('.more')?.remove();
      if (!before) results.replaceChildren();
      results.append(...page.items.map((message) => h('li', {}, h('button', {
        type: 'button', class: 'search-result', dataset: { testid: 'search-result', seq: String(message.seq) },
        onclick: () => chat.showMessage(keyOf(message.conversation), message.seq).catch((err) => chat.tell(err)),
      },
      h('span', { class: 'where' }, `${where(chat.store, message)} · ${timeLabel(message.created_at)}`),
      h('span', { class: 'text' }, `${chat.store.displayName(message.sender_id)}: ${message.content}`)))));
      if (page.has_more && page.items.length) {
        const last = page.items.at(-1).id;
        results.append(h('li', { class: 'more' }, h('button', {
          type: 'button', class: 'secondary small', onclick: () => run(last),
        }, 'More results')));
      }
      const count = results.querySelectorAll('[data-testid="search-result"]').length;
      status.textContent = count ? `${count}${page.has_more ? '+' : ''} result${count === 1 ? '' : 's'}` : 'No messages found';
      results.hidden = !count;
    } catch (err) {
      if (mine === asked) status.textContent = err.message;
    }
  }

  return h('div', { class: 'search', role: 'search' }, input, status, results);
}

function where(store, message) {
  const c = message.conversation;
  if (c.group_id) return `# ${store.groups.get(c.group_id)?.name ?? 'group'}`;
  return store.displayName(c.user_id);
}
