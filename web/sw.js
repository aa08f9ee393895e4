// simplechat's service worker: shows a notification for each Web Push and opens the right
// conversation when one is clicked. Served at /sw.js so that its scope is the whole site.
//
// The page registers it and subscribes after the user asks for notifications:
//   const reg = await navigator.serviceWorker.register('/sw.js');
//   const { public_key } = await (await fetch('/api/v1/push/vapid-public-key')).json();
//   const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: public_key });
//   POST /api/v1/push/subscriptions with sub.toJSON()
//
// A push's decrypted payload is JSON:
//   {type: "message", conversation: {kind, user_id | group_id}, message_id, seq, sender_name,
//    preview, unread}

'use strict';

/** "user:<id>" or "group:<id>": one notification per conversation (a newer one replaces it). */
function conversationKey(conversation) {
  if (!conversation) return 'simplechat';
  return conversation.group_id ? `group:${conversation.group_id}` : `user:${conversation.user_id}`;
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = {};
  }
  if (payload.type !== 'message') return;
  const unread = Number(payload.unread) || 1;
  const sender = payload.sender_name || 'Someone';
  const title = unread > 1 ? `${sender} (${unread} new messages)` : sender;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: payload.preview || '',
      tag: conversationKey(payload.conversation),
      renotify: true,
      icon: '/assets/favicon.svg',
      data: { conversation: payload.conversation, message_id: payload.message_id, seq: payload.seq },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  // The page's own address for a conversation (web/js/store.js keyOf): `u:<user id>` or `g:<group id>`.
  const conversation = data.conversation;
  const pageKey = conversation?.group_id ? `g:${conversation.group_id}` : conversation ? `u:${conversation.user_id}` : '';
  const url = pageKey ? `/#${pageKey}` : '/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin === self.location.origin) {
          // An open page switches to the conversation itself; no reload.
          client.postMessage({ type: 'open', conversation: data.conversation });
          return client.focus();
        }
      }
      return self.clients.openWindow(url);
    })(),
  );
});
