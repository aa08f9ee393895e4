// The WebSocket (docs/websocket.md): one per tab.
//
// Connecting takes a fresh single-use ticket every time (`POST /auth/ws-ticket`, then
// `GET /ws?ticket=`); the connection is usable once `ready` arrives. While open, a `ping` goes out
// every `heartbeat_interval_ms` (browsers cannot send protocol pings, and a silent socket is
// closed by the server). Requests carry an `id` and their reply (`ack`, `messages`, `pong`,
// `presence_state` or `error`) is matched back to them; everything else is a push.
//
// When the connection drops, for whatever reason, it is opened again after a back-off that
// doubles from 0.5 s to 15 s, each wait randomised by ±50% so a restarted server is not hit by
// every client at once. When the browser says it is back online, the wait is cut short. Only
// close code 4001 (session revoked) stops the retries.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
/** A connection that has not said `ready` by then is given up and retried. */
const READY_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const SESSION_REVOKED = 4001;

/** The connection closed (or never opened) before the request got its reply. */
export class SocketClosed extends Error {}

/** An `error` frame answering a request: `code` and `message` as in the contract. */
export class FrameError extends Error {
  constructor({ code, message }) {
    super(message);
    this.code = code;
  }
}

export class ChatSocket {
  /**
   * getTicket(): resolves to `{ticket}`; onReady(readyFrame); onPush(frame);
   * onStatus('connecting' | 'online' | 'offline'); onSessionRevoked().
   */
  constructor({ getTicket, onReady, onPush, onStatus, onSessionRevoked }) {
    Object.assign(this, { getTicket, onReady, onPush, onStatus, onSessionRevoked });
    this.ws = null;
    this.live = false;
    this.stopped = true;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map(); // request id -> {resolve, reject, timer}
    this.timers = {};
    this.onOnline = () => {
      if (this.timers.retry && !this.ws && !this.stopped) {
        clearTimeout(this.timers.retry);
        this.timers.retry = null;
        this.connect();
      }
    };
  }

  get isLive() {
    return this.live;
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    Object.values(this.timers).forEach(clearTimeout);
    clearInterval(this.heartbeat);
    this.ws?.close(1000, 'bye');
    this.ws = null;
    this.live = false;
  }

  /** Sends a request frame and resolves with its reply; rejects with FrameError or SocketClosed. */
  request(frame) {
    if (!this.live) return Promise.reject(new SocketClosed('not connected'));
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SocketClosed('no reply in time'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** Sends a frame that gets no reply (`typing`, `read`); false when not connected. */
  notify(frame) {
    if (!this.live) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  async connect() {
    this.timers.retry = null;
    if (this.stopped) return;
    this.onStatus('connecting');
    let ticket;
    try {
      ({ ticket } = await this.getTicket());
    } catch {
      // The server is down or restarting, or the session ended (the API reports that itself).
      this.retryLater();
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    this.timers.ready = setTimeout(() => ws.close(), READY_TIMEOUT_MS);
    ws.onmessage = (event) => this.receive(ws, event.data);
    ws.onclose = (event) => this.closed(ws, event.code);
  }

  receive(ws, data) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === 'ready') {
      clearTimeout(this.timers.ready);
      this.live = true;
      this.attempt = 0;
      this.startHeartbeat(frame.heartbeat_interval_ms);
      this.onStatus('online');
      this.onReady(frame);
      return;
    }
    const waiting = frame.id != null && this.pending.get(frame.id);
    if (waiting) {
      this.pending.delete(frame.id);
      clearTimeout(waiting.timer);
      if (frame.type === 'error') waiting.reject(new FrameError(frame.error));
      else waiting.resolve(frame);
      return;
    }
    this.onPush(frame);
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    clearTimeout(this.timers.ready);
    clearInterval(this.heartbeat);
    this.ws = null;
    this.live = false;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new SocketClosed(`closed (${code})`));
    }
    this.pending.clear();
    if (code === SESSION_REVOKED) {
      this.stopped = true;
      this.onSessionRevoked();
      return;
    }
    this.retryLater();
  }

  retryLater() {
    if (this.stopped) return;
    this.onStatus('offline');
    const base = Math.min(FIRST_RETRY_MS * 2 ** this.attempt, MAX_RETRY_MS);
    this.attempt += 1;
    const wait = base * (0.5 + Math.random());
    this.timers.retry = setTimeout(() => this.connect(), wait);
  }

  startHeartbeat(intervalMs) {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      this.request({ type: 'ping' }).catch(() => {});
    }, intervalMs);
  }
}
