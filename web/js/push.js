// Notifications (docs/api.md, "Push notifications"): the "enable notifications" button registers
// the service worker (/sw.js, or /assets/sw.js, whichever the server has; it shows the
// notifications and, on a click, opens `/#u:<user id>` or `/#g:<group id>`, or posts
// `{type: 'open', conversation}` to an open page), subscribes with the server's VAPID key and
// hands the subscription to the server.
// Everything here is optional: without the routes, the service worker or browser support, the
// button is not offered.

let workerUrl = null;

/** True when this browser and this server can do push. */
export async function pushAvailable(api, features) {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) return false;
  if (!features.has('POST /push/subscriptions') || !features.has('GET /push/vapid-public-key')) return false;
  for (const url of ['/sw.js', '/assets/sw.js']) {
    try {
      const response = await fetch(url, { cache: 'no-store' });
      if (response.ok) {
        workerUrl = url;
        return true;
      }
    } catch {
      // not there: try the next
    }
  }
  return false;
}

/** Asks for permission, subscribes and registers the subscription; resolves when done. */
export async function enablePush(api) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('notifications were not allowed');
  const registration = await navigator.serviceWorker.register(workerUrl ?? '/sw.js');
  await navigator.serviceWorker.ready;
  const { public_key: key } = await api.vapidKey();
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true, applicationServerKey: fromBase64Url(key),
  });
  const json = subscription.toJSON();
  await api.subscribePush({ endpoint: json.endpoint, keys: json.keys });
  return subscription;
}

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
