// The REST client: every call the page makes to /api/v1 goes through `Api.request`.
//
// It also owns the session. The token pair is kept in localStorage (so a reload stays logged in),
// the access token is refreshed a minute before it expires, and a request answered 401 is retried
// once after a refresh. Refresh tokens are single use and presenting one twice ends the session
// (docs/api.md, "Tokens and sessions"), so tabs sharing the storage must never refresh with the
// same token: a refresh runs under a Web Lock and first looks whether another tab already did it.

const STORAGE_KEY = 'simplechat.session';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

/** A failed request: the HTTP status and the contract's `{code, message}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  /** `onSessionEnded(reason)` is called once the tokens are gone (logout, revoked, expired). */
  constructor({ onSessionEnded }) {
    this.onSessionEnded = onSessionEnded;
    this.session = readStoredSession();
    this.refreshing = null;
    this.refreshTimer = null;
    // Another tab logged in, refreshed or logged out: follow it.
    window.addEventListener('storage', (event) => {
      if (event.key !== STORAGE_KEY) return;
      const stored = readStoredSession();
      if (!stored && this.session) this.endSession('logged out in another tab');
      else if (stored) this.adopt(stored);
    });
    if (this.session) this.scheduleRefresh();
  }

  get user() {
    return this.session?.user ?? null;
  }

  // --- accounts -------------------------------------------------------------------------------

  async register(username, password) {
    await this.request('POST', '/auth/register', { username, password }, { auth: false });
    return this.login(username, password);
  }

  async login(username, password) {
    const pair = await this.request('POST', '/auth/login', { username, password }, { auth: false });
    this.adopt(sessionFrom(pair), { store: true });
    return pair.user;
  }

  /** Ends the session on the server (its sockets close too), then forgets it here. */
  async logout() {
    try {
      await this.request('POST', '/auth/logout');
    } finally {
      this.endSession(null);
    }
  }

  // --- resources (docs/api.md, "REST routes") ------------------------------------------------

  wsTicket() { return this.request('POST', '/auth/ws-ticket'); }
  userById(userId) { return this.request('GET', `/users/${userId}`); }
  contacts() { return this.request('GET', '/contacts'); }
  addContact(username) { return this.request('POST', '/contacts', { username }); }
  conversations() { return this.request('GET', '/conversations'); }
  groups() { return this.request('GET', '/groups'); }
  publicGroups() { return this.request('GET', '/groups/public'); }
  group(groupId) { return this.request('GET', `/groups/${groupId}`); }
  createGroup(name, memberIds = []) {
    return this.request('POST', '/groups', { name, member_ids: memberIds });
  }
  addMember(groupId, userId) {
    return this.request('POST', `/groups/${groupId}/members`, { user_id: userId });
  }
  joinGroup(groupId) { return this.request('POST', `/groups/${groupId}/join`); }
  renameGroup(groupId, name) { return this.request('PATCH', `/groups/${groupId}`, { name }); }
  removeMember(groupId, userId) { return this.request('DELETE', `/groups/${groupId}/members/${userId}`); }
  ban(groupId, userId) { return this.request('PUT', `/groups/${groupId}/bans/${userId}`); }

  // --- messages v1.1: edits, deletes, reactions, search, blocks ---------------------------------

  editMessage(id, content) { return this.request('PATCH', `/messages/${id}`, { content }); }
  deleteMessage(id) { return this.request('DELETE', `/messages/${id}`); }
  react(id, emoji, on) {
    return this.request(on ? 'PUT' : 'DELETE', `/messages/${id}/reactions/${encodeURIComponent(emoji)}`);
  }
  search(q, { before, limit = 30 } = {}) {
    const query = new URLSearchParams({ q, limit: String(limit) });
    if (before) query.set('before', before);
    return this.request('GET', `/messages/search?${query}`);
  }
  blocked() { return this.request('GET', '/users/blocked'); }
  block(userId, on) { return this.request(on ? 'PUT' : 'DELETE', `/users/${userId}/block`); }

  // --- v1.2: mute, account, push (each used only when the server lists its route) ---------------

  mute(address, on) {
    const path = address.group_id ? `/groups/${address.group_id}/mute` : `/users/${address.user_id}/mute`;
    return on ? this.request('PUT', path, {}) : this.request('DELETE', path);
  }
  sessions() { return this.request('GET', '/sessions'); }
  endOtherSession(id) { return this.request('DELETE', `/sessions/${id}`); }
  changePassword(current, next) {
    return this.request('POST', '/auth/password', { current_password: current, new_password: next });
  }
  exportData() { return this.request('GET', '/users/me/export'); }
  deleteAccount(password) { return this.request('DELETE', '/users/me', { password }); }
  vapidKey() { return this.request('GET', '/push/vapid-public-key', undefined, { auth: false }); }
  subscribePush(subscription) { return this.request('POST', '/push/subscriptions', subscription); }

  /**
   * Which routes this server has, from its OpenAPI document: `has('PUT /groups/{}/mute')`. The
   * page hides what the server it talks to cannot do (an older server, or one without a feature).
   */
  async features() {
    if (!this.featureSet) {
      this.featureSet = fetch('/openapi.json')
        .then((response) => (response.ok ? response.json() : { paths: {} }))
        .catch(() => ({ paths: {} }))
        .then((spec) => {
          const set = new Set();
          for (const [path, methods] of Object.entries(spec.paths ?? {})) {
            const plain = path.replace(/^\/api\/v1/, '').replace(/\{[^}]*\}/g, '{}');
            for (const method of Object.keys(methods)) set.add(`${method.toUpperCase()} ${plain}`);
          }
          return { has: (route) => set.has(route) };
        });
    }
    return this.featureSet;
  }

  /** The current access token, refreshed first when needed (for uploads and downloads). */
  async accessToken() {
    await this.freshSession();
    if (!this.session) throw new ApiError(401, 'unauthorized', 'not logged in');
    return this.session.access_token;
  }

  /** A protected file (an attachment or its thumbnail) as a Blob. */
  async blob(path) {
    const response = await fetch(`/api/v1${path}`, {
      headers: { Authorization: `Bearer ${await this.accessToken()}` },
    });
    if (!response.ok) throw new ApiError(response.status, 'error', `download failed (${response.status})`);
    return response.blob();
  }

  /** One page of history, ascending by seq; `beforeSeq` pages back (docs/api-notes.md). */
  history(address, { beforeSeq, changedAfter, afterSeq, limit = 50 } = {}) {
    const base = address.group_id
      ? `/groups/${address.group_id}/messages`
      : `/messages/private/${address.user_id}`;
    const query = new URLSearchParams({ limit: String(limit) });
    if (beforeSeq) query.set('before_seq', String(beforeSeq));
    if (afterSeq) query.set('after_seq', String(afterSeq));
    if (changedAfter !== undefined) query.set('changed_after', String(changedAfter));
    return this.request('GET', `${base}?${query}`);
  }

  // --- the request itself ----------------------------------------------------------------------

  async request(method, path, body, { auth = true, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      await this.freshSession();
      if (!this.session) throw new ApiError(401, 'unauthorized', 'not logged in');
      headers.Authorization = `Bearer ${this.session.access_token}`;
    }
    const response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && auth && !retried && this.session) {
      // The access token was refused (expired early, clock skew): one refresh, one retry.
      await this.refresh();
      return this.request(method, path, body, { auth, retried: true });
    }
    const payload = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, payload?.code ?? 'error', payload?.message ?? response.statusText);
    }
    return payload;
  }

  // --- tokens ------------------------------------------------------------------------------------

  /** Refreshes first when the access token is about to expire, so requests rarely see a 401. */
  async freshSession() {
    if (this.session && Date.now() > this.session.expires_at - REFRESH_MARGIN_MS) {
      await this.refresh();
    }
  }

  /** One refresh at a time in this tab, and (with Web Locks) across the tabs of this origin. */
  refresh() {
    if (!this.refreshing) {
      const run = () => this.refreshOnce();
      const locked = navigator.locks
        ? navigator.locks.request('simplechat-refresh', run)
        : run();
      this.refreshing = locked.finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  async refreshOnce() {
    const before = this.session;
    if (!before) return;
    // Another tab may have refreshed while we waited for the lock: its tokens are the live ones.
    const stored = readStoredSession();
    if (stored && stored.refresh_token !== before.refresh_token) {
      this.adopt(stored);
      return;
    }
    let pair;
    try {
      pair = await this.request('POST', '/auth/refresh', { refresh_token: before.refresh_token },
        { auth: false });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.endSession('your session has ended');
      throw err;
    }
    this.adopt(sessionFrom(pair), { store: true });
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    if (!this.session) return;
    const wait = Math.max(this.session.expires_at - REFRESH_MARGIN_MS - Date.now(), 1_000);
    // A failed refresh (server restarting) is tried again by the next request or timer.
    this.refreshTimer = setTimeout(() => {
      this.refresh().catch(() => { this.refreshTimer = setTimeout(() => this.scheduleRefresh(), 5_000); });
    }, wait);
  }

  adopt(session, { store = false } = {}) {
    this.session = session;
    if (store) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    this.scheduleRefresh();
  }

  /** Forgets the tokens; `reason` (a sentence, or null for a plain logout) is shown to the user. */
  endSession(reason) {
    if (!this.session) return;
    this.session = null;
    clearTimeout(this.refreshTimer);
    localStorage.removeItem(STORAGE_KEY);
    this.onSessionEnded(reason);
  }
}

function sessionFrom(pair) {
  return {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + pair.expires_in * 1000,
    user: pair.user,
  };
}

function readStoredSession() {
  try {
    const session = JSON.parse(localStorage.getItem(STORAGE_KEY));
    return session?.refresh_token ? session : null;
  } catch {
    return null;
  }
}
