// Small DOM helpers. Elements are built with `h()`, never from HTML strings, so a message's text
// can never turn into markup (and the CSP forbids inline handlers anyway).

/** h('button', {class: 'x', onclick: fn, dataset: {testid: 'send'}}, 'Send') */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name in el && typeof value !== 'string') el[name] = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  el.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return el;
}

/** "14:05" today, "3 Dec 14:05" before. */
export function timeLabel(iso) {
  const date = new Date(iso);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

/** What a contact's status line says. */
export function presenceLabel(contact) {
  if (!contact) return '';
  if (contact.online) return 'online';
  return contact.last_seen_at ? `last seen ${timeLabel(contact.last_seen_at)}` : 'offline';
}

/** Runs an async action from a form, showing its error beside the form. */
export async function attempt(errorEl, action) {
  errorEl.textContent = '';
  try {
    await action();
  } catch (err) {
    errorEl.textContent = err.message;
  }
}
