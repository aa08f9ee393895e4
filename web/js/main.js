// The web client's entry point: shows the login screen, or the chat once there is a session
// (kept across reloads by the API), and goes back to the login screen when the session ends.
//
// Files, by job: api.js (REST and tokens), socket.js (the WebSocket: tickets, heartbeat,
// requests, reconnecting), store.js (what the page knows), chat.js (the protocol rules: sync,
// retries, read markers), views/ (drawing it).

import { Api } from './api.js';
import { Chat } from './chat.js';
import { Store } from './store.js';
import { renderAuth } from './views/auth.js';
import { createConversationView } from './views/conversation.js';
import { h } from './views/dom.js';
import { createSidebar } from './views/sidebar.js';

const root = document.getElementById('app');
const store = new Store();
let chat = null;
let unsubscribe = null;

const api = new Api({ onSessionEnded: (reason) => showLogin(reason) });

function showLogin(reason) {
  chat?.stop();
  chat = null;
  unsubscribe?.();
  store.reset(null);
  renderAuth(root, api, showChat, reason);
}

function showChat() {
  store.reset(api.user);
  chat = new Chat(api, store);
  const sidebar = h('aside', { class: 'sidebar' });
  const main = h('div', { class: 'main' });
  const layout = h('div', { class: 'layout' }, sidebar, main);
  root.replaceChildren(layout);
  const current = chat;
  // Stop first: the logout's own `session_revoked` push must not read as "ended elsewhere".
  const logout = () => {
    current.stop();
    current.api.logout().catch(() => {});
  };
  const gone = () => {
    current.stop();
    current.api.endSession('your account was deleted');
  };
  const drawSidebar = createSidebar(sidebar, current, logout, gone);
  const drawConversation = createConversationView(main, current);
  unsubscribe = store.subscribe((state) => {
    layout.classList.toggle('conversation-open', Boolean(state.open));
    // The tab's title counts unread messages, so a tab in the background shows them.
    const unread = [...state.conversations.values()].reduce((sum, conv) => sum + state.unread(conv), 0);
    document.title = unread ? `(${unread}) simplechat` : 'simplechat';
    drawSidebar(state);
    drawConversation(state);
  });
  store.changed();
  chat.start();
}

if (api.user) showChat();
else showLogin(null);
