#!/usr/bin/env python3
"""The fault suite (issue 13): two simplechat instances under steady WebSocket load, while each fault
an operator meets is injected in turn, checked against the contract (shared/API.md, "Faults (v1.1)").

Run it with tests/faults/run.sh (`make faults`), which installs what is missing and cleans up. Directly:

    fault_suite.py --bin target/debug/simplechat --tmp /tmp/some-dir [--faults kill9,redis_restart]

It starts its own Redis and its own Postgres cluster on spare loopback ports (never the shared
ones), two instances sharing database, Redis, prefix and JWT secret (MACHINE_ID unset: leased from
Redis), and real WebSocket clients: senders on one instance, their receivers on the other, both
ways. Each sender records every `ack` (message id, seq), each receiver every pushed `message`; a
receiver behaves like a careful client: it `sync`s after (re)connecting, on `resync`, and when a
seq gap lasts over a second. Every fault prints one line of figures; any failed check makes the
exit status 1. See docs/RELIABILITY.md.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cluster_failover import fault_cluster_failover
from infra import SHUTDOWN_DRAIN_S, Instance, Pids, Postgres, Redis, http, log, server_env

PASSWORD = "correct horse battery"
RETRYABLE = {"unavailable", "internal", "rate_limited"}
# A sender never has more unanswered sends than this on its connection.
WINDOW = 40
WARM_UP = 3.0
# How soon after SIGTERM /readyz must answer 503 (the drain itself lasts SHUTDOWN_DRAIN_S).
READYZ_FLIP_S = 0.5
LOAD_AFTER = 4.0
# cluster_failover moves both instances to a Redis Cluster for good: it stays last.
ALL_FAULTS = ["kill9", "redis_restart", "flushall", "postgres", "sigterm", "cluster_failover"]


def now():
    return time.monotonic()


async def rest(method, url, **kwargs):
    return await asyncio.to_thread(http, method, url, **kwargs)


class Failure(Exception):
    pass


class Msg:
    """One message a sender wants stored: retried with the same client_msg_id until acked."""

    __slots__ = ("cmid", "sender", "peer_id", "attempts", "ack_id", "ack_seq", "ack_t",
                 "ack_phase", "state", "retry_at")

    def __init__(self, cmid, sender, peer_id):
        self.cmid = cmid
        self.sender = sender
        self.peer_id = peer_id
        # [t_sent, instance tag, t_reply or None, result or None]
        self.attempts = []
        self.ack_id = None
        self.ack_seq = None
        self.ack_t = None
        self.ack_phase = None
        self.state = "new"
        self.retry_at = 0.0


class Client:
    """A user with one WebSocket: a sender, a receiver or a probe (probes do not reconnect)."""

    def __init__(self, suite, name, role, home):
        self.suite = suite
        self.name = name
        self.role = role
        self.home = home
        self.username = f"{name}_{suite.run_id}"
        self.user_id = None
        self.token = None
        self.ws = None
        self.inst = None
        self.inst_tag = None
        self.connected_at = None
        self.auto_reconnect = role != "probe"
        self.reconnecting = False
        self.connect_lock = asyncio.Lock()
        self.closing_on_purpose = False
        self.peer = None  # a sender's receiver
        self.peers = []  # a receiver's senders (user ids)
        self.held = {}  # receiver: peer id -> {seq: message id}
        self.contig = {}  # receiver: peer id -> highest seq held with nothing missing below
        self.gap_since = {}
        self.push_ids = set()
        self.push_where = {}  # message id -> (instance tag, t) of its first push
        self.syncing = {}  # peer id -> (request id, t)
        self.resyncs = []  # (t, instance tag)
        self.presence = []  # (t, user id, online)
        self.closes = []  # (t, code, instance tag)
        self.other_pushes = []  # probes: (t, message)
        self.inflight = {}  # request id -> Msg
        self.retries = []
        self.acks_t = []  # (t, instance tag)
        self.replies = {}  # request id -> future
        self.counter = 0
        self.sent = 0

    # --- setup
    async def register(self, base):
        status, _, body = await rest("POST", f"{base}/api/v1/auth/register",
                                     body={"username": self.username, "password": PASSWORD})
        if status != 201:
            raise Failure(f"register {self.username}: {status} {body}")
        self.user_id = body["id"]
        status, _, body = await rest("POST", f"{base}/api/v1/auth/login",
                                     body={"username": self.username, "password": PASSWORD})
        if status != 200:
            raise Failure(f"login {self.username}: {status} {body}")
        self.token = body["access_token"]

    async def add_contact(self, base, other):
        status, _, body = await rest("POST", f"{base}/api/v1/contacts", token=self.token,
                                     body={"username": other.username})
        if status != 201:
            raise Failure(f"{self.username} adds {other.username}: {status} {body}")

    # --- connection
    async def connect(self, inst):
        status, _, body = await rest("POST", f"{inst.base}/api/v1/auth/ws-ticket", token=self.token,
                                     timeout=4)
        if status != 201:
            raise Failure(f"ws-ticket on {inst.name}: {status} {body}")
        ws = await connect(f"{inst.ws_base}/ws?ticket={body['ticket']}", open_timeout=5,
                           ping_interval=None, close_timeout=2, max_size=2 ** 22)
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        except (ConnectionClosed, asyncio.TimeoutError) as err:
            await ws.close()
            raise Failure(f"no ready frame from {inst.name}: {err!r}") from None
        if first.get("type") != "ready":
            await ws.close()
            raise Failure(f"first frame from {inst.name} is {first}")
        self.ws = ws
        self.inst = inst
        self.inst_tag = inst.tag
        self.connected_at = now()
        asyncio.create_task(self.read(ws, inst.tag))
        asyncio.create_task(self.heartbeat(ws))
        for peer in self.peers:
            self.sync(peer, force=True)

    async def close(self):
        ws = self.ws
        if ws is not None:
            self.closing_on_purpose = True
            await ws.close()
            for _ in range(50):
                if self.ws is not ws:
                    break
                await asyncio.sleep(0.02)
            self.closing_on_purpose = False

    async def move_to(self, target):
        """Connected to `target` (closing another connection first); one connect at a time."""
        async with self.connect_lock:
            if self.ws is not None and self.inst is target:
                return
            if self.ws is not None:
                await self.close()
            await self.connect(target)

    async def reconnect(self):
        if self.reconnecting:
            return
        self.reconnecting = True
        delay = 0.2
        try:
            while not self.suite.stopping and self.ws is None:
                target = self.suite.pick_instance(self.home)
                if target is not None:
                    try:
                        async with self.connect_lock:
                            if self.ws is not None:
                                return
                            await self.connect(target)
                        return
                    except (Failure, OSError, InvalidStatus, ConnectionClosed,
                            asyncio.TimeoutError) as err:
                        self.suite.note(f"{self.name}: reconnect to {target.name} failed: {err}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        finally:
            self.reconnecting = False

    async def send_frame(self, ws, frame):
        try:
            await ws.send(json.dumps(frame))
            return True
        except ConnectionClosed:
            return False

    async def heartbeat(self, ws):
        interval = self.suite.heartbeat / 2
        while self.ws is ws and not self.suite.stopping:
            await self.send_frame(ws, {"type": "ping"})
            t = now()
            for peer, since in list(self.gap_since.items()):
                if t - since > 1.0:
                    self.sync(peer)
            await asyncio.sleep(interval)

    async def read(self, ws, tag):
        try:
            async for raw in ws:
                try:
                    self.on_frame(json.loads(raw), tag)
                except Exception as err:  # a bug here must not look like a server fault
                    self.suite.note(f"{self.name}: could not handle {raw[:200]!r}: {err!r}")
        except ConnectionClosed:
            pass
        t = now()
        rcvd = ws.protocol.close_rcvd
        self.closes.append((t, rcvd.code if rcvd is not None else 1006, tag))
        if self.ws is not ws:
            return  # not the client's connection (any more): nothing of it is outstanding
        self.ws = None
        self.inst = None
        for req, msg in list(self.inflight.items()):
            attempt = msg.attempts[-1]
            if attempt[3] is None:
                attempt[3] = "closed"
            msg.state = "retry"
            msg.retry_at = t
            self.retries.append(msg)
        self.inflight.clear()
        self.syncing.clear()
        for future in self.replies.values():
            if not future.done():
                future.set_exception(Failure("connection closed"))
        self.replies.clear()
        if self.auto_reconnect and not self.closing_on_purpose and not self.suite.stopping:
            asyncio.create_task(self.reconnect())

    def on_frame(self, frame, tag):
        kind = frame.get("type")
        t = now()
        if kind == "ack":
            self.on_ack(frame, tag, t)
        elif kind == "error":
            self.on_error(frame, tag, t)
        elif kind == "message":
            self.on_push(frame["message"], tag, t)
        elif kind == "messages":
            self.on_messages(frame, t)
        elif kind == "resync":
            self.resyncs.append((t, tag, frame.get("reason")))
            for peer in self.peers:
                self.sync(peer, force=True)
        elif kind == "presence":
            self.presence.append((t, frame.get("user_id"), frame.get("online")))
        elif kind == "presence_state":
            future = self.replies.pop(frame.get("id"), None)
            if future is not None and not future.done():
                future.set_result(frame)

    def on_ack(self, frame, tag, t):
        msg = self.inflight.pop(frame.get("id"), None)
        if msg is None:
            return
        stored = frame["message"]
        attempt = msg.attempts[-1]
        attempt[2], attempt[3] = t, "ack"
        mid = int(stored["id"])
        if msg.ack_id is None:
            msg.ack_id, msg.ack_seq, msg.ack_t = mid, stored["seq"], t
            msg.ack_phase = self.suite.phase.name if self.suite.phase else "setup"
        elif msg.ack_id != mid or msg.ack_seq != stored["seq"]:
            self.suite.dup_acks.append((msg.cmid, msg.ack_id, mid))
        msg.state = "acked"
        self.acks_t.append((t, tag))
        if len(msg.attempts) == 1:
            # A first attempt's id was generated by the instance it was sent to.
            self.suite.machine_ids.append((tag, mid & 0xFFFF, t))

    def on_error(self, frame, tag, t):
        req = frame.get("id")
        code = frame.get("error", {}).get("code")
        msg = self.inflight.pop(req, None) if req else None
        if msg is None:
            future = self.replies.pop(req, None) if req else None
            if future is not None and not future.done():
                future.set_exception(Failure(f"error {code}"))
            for peer, (sync_req, _) in list(self.syncing.items()):
                if sync_req == req:
                    del self.syncing[peer]
            return
        attempt = msg.attempts[-1]
        attempt[2], attempt[3] = t, code
        if self.suite.phase:
            self.suite.phase.errors[code] = self.suite.phase.errors.get(code, 0) + 1
            self.suite.phase.error_texts.setdefault(
                (code, frame.get("error", {}).get("message")), round(t - self.suite.t0, 2))
        if code in RETRYABLE:
            msg.state = "retry"
            msg.retry_at = t + (0.3 if code == "rate_limited" else 0.2)
            self.retries.append(msg)
        else:
            msg.state = "rejected"
            self.suite.rejected.append((msg.cmid, frame))

    def hold(self, peer, seq, mid):
        held = self.held.setdefault(peer, {})
        previous = held.get(seq)
        if previous is not None and previous != mid:
            self.suite.conflicts.append((self.name, peer, seq, previous, mid))
        held[seq] = mid
        contig = self.contig.get(peer, 0)
        while contig + 1 in held:
            contig += 1
        self.contig[peer] = contig
        if len(held) > contig:
            self.gap_since.setdefault(peer, now())
        else:
            self.gap_since.pop(peer, None)

    def on_push(self, message, tag, t):
        if message["sender_id"] == self.user_id:
            return
        if self.role == "probe":
            self.other_pushes.append((t, message))
            return
        self.suite.pushes.append((t, tag))
        mid = int(message["id"])
        if mid in self.push_ids:
            self.suite.dup_pushes.append((self.name, mid, self.push_where.get(mid), tag, round(t - self.suite.t0, 2)))
            return
        self.push_ids.add(mid)
        self.push_where[mid] = (tag, round(t - self.suite.t0, 2))
        self.hold(message["sender_id"], message["seq"], mid)

    def on_messages(self, frame, t):
        peer = frame["conversation"].get("user_id")
        for message in frame["messages"]:
            self.hold(peer, message["seq"], int(message["id"]))
        current = self.syncing.get(peer)
        if current and current[0] == frame.get("id"):
            del self.syncing[peer]
            if frame.get("has_more"):
                self.sync(peer, force=True)

    def sync(self, peer, force=False):
        ws = self.ws
        if ws is None:
            return
        current = self.syncing.get(peer)
        if current and not force and now() - current[1] < 5:
            return
        self.counter += 1
        req = f"s{self.counter}"
        self.syncing[peer] = (req, now())
        asyncio.create_task(self.send_frame(ws, {
            "type": "sync", "id": req, "conversation": {"user_id": peer},
            "after_seq": self.contig.get(peer, 0), "limit": 200}))

    async def presence_of(self, user_id, timeout=3.0):
        ws = self.ws
        if ws is None:
            raise Failure("not connected")
        self.counter += 1
        req = f"p{self.counter}"
        future = asyncio.get_running_loop().create_future()
        self.replies[req] = future
        await self.send_frame(ws, {"type": "presence", "id": req, "user_ids": [user_id]})
        frame = await asyncio.wait_for(future, timeout)
        for entry in frame.get("users", []):
            if entry.get("user_id") == user_id:
                return entry.get("online")
        return None

    # --- sending
    async def send_loop(self):
        period = 1.0 / self.suite.rate_per_sender
        next_t = now() + random.random() * period
        while not self.suite.stopping:
            delay = next_t - now()
            if delay > 0:
                await asyncio.sleep(delay)
            next_t += period
            if next_t < now() - period:
                next_t = now()  # after a stall, do not catch up in a burst
            ws = self.ws
            if ws is None or len(self.inflight) >= WINDOW:
                continue
            msg = None
            t = now()
            for i, candidate in enumerate(self.retries):
                if candidate.retry_at <= t:
                    msg = self.retries.pop(i)
                    break
            if msg is None and self.suite.load_on:
                self.sent += 1
                msg = Msg(f"{self.username}-{self.sent}", self, self.peer.user_id)
                self.suite.messages.append(msg)
            if msg is None:
                continue
            req = f"{msg.cmid}#{len(msg.attempts)}"
            msg.attempts.append([t, self.inst_tag, None, None])
            msg.state = "inflight"
            self.inflight[req] = msg
            if not await self.send_frame(ws, {
                    "type": "send", "id": req, "to": {"user_id": msg.peer_id},
                    "content": f"{msg.cmid} {'x' * 40}", "client_msg_id": msg.cmid}):
                pass  # read() requeues it when it sees the close


class Phase:
    def __init__(self, name, title):
        self.name = name
        self.title = title
        self.started = now()
        self.checks = []
        self.errors = {}
        self.error_texts = {}  # (code, message) -> first seen (s since the suite started)
        self.figures = {}
        self.recovery = None

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        mark = "ok  " if ok else "FAIL"
        log(f"  [{mark}] {name}{': ' + detail if detail else ''}")
        return ok

    @property
    def passed(self):
        return all(ok for _, ok, _ in self.checks)


class Suite:
    def __init__(self, args):
        self.args = args
        self.tmp = args.tmp
        self.binary = args.bin
        self.heartbeat = args.heartbeat
        self.run_id = secrets.token_hex(3)
        self.pids = Pids(self.tmp)
        self.redis = Redis(self.tmp, self.pids)
        self.cluster = None  # set by the cluster_failover fault
        self.pg = Postgres(self.tmp, self.pids)
        self.database = "faults"
        self.prefix = f"faults_{self.run_id}:"
        self.instances = {}
        self.clients = []
        self.senders = []
        self.receivers = []
        self.probes = {}
        self.messages = []
        self.machine_ids = []  # (instance tag, machine id, t) of first-attempt acks
        self.pushes = []  # (t, instance tag) of every push a receiver got
        self.dup_acks = []
        self.dup_pushes = []
        self.conflicts = []
        self.rejected = []
        self.notes = []
        self.load_on = False
        self.stopping = False
        self.phase = None
        self.results = []
        pairs = args.pairs
        self.rate_per_sender = args.rate / (2 * pairs)

    def note(self, text):
        self.notes.append(text)
        if self.args.verbose:
            log(f"  note: {text}")

    # --- infrastructure
    def new_instance(self, name):
        inst = Instance(self.tmp, self.pids, self.binary, name, self.env)
        inst.draining = False
        self.instances[name] = inst
        return inst

    def start_instance(self, inst):
        inst.draining = False
        inst.start()
        inst.tag = f"{inst.name}{inst.generation}"
        inst.wait_ready()
        log(f"{inst.tag} ready on 127.0.0.1:{inst.port} (pid {inst.proc.pid})")

    def pick_instance(self, home):
        preferred = self.instances.get(home)
        if preferred is not None and preferred.alive() and not preferred.draining:
            return preferred
        for name in ("A", "B", "C"):
            inst = self.instances.get(name)
            if inst is not None and inst.alive() and not inst.draining:
                return inst
        return None

    async def setup(self):
        log(f"starting Redis on 127.0.0.1:{self.redis.port} and Postgres on 127.0.0.1:{self.pg.port}")
        self.redis.start()
        await asyncio.to_thread(self.pg.init)
        await asyncio.to_thread(self.pg.start)
        self.env = server_env(self.pg, self.redis, self.database, self.prefix,
                              heartbeat=f"{int(self.heartbeat * 1000)}ms")
        a = self.new_instance("A")
        b = self.new_instance("B")
        # The first start creates the database and runs migrations; the second waits for that.
        await asyncio.to_thread(self.start_instance, a)
        await asyncio.to_thread(self.start_instance, b)
        pairs = self.args.pairs
        for direction, (src, dst) in enumerate((("A", "B"), ("B", "A"))):
            for i in range(pairs):
                sender = Client(self, f"s{src}{i}", "sender", src)
                receiver = Client(self, f"r{dst}{i}", "receiver", dst)
                sender.peer = receiver
                self.senders.append(sender)
                self.receivers.append(receiver)
        self.probes = {"A": Client(self, "pA", "probe", "A"), "B": Client(self, "pB", "probe", "B")}
        self.clients = self.senders + self.receivers + list(self.probes.values())
        for client in self.clients:
            await client.register(a.base)
        for sender in self.senders:
            await sender.add_contact(a.base, sender.peer)
            sender.peer.peers.append(sender.user_id)
        await self.probes["A"].add_contact(a.base, self.probes["B"])
        await self.probes["B"].add_contact(a.base, self.probes["A"])
        await self.rebalance()
        for sender in self.senders:
            asyncio.create_task(sender.send_loop())
        log(f"{len(self.clients)} clients connected; load {self.args.rate:.0f} msgs/s "
            f"({len(self.senders)} senders, {self.rate_per_sender:.1f}/s each), heartbeat {self.heartbeat}s")

    async def rebalance(self, timeout=30.0):
        """Every client on its home instance (probes included), connected and caught up."""
        deadline = now() + timeout
        for client in self.clients:
            while True:
                target = self.pick_instance(client.home)
                if client.ws is not None and client.inst is target:
                    break
                try:
                    if target is None:
                        raise Failure("no instance is running")
                    await client.move_to(target)
                except (Failure, OSError, InvalidStatus, ConnectionClosed, asyncio.TimeoutError) as err:
                    if now() > deadline:
                        raise Failure(f"{client.name} cannot connect: {err}") from None
                    await asyncio.sleep(0.3)

    async def baseline(self, repair):
        """Before a fault: A and B running (restarted when the last fault left them broken), C gone,
        every client home."""
        self.load_on = False
        c = self.instances.get("C")
        if c is not None and c.alive():
            c.draining = True
            await asyncio.to_thread(c.stop)
        for name in ("A", "B"):
            inst = self.instances[name]
            if repair and inst.alive():
                log(f"restarting {inst.tag} so the next fault starts from a healthy instance")
                await asyncio.to_thread(inst.stop)
            if not inst.alive():
                await asyncio.to_thread(self.start_instance, inst)
        await self.rebalance()

    # --- readiness and upgrades
    async def poll_readyz(self, inst, until, samples):
        while now() < until and not self.stopping:
            status, _, body = await rest("GET", f"{inst.base}/readyz", timeout=3)
            message = body.get("message", "") if isinstance(body, dict) else str(body)
            samples.append((now(), status, message))
            await asyncio.sleep(0.25)

    async def try_upgrade(self, inst, token):
        """A WebSocket upgrade with a Bearer token (no ticket, so Redis is not needed to try)."""
        try:
            ws = await connect(f"{inst.ws_base}/ws", additional_headers={"Authorization": f"Bearer {token}"},
                               open_timeout=4, ping_interval=None, close_timeout=1)
        except InvalidStatus as err:
            response = err.response
            try:
                body = json.loads(response.body or b"{}")
            except ValueError:
                body = {}
            return {"outcome": "refused", "status": response.status_code,
                    "retry_after": response.headers.get("Retry-After"), "code": body.get("code")}
        except (OSError, asyncio.TimeoutError) as err:
            return {"outcome": "error", "detail": repr(err)}
        frames = []
        close = None
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 1.5)).get("type"))
        except ConnectionClosed:
            close = ws.close_code
        except asyncio.TimeoutError:
            pass
        await ws.close()
        return {"outcome": "accepted", "frames": frames, "close": close}

    # --- accounting
    def undelivered(self):
        by_id = {r.user_id: r for r in self.receivers}
        missing = []
        for msg in self.messages:
            if msg.ack_id is None:
                continue
            receiver = by_id[msg.peer_id]
            if receiver.held.get(msg.sender.user_id, {}).get(msg.ack_seq) != msg.ack_id:
                missing.append(msg)
        return missing

    async def settle(self, phase):
        """Stops new messages; waits for retries to finish and for pushes and syncs to land."""
        self.load_on = False
        deadline = now() + 20
        while now() < deadline and any(s.inflight or s.retries for s in self.senders):
            await asyncio.sleep(0.1)
        unresolved = sum(len(s.inflight) + len(s.retries) for s in self.senders)
        deadline = now() + 6
        while now() < deadline and self.undelivered():
            await asyncio.sleep(0.2)
        missing_live = len(self.undelivered())
        # The audit's own catch-up: every receiver syncs every conversation to its end.
        for receiver in self.receivers:
            if receiver.ws is None:
                await receiver.reconnect()
            for peer in receiver.peers:
                receiver.sync(peer, force=True)
        deadline = now() + 10
        while now() < deadline and any(r.syncing for r in self.receivers):
            await asyncio.sleep(0.1)
        return unresolved, missing_live

    async def audit(self, phase):
        unresolved, missing_live = await self.settle(phase)
        rows = await asyncio.to_thread(
            self.pg.query, self.database,
            "SELECT m.id, m.seq, m.sender_id, m.client_msg_id FROM chat.messages m")
        stored = {}
        by_sender = {}
        pg_dups = 0
        for mid, seq, sender_id, cmid in rows:
            key = (sender_id, cmid)
            if key in stored:
                pg_dups += 1
            stored[key] = (int(mid), int(seq))
            by_sender.setdefault(sender_id, {})[int(seq)] = int(mid)
        lost_pg = []
        acked_here = 0
        stored_here = 0
        for msg in self.messages:
            if msg.ack_id is None:
                continue
            in_pg = stored.get((msg.sender.user_id, msg.cmid)) == (msg.ack_id, msg.ack_seq)
            if not in_pg:
                lost_pg.append(msg)
            if msg.ack_phase == phase.name:
                acked_here += 1
                stored_here += in_pg
        not_delivered = self.undelivered()
        order_problems = []
        for receiver in self.receivers:
            for peer in receiver.peers:
                expected = by_sender.get(peer, {})
                held = receiver.held.get(peer, {})
                if sorted(expected) != list(range(1, len(expected) + 1)):
                    order_problems.append(f"{receiver.name}: stored seqs of {peer} have gaps")
                if held != expected:
                    extra = len(set(held.items()) - set(expected.items()))
                    short = len(set(expected.items()) - set(held.items()))
                    order_problems.append(f"{receiver.name}<-{peer[:8]}: {short} missing, {extra} not stored")
        hung = 0
        hung_where = {}
        for msg in self.messages:
            for t_sent, tag, t_reply, result in msg.attempts:
                if t_sent >= phase.started and (result is None or (t_reply and t_reply - t_sent > self.args.hung_after)):
                    hung += 1
                    key = (tag, result)
                    first, last, n = hung_where.get(key, (t_sent, t_sent, 0))
                    hung_where[key] = (min(first, t_sent), max(last, t_sent), n + 1)
        hung_text = "; ".join(f"{n} sent to {tag} (then {result}) between +{first - self.t0:.1f}s and +{last - self.t0:.1f}s"
                              for (tag, result), (first, last, n) in hung_where.items())
        dups = (len([d for d in self.dup_acks]) + len(self.dup_pushes) + pg_dups)
        lost = len({id(m) for m in lost_pg} | {id(m) for m in not_delivered})
        phase.figures.update(acked=acked_here, stored=stored_here, lost=lost, duplicated=dups,
                             missing_before_catchup=missing_live, unresolved=unresolved, hung=hung)
        phase.check("every acked message is in Postgres with its id and seq",
                    not lost_pg, f"{len(lost_pg)} missing" if lost_pg else f"{len(rows)} rows")
        phase.check("every acked message reached its recipient (live, or by the client's syncs on reconnect/resync/gap)",
                    missing_live == 0, f"{missing_live} not held before the audit's catch-up")
        phase.check("after catch-up every receiver holds each conversation exactly once, seq 1..n, as stored",
                    not order_problems and not not_delivered and not self.conflicts,
                    "; ".join(order_problems[:3]) or f"{len(self.conflicts)} seq conflicts" if (order_problems or self.conflicts) else "")
        phase.check("no duplicates (acks of one client_msg_id with two ids, pushes twice, rows twice)",
                    dups == 0, f"{len(self.dup_acks)} acks, {len(self.dup_pushes)} pushes, {pg_dups} rows"
                    + (f" (first pushes twice: {self.dup_pushes[:3]})" if self.dup_pushes else ""))
        phase.check("no send rejected for another reason than unavailable/internal/rate_limited",
                    not self.rejected, str(self.rejected[:2]) if self.rejected else "")
        phase.check("no send left unanswered", unresolved == 0 and hung == 0,
                    f"{unresolved} unresolved, {hung} waited > {self.args.hung_after:g}s or never answered: {hung_text}"
                    if unresolved or hung else "")

    def machine_id_overlaps(self, since=0.0):
        """Pairs of instances that issued ids with the same machine id over overlapping times."""
        spans = {}
        for tag, mid, t in self.machine_ids:
            if t < since:
                continue
            first, last = spans.get((tag, mid), (t, t))
            spans[(tag, mid)] = (min(first, t), max(last, t))
        problems = []
        keys = sorted(spans)
        for i, (tag1, mid1) in enumerate(keys):
            for tag2, mid2 in keys[i + 1:]:
                if mid1 == mid2 and tag1 != tag2:
                    a, b = spans[(tag1, mid1)], spans[(tag2, mid2)]
                    if a[0] <= b[1] and b[0] <= a[1]:
                        problems.append(f"machine id {mid1}: {tag1} and {tag2} both issued ids "
                                        f"over {max(a[0], b[0]) - self.t0:.1f}-{min(a[1], b[1]) - self.t0:.1f}s")
        return problems

    def mids_of(self, tag, since):
        return sorted({mid for t_tag, mid, t in self.machine_ids if t_tag == tag and t >= since})

    def first_ack_after(self, clients, t0):
        """Seconds from t0 until every one of `clients` had an ack again (None if one never did)."""
        worst = 0.0
        for client in clients:
            times = [t for t, _ in client.acks_t if t > t0]
            if not times:
                return None
            worst = max(worst, min(times) - t0)
        return worst

    # --- the faults
    async def fault_kill9(self, phase):
        victim = self.instances["B"]
        watcher, probe = self.probes["A"], self.probes["B"]
        self.load_on = True
        await asyncio.sleep(WARM_UP)
        on_victim = [s for s in self.senders if s.inst is victim]
        t0 = now()
        log(f"  kill -9 {victim.tag} (pid {victim.proc.pid}); {len(on_victim)} senders and "
            f"{sum(1 for r in self.receivers if r.inst is victim)} receivers were on it")
        await asyncio.to_thread(victim.kill9)
        bound = 2 * self.heartbeat
        deadline = t0 + bound + 3
        offline_at = None
        while now() < deadline and offline_at is None:
            for t, user_id, online in watcher.presence:
                if t > t0 and user_id == probe.user_id and online is False:
                    offline_at = t - t0
                    break
            await asyncio.sleep(0.05)
        phase.check(f"{probe.name} (on the killed instance) shown offline to its contact within 2 heartbeats ({bound:.1f}s)",
                    offline_at is not None and offline_at <= bound,
                    f"after {offline_at:.2f}s" if offline_at is not None else "no presence push")
        await asyncio.sleep(max(0.0, t0 + LOAD_AFTER - now()))
        recovery = self.first_ack_after(on_victim, t0)
        phase.recovery = recovery
        phase.figures["presence_offline_s"] = round(offline_at, 2) if offline_at is not None else None
        phase.check("the killed instance's senders are acked again (reconnected elsewhere)",
                    recovery is not None, f"after {recovery:.2f}s" if recovery is not None else "never")
        await asyncio.to_thread(self.start_instance, victim)
        await self.audit(phase)

    async def fault_redis_restart(self, phase):
        a, b = self.instances["A"], self.instances["B"]
        self.load_on = True
        await asyncio.sleep(WARM_UP)
        outage = self.args.redis_outage
        open_before = [c for c in self.clients if c.ws is not None]
        samples = {"A": [], "B": []}
        t_stop = now()
        pollers = [asyncio.create_task(self.poll_readyz(inst, t_stop + outage + 15, samples[name]))
                   for name, inst in (("A", a), ("B", b))]
        log(f"  stopping Redis (port {self.redis.port}) for {outage:.0f}s")
        await asyncio.to_thread(self.redis.stop)
        await asyncio.sleep(2.5)
        upgrades = {}
        for name, inst in (("A", a), ("B", b)):
            upgrades[name] = await self.try_upgrade(inst, self.probes[name].token)
        await asyncio.sleep(max(0.0, t_stop + outage - now()))
        t_starting = now()
        await asyncio.to_thread(self.redis.start)
        t_up = now()
        log(f"  Redis answers again ({t_up - t_stop:.1f}s after the stop)")
        # Wait (at most 10 s) for pushes to flow again on both instances and for resync frames.
        resumed = {}
        deadline = t_up + 10
        while now() < deadline:
            for t, tag in reversed(self.pushes):
                if t <= t_up:
                    break
                name = tag[0]
                resumed[name] = min(resumed.get(name, t), t)
            still_open = [c for c in open_before if c.ws is not None and c.connected_at < t_stop]
            got_resync = [c for c in still_open if any(t > t_stop for t, _, _ in c.resyncs)]
            if len(resumed) == 2 and len(got_resync) == len(still_open):
                break
            await asyncio.sleep(0.1)
        # New sockets after the outage: accepted, live, and given pushes.
        ready_again = {}
        while True:
            for name in ("A", "B"):
                ok = [t for t, s, _ in samples[name] if t > t_up and s == 200]
                if ok:
                    ready_again[name] = min(ok) - t_up
            if len(ready_again) == 2 or now() > t_up + 10:
                break
            await asyncio.sleep(0.1)
        newcomers = await self.newcomers_live()
        await asyncio.sleep(max(0.0, t_up + LOAD_AFTER - now()))
        for task in pollers:
            task.cancel()
        # Checks.
        for name in ("A", "B"):
            during = [(t, s, m) for t, s, m in samples[name] if t_stop + 1.5 < t < t_starting]
            bad = [s for t, s, m in during if not (s == 503 and "redis" in m)]
            phase.check(f"/readyz on {name} is 503 naming redis during the outage",
                        during and not bad, f"{len(during)} samples, {len(bad)} otherwise: "
                        f"{sorted(set(bad))}" if bad or not during else f"{len(during)} samples")
        for name in ("A", "B"):
            u = upgrades[name]
            phase.check(f"a WebSocket upgrade on {name} during the outage gets HTTP 503 unavailable with Retry-After",
                        u["outcome"] == "refused" and u.get("status") == 503 and u.get("retry_after")
                        and u.get("code") == "unavailable", json.dumps(u))
        still_open = [c for c in open_before if c.ws is not None and c.connected_at < t_stop]
        got_resync = [c for c in still_open if any(t > t_stop and r == "live_events_interrupted"
                                                   for t, _, r in c.resyncs)]
        phase.check("every socket open through the outage got resync (live_events_interrupted)",
                    still_open and len(got_resync) == len(still_open),
                    f"{len(got_resync)} of {len(still_open)}")
        recovery = max(resumed.values()) - t_up if len(resumed) == 2 else None
        phase.recovery = recovery
        phase.check("live pushes resume on both instances within 5s of Redis answering",
                    recovery is not None and recovery <= 5.0,
                    f"after {recovery:.2f}s" if recovery is not None else
                    f"resumed on {sorted(resumed) or 'none'} within 10s")
        phase.check("/readyz is 200 again on both instances",
                    len(ready_again) == 2, ", ".join(f"{k} after {v:.1f}s" for k, v in ready_again.items()))
        # Readiness tells the truth: once /readyz says 200 again, pushes flow on that instance.
        # (Pushes to an instance's users also need the other instance's senders: measured from the
        # later of the two 200s.)
        both_ready = max(ready_again.values(), default=0.0)
        lying = [f"{name}: 200 after {ready_again[name]:.1f}s, pushes "
                 + (f"after {resumed[name] - t_up:.1f}s" if name in resumed else "never")
                 for name in ready_again
                 if name not in resumed or resumed[name] - t_up > both_ready + 3.0]
        phase.check("/readyz answers 200 only once the live feed is back (pushes flow within 3s of it)",
                    not lying, "; ".join(lying))
        phase.check("new WebSockets after the outage are accepted, stay open and get pushes",
                    newcomers == "ok", newcomers)
        # Sends while Redis is down: Postgres answers, so they are stored and acked, at least while
        # the instance can still vouch for its machine id (the first second); later ones may answer
        # `unavailable` (a send when the instance holds no machine id), but within 2 s, never hang.
        attempts = [at for m in self.messages for at in m.attempts if t_stop + 0.2 <= at[0] <= t_up]
        early = [at for at in attempts if at[0] <= t_stop + 1.0]
        acked = [at for at in attempts if at[3] == "ack"]
        unavailable = [at for at in attempts if at[3] == "unavailable"]
        other = sorted({str(at[3]) for at in attempts if at[3] not in ("ack", "unavailable")})
        slow = [at for at in attempts if at[2] is None or at[2] - at[0] > 2.5]
        early_acked = [at for at in early if at[3] == "ack"]
        phase.figures["outage_sends"] = len(attempts)
        phase.figures["outage_acked"] = len(acked)
        phase.figures["outage_unavailable"] = len(unavailable)
        if unavailable:
            phase.figures["first_unavailable_s"] = round(min(at[0] for at in unavailable) - t_stop, 2)
            for name in ("A", "B"):
                mine = sorted(at[0] - t_stop for at in unavailable if at[1] and at[1][0] == name)
                if mine:
                    self.note(f"sends to {name} answered unavailable from +{mine[0]:.2f}s after the stop ({len(mine)})")
        phase.check("sends during the outage: answered within 2.5s, acked or unavailable, never hanging",
                    attempts and not slow and not other,
                    f"{len(acked)} acked, {len(unavailable)} unavailable, {len(slow)} slower than 2.5s "
                    f"or unanswered, other results {other}")
        phase.check("sends in the outage's first second are stored and acked (>= 90%)",
                    early and len(early_acked) >= 0.9 * len(early),
                    f"{len(early_acked)} of {len(early)} acked")
        phase.check("no rate_limited burst", phase.errors.get("rate_limited", 0) == 0,
                    f"{phase.errors.get('rate_limited', 0)} rate_limited")
        await self.audit(phase)

    async def newcomers_live(self):
        """The probes reconnect with fresh tickets; each then gets a REST-sent message live."""
        pa, pb = self.probes["A"], self.probes["B"]
        try:
            for probe in (pa, pb):
                await probe.close()
                await probe.connect(self.instances[probe.home])
            await asyncio.sleep(1.0)
            for probe in (pa, pb):
                if probe.ws is None:
                    return f"{probe.name}'s new socket was closed: {probe.closes[-1:]}"
            for src, dst in ((pa, pb), (pb, pa)):
                cmid = f"probe-{secrets.token_hex(4)}"
                status, _, body = await rest(
                    "POST", f"{self.instances[src.home].base}/api/v1/messages/private/{dst.user_id}",
                    token=src.token, body={"content": "are you there?", "client_msg_id": cmid})
                if status != 201:
                    return f"REST send {src.name}->{dst.name}: {status} {body}"
                deadline = now() + 5
                while now() < deadline and not any(m.get("client_msg_id") == cmid for _, m in dst.other_pushes):
                    await asyncio.sleep(0.05)
                if not any(m.get("client_msg_id") == cmid for _, m in dst.other_pushes):
                    return f"{dst.name} (new socket on {dst.inst_tag}) got no push within 5s"
        except (Failure, OSError, InvalidStatus, ConnectionClosed, asyncio.TimeoutError) as err:
            return f"failed: {err!r}"
        return "ok"

    async def fault_flushall(self, phase):
        a, b = self.instances["A"], self.instances["B"]
        movers = [s for s in self.senders if s.home == "A"][: max(1, self.args.pairs // 2)]
        self.load_on = True
        await asyncio.sleep(WARM_UP)
        t_warm = now() - 2.0
        mids = {name: self.mids_of(self.instances[name].tag, t_warm) for name in ("A", "B")}
        if len(mids["A"]) != 1 or len(mids["B"]) != 1:
            phase.check("one machine id per instance before the flush", False, str(mids))
            await self.audit(phase)
            return
        m1, m2 = mids["A"][0], mids["B"][0]
        spare = (m1 + 1) % 65536
        while spare in (m1, m2):
            spare = (spare + 1) % 65536
        watcher, probe = self.probes["A"], self.probes["B"]
        t0 = now()
        log(f"  FLUSHALL (A holds machine id {m1}, B {m2}); then every other machine id is occupied "
            f"except {spare}, so a third instance must take {spare} unless A or B lost theirs")
        self.redis.cli("FLUSHALL")
        blockers = self.redis.cli(
            "EVAL", "local keep = {} for i = 2, #ARGV do keep[tonumber(ARGV[i])] = true end "
                    "local n = 0 for i = 0, 65535 do if not keep[i] then "
                    "redis.call('SET', ARGV[1] .. i, 'faults-blocker', 'PX', 180000) n = n + 1 end end return n",
            "0", f"{self.prefix}lease:machine_id:", str(m1), str(m2), str(spare))
        self.note(f"{blockers} machine ids occupied")
        # The machine-id leases of A and B: taken again (the same ids are free)?
        leases = asyncio.create_task(self.watch_leases({"A": m1, "B": m2}, t0, t0 + self.args.lease_wait))
        # Presence recovers: the probe on B is reported online again to its contact.
        online_at = None
        deadline = t0 + 2 * self.heartbeat + 2
        while now() < deadline and online_at is None:
            try:
                if await watcher.presence_of(probe.user_id) is True:
                    online_at = now() - t0
            except (Failure, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.25)
        phase.check("presence: a connected contact is reported online again within 2 heartbeats of the flush",
                    online_at is not None and online_at <= 2 * self.heartbeat,
                    f"after {online_at:.2f}s" if online_at is not None else "still offline")
        # Tickets work and transitions are announced again.
        t1 = now()
        await probe.close()
        offline_at = None
        deadline = t1 + 2 * self.heartbeat + 1
        while now() < deadline and offline_at is None:
            offline_at = next((t - t1 for t, u, o in watcher.presence if t > t1 and u == probe.user_id and o is False), None)
            await asyncio.sleep(0.05)
        ticket_ok = True
        t2 = now()
        try:
            await probe.connect(b)
        except (Failure, OSError, InvalidStatus, ConnectionClosed, asyncio.TimeoutError) as err:
            ticket_ok = False
            phase.check("a new ws ticket and socket work after the flush", False, repr(err))
        # (The push may arrive before connect() returns: it is looked for from the reconnect on.)
        online_push = None
        deadline = now() + 2 * self.heartbeat + 1
        while now() < deadline and online_push is None and ticket_ok:
            online_push = next((t - t2 for t, u, o in watcher.presence if t > t2 and u == probe.user_id and o is True), None)
            await asyncio.sleep(0.05)
        if ticket_ok:
            phase.check("a new ws ticket and socket work after the flush", True)
        phase.check("presence pushes after the flush: offline on close, online on reconnect",
                    offline_at is not None and online_push is not None,
                    (f"offline {offline_at:.2f}s after the close, " if offline_at is not None else "no offline push, ")
                    + (f"online {online_push:.2f}s after the reconnect" if online_push is not None else "no online push"))
        # The third instance, once A and B had time to notice (a lease renewal period).
        await asyncio.sleep(max(0.0, t0 + self.args.lease_wait - now()))
        back = await leases
        phase.recovery = max(back.values()) if len(back) == 2 else None
        phase.check("A and B hold their machine-id leases again (before a third instance starts)",
                    len(back) == 2, ", ".join(f"{k} after {v:.1f}s" for k, v in back.items())
                    or f"neither within {self.args.lease_wait:.0f}s")
        c = self.instances.get("C") or self.new_instance("C")
        # New sends pause while C starts: with every other number taken, its start-up scans up to
        # 65,533 of them, one Redis round trip each, and on a small CI machine that competes with
        # the load for the CPU. The flush itself happened under load.
        self.load_on = False
        try:
            await asyncio.to_thread(self.start_instance, c)
        except RuntimeError as err:
            phase.check("a third instance starts after the flush", False, str(err).splitlines()[0])
        self.load_on = True
        if c.alive():
            for sender in movers:
                sender.home = "C"
            await self.rebalance()
            t_c = now()
            await asyncio.sleep(LOAD_AFTER)
            window = {name: self.mids_of(self.instances[name].tag, t_c + 0.5) for name in ("A", "B", "C")}
            log(f"  machine ids in use with C running: {window}")
            flat = [mid for mids_ in window.values() for mid in mids_]
            phase.check("with three instances running, their machine ids are distinct",
                        all(window.values()) and len(flat) == len(set(flat)), str(window))
            for sender in movers:
                sender.home = "A"
            c.draining = True
            await self.rebalance()
            await asyncio.to_thread(c.stop)
        overlaps = self.machine_id_overlaps()
        phase.check("no two live instances ever issued ids with the same machine id",
                    not overlaps, "; ".join(overlaps[:3]))
        self.redis.cli(
            "EVAL", "for i = 0, 65535 do local k = ARGV[1] .. i "
                    "if redis.call('GET', k) == 'faults-blocker' then redis.call('DEL', k) end end return 0",
            "0", f"{self.prefix}lease:machine_id:")
        await self.audit(phase)

    async def watch_leases(self, mids, t0, until):
        """Seconds after t0 at which each instance's machine-id lease key exists again."""
        back = {}
        while now() < until and len(back) < len(mids):
            for name, mid in mids.items():
                if name not in back:
                    value = await asyncio.to_thread(self.redis.cli, "GET", f"{self.prefix}lease:machine_id:{mid}")
                    if value and value != "faults-blocker":
                        back[name] = now() - t0
            await asyncio.sleep(0.25)
        return back

    async def fault_postgres(self, phase):
        a, b = self.instances["A"], self.instances["B"]
        pids = {name: self.instances[name].proc.pid for name in ("A", "B")}
        self.load_on = True
        await asyncio.sleep(WARM_UP)
        outage = self.args.pg_outage
        samples = {"A": [], "B": []}
        t_stop = now()
        pollers = [asyncio.create_task(self.poll_readyz(inst, t_stop + outage + 20, samples[name]))
                   for name, inst in (("A", a), ("B", b))]
        log(f"  stopping Postgres (port {self.pg.port}) for {outage:.0f}s")
        await asyncio.to_thread(self.pg.stop, "fast")
        t_down = now()
        await asyncio.sleep(max(0.0, t_stop + outage - now()))
        t_starting = now()
        await asyncio.to_thread(self.pg.start)
        t_up = now()
        log(f"  Postgres answers again ({t_up - t_stop:.1f}s after the stop)")
        deadline = t_up + 15
        ready_again = {}
        first_ack = {}
        while now() < deadline and (len(ready_again) < 2 or len(first_ack) < 2):
            for name in ("A", "B"):
                ok = [t for t, s, _ in samples[name] if t > t_up and s == 200]
                if ok:
                    ready_again[name] = min(ok) - t_up
            for msg in self.messages:
                for at in msg.attempts:
                    if at[0] > t_up and at[3] == "ack" and at[1][0] not in first_ack:
                        first_ack[at[1][0]] = at[2] - t_up
            await asyncio.sleep(0.2)
        await asyncio.sleep(max(0.0, t_up + LOAD_AFTER - now()))
        for task in pollers:
            task.cancel()
        attempts = [at for m in self.messages for at in m.attempts if t_down + 0.2 <= at[0] <= t_up - 0.5]
        replied = [at for at in attempts if at[2] is not None]
        slow = [at for at in attempts if at[2] is None or at[2] - at[0] >= 3.0]
        unavailable = [at for at in replied if at[3] == "unavailable"]
        worst = max((at[2] - at[0] for at in replied), default=0.0)
        phase.figures["outage_sends"] = len(attempts)
        phase.figures["worst_reply_s"] = round(worst, 2)
        phase.check("sends during the outage answer quickly (< 3s), with unavailable",
                    attempts and not slow and len(unavailable) + sum(at[3] == "ack" for at in replied) == len(attempts),
                    f"{len(attempts)} sends, {len(unavailable)} unavailable, {len(slow)} slow or unanswered, "
                    f"slowest {worst:.2f}s, results {sorted({at[3] for at in attempts}, key=str)}")
        for name in ("A", "B"):
            during = [s for t, s, _ in samples[name] if t_down + 1 < t < t_starting]
            odd = [f"{s} at +{t - t_down:.2f}s ({m[:60]})" for t, s, m in samples[name]
                   if t_down + 1 < t < t_starting and s != 503]
            if odd:
                self.note(f"/readyz on {name} during the Postgres outage (t_up at +{t_up - t_down:.2f}s): {odd}")
            phase.check(f"/readyz on {name} is 503 during the outage, 200 after it, same process",
                        during and all(s == 503 for s in during) and name in ready_again
                        and self.instances[name].alive() and self.instances[name].proc.pid == pids[name],
                        f"{len(during)} samples during ({sorted(set(during))}), 200 again after "
                        f"{ready_again.get(name, float('nan')):.1f}s")
        recovery = max(first_ack.values()) if len(first_ack) == 2 else None
        phase.recovery = recovery
        phase.check("sends are acked again on both instances after Postgres is back",
                    recovery is not None, f"after {recovery:.2f}s" if recovery is not None else str(first_ack))
        await self.audit(phase)

    async def fault_sigterm(self, phase):
        victim = self.instances["B"]
        self.load_on = True
        await asyncio.sleep(WARM_UP)
        on_victim = [c for c in self.clients if c.inst is victim]
        senders_on_victim = [s for s in self.senders if s.inst is victim]
        token = next(c.token for c in self.clients if c.token)
        t0 = now()
        log(f"  SIGTERM {victim.tag} (pid {victim.proc.pid}) with {len(on_victim)} sockets on it")
        victim.draining = True
        victim.signal(signal.SIGTERM)
        # The drain: readiness and new upgrades are refused at once, open sockets still work.
        # "At once" allows the signal's delivery to the server's task (tens of milliseconds
        # under this load): poll for up to READYZ_FLIP_S, far below SHUTDOWN_DRAIN_S. A build
        # that never turns /readyz to 503 keeps answering 200 and fails.
        statuses = []
        while True:
            readyz = await rest("GET", f"{victim.base}/readyz", timeout=3)
            statuses.append(readyz[0])
            if readyz[0] == 503 or now() - t0 > READYZ_FLIP_S:
                break
            await asyncio.sleep(0.02)
        phase.check("/readyz answers 503 at once after SIGTERM", readyz[0] == 503,
                    f"status {readyz[0]} after {now() - t0:.2f}s ({len(statuses)} probes)")
        upgrade = await self.try_upgrade(victim, token)
        phase.check("a new WebSocket upgrade gets 503 with Retry-After while draining",
                    upgrade.get("status") == 503 and upgrade.get("retry_after") is not None, str(upgrade))
        drain_end = t0 + SHUTDOWN_DRAIN_S
        while now() < drain_end - 0.3:
            await asyncio.sleep(0.05)
        acked_during_drain = [t for s in senders_on_victim for t, tag in s.acks_t
                              if tag == victim.tag and t0 + 0.5 <= t < drain_end]
        early = [c.name for c in on_victim
                 if any(t0 <= t < drain_end - 0.3 and tag == victim.tag for t, _, tag in c.closes)]
        phase.check("open sockets are served during SHUTDOWN_DRAIN (sends acked, nobody closed)",
                    (acked_during_drain or not senders_on_victim) and not early,
                    f"{len(acked_during_drain)} acks; closed early: {early}")
        try:
            code = await asyncio.to_thread(victim.proc.wait, 15)
        except Exception:
            code = None
        exited = now() - t0
        if code is None:
            await asyncio.to_thread(victim.kill9)
        victim.exited_at = t0 + exited
        phase.figures["exit_s"] = round(exited, 2)
        limit = SHUTDOWN_DRAIN_S + 5.0
        phase.check(f"the instance exits within SHUTDOWN_DRAIN + 5s ({limit:.0f}s) of SIGTERM",
                    code is not None and exited <= limit, f"exit status {code} after {exited:.2f}s")
        # Let the clients' readers take in what the socket said last.
        deadline = now() + 3
        while now() < deadline and not all(
                any(t >= t0 and tag == victim.tag for t, _, tag in c.closes) for c in on_victim):
            await asyncio.sleep(0.05)
        codes = {}
        for client in on_victim:
            closes = [c for t, c, tag in client.closes if t >= t0 and tag == victim.tag]
            codes[client.name] = closes[0] if closes else None
        bad = {k: v for k, v in codes.items() if v != 1001}
        phase.check("every socket on it was closed with 1001 after the drain", on_victim and not bad,
                    f"{len(on_victim) - len(bad)} of {len(on_victim)}"
                    + (f"; others: {bad}" if bad else ""))
        await asyncio.sleep(max(0.0, t0 + LOAD_AFTER - now()))
        phase.recovery = self.first_ack_after(senders_on_victim, t0)
        await self.audit(phase)

    async def fault_cluster_failover(self, phase):
        await fault_cluster_failover(self, phase)

    # --- driver
    async def run(self):
        self.t0 = now()
        await self.setup()
        faults = self.args.faults
        titles = {"kill9": "kill -9 one instance", "redis_restart": "Redis restart",
                  "flushall": "Redis FLUSHALL, then a third instance", "postgres": "Postgres stop/start",
                  "sigterm": "SIGTERM one instance",
                  "cluster_failover": "Redis Cluster: kill -9 a master, its replica takes over"}
        repair = False
        for name in faults:
            await self.baseline(repair)
            phase = Phase(name, titles[name])
            self.phase = phase
            log(f"=== {phase.title}")
            try:
                await asyncio.wait_for(getattr(self, f"fault_{name}")(phase), self.args.fault_timeout)
            except asyncio.TimeoutError:
                phase.check(f"the fault finished within {self.args.fault_timeout:.0f}s", False)
            except (Failure, RuntimeError) as err:
                phase.check("the fault ran to its end", False, str(err))
            self.load_on = False
            phase.duration = now() - phase.started
            self.report(phase)
            self.results.append(phase)
            repair = not phase.passed
        self.stopping = True

    def report(self, phase):
        f = phase.figures
        rec = f"{phase.recovery:.2f}s" if phase.recovery is not None else "n/a"
        failed = [n for n, ok, _ in phase.checks if not ok]
        line = (f"FAULT {phase.name:<13} acked={f.get('acked', 0)} stored={f.get('stored', 0)} "
                f"lost={f.get('lost', 'n/a')} duplicated={f.get('duplicated', 'n/a')} recovery={rec}")
        extra = {k: v for k, v in f.items() if k not in ("acked", "stored", "lost", "duplicated")}
        line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        line += f" ({phase.duration:.0f}s) " + ("PASS" if not failed else f"FAIL ({len(failed)} checks)")
        print(line, flush=True)
        if self.args.verbose and phase.error_texts:
            for (code, message), t in sorted(phase.error_texts.items(), key=lambda kv: kv[1]):
                print(f"    error {code} first at {t:.2f}s: {message}", flush=True)

    def shutdown(self):
        self.stopping = True
        for inst in self.instances.values():
            if inst.proc is not None and inst.alive():
                inst.proc.kill()
                inst.proc.wait(5)
        self.redis.stop()
        if self.cluster is not None:
            try:
                self.cluster.stop()
            except Exception as err:
                log(f"stopping the Redis Cluster: {err}")
        try:
            self.pg.stop("immediate")
        except Exception as err:
            log(f"stopping Postgres: {err}")


async def main(args):
    suite = Suite(args)
    try:
        await asyncio.wait_for(suite.run(), args.total_timeout)
    except asyncio.TimeoutError:
        log(f"FAILED: the suite took longer than {args.total_timeout:.0f}s")
        return suite, False
    except (Failure, RuntimeError) as err:
        log(f"FAILED during set-up: {err}")
        return suite, False
    finally:
        suite.stopping = True
    return suite, all(p.passed for p in suite.results)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS),
                        type=lambda s: [f for f in s.split(",") if f])
    parser.add_argument("--rate", type=float, default=float(os.environ.get("FAULTS_RATE", 240)),
                        help="messages per second in all")
    parser.add_argument("--pairs", type=int, default=int(os.environ.get("FAULTS_PAIRS", 10)),
                        help="sender/receiver pairs per direction")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="HEARTBEAT_INTERVAL, seconds")
    parser.add_argument("--redis-outage", type=float, default=5.0)
    parser.add_argument("--pg-outage", type=float, default=5.0)
    parser.add_argument("--lease-wait", type=float, default=14.0,
                        help="seconds after FLUSHALL before the third instance starts")
    parser.add_argument("--fault-timeout", type=float, default=150.0)
    parser.add_argument("--hung-after", type=float, default=5.0,
                        help="a send answered later than this (seconds) counts as hung")
    parser.add_argument("--total-timeout", type=float, default=330.0)
    parser.add_argument("--results", help="write the figures as JSON here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    unknown = [f for f in args.faults if f not in ALL_FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {','.join(ALL_FAULTS)}")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    started = now()
    suite, ok = asyncio.run(main(arguments))
    suite.shutdown()
    print("", flush=True)
    print("Figures per fault (acked, stored, lost, duplicated, recovery):", flush=True)
    for p in suite.results:
        suite.report(p)
        for name, passed, detail in p.checks:
            if not passed:
                print(f"    FAILED: {name}{': ' + detail if detail else ''}", flush=True)
    if arguments.results:
        with open(arguments.results, "w", encoding="utf-8") as out:
            json.dump([{"fault": p.name, "title": p.title, "figures": p.figures, "recovery_s": p.recovery,
                        "duration_s": round(p.duration, 1),
                        "checks": [{"name": n, "ok": o, "detail": d} for n, o, d in p.checks]}
                       for p in suite.results], out, indent=2, default=str)
    if suite.notes:
        print(f"({len(suite.notes)} notes; first: {suite.notes[:3]})", flush=True)
    total = now() - started
    print(f"fault suite: {sum(p.passed for p in suite.results)} of {len(suite.results)} faults passed "
          f"in {total:.0f}s", flush=True)
    sys.exit(0 if ok and len(suite.results) == len(arguments.faults) else 1)
