#!/usr/bin/env python3
"""Two WebSocket clients, through nginx, on two different simplechat instances, message each other.

Run by .ci/e2e-nginx.sh (which starts the instances and nginx); needs the `websockets` package.

    ws_e2e.py --base http://127.0.0.1:<nginx port> --access-log <nginx access log> \
        --instance <machine id>,<127.0.0.1:port>,<server log> --instance ...

Which instance a client reached is proven three ways, independently:
  1. the instance's own log has the request id that the client sent on its upgrade request;
  2. the message id in the sender's `ack` carries the instance's MACHINE_ID in its low 16 bits
     (sonyflake ids), so the message was stored by the instance the sender is connected to;
  3. nginx's access log names the upstream address that served each upgrade (written at close).
The two clients must land on different instances; nginx (least_conn) normally sends the second
socket to the other instance at once, and the check reconnects a few times if it did not.
"""

import argparse
import asyncio
import json
import re
import secrets
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

# The one HTTP helper of the Python checks lives with the fault suite.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "faults"))
from infra import http  # noqa: E402

TIMEOUT = 10.0
PASSWORD = "correct horse battery"


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


class Instance:
    def __init__(self, spec):
        machine_id, addr, log = spec.split(",", 2)
        self.machine_id = int(machine_id)
        self.addr = addr
        self.log = log

    def __repr__(self):
        return f"instance {self.addr} (MACHINE_ID {self.machine_id})"


def rest(base, method, path, body=None, token=None, headers=None):
    """One REST call through nginx; returns (status, headers, parsed JSON or None)."""
    return http(method, base + path, body, token, headers, timeout=TIMEOUT)


def expect(base, method, path, status, **kwargs):
    got_status, _, body = rest(base, method, path, **kwargs)
    check(got_status == status, f"{method} {path}: expected {status}, got {got_status} {body}")
    return body


async def wait_for_log(instances, needle, seconds=5.0):
    """The instance whose log contains `needle` (a request id), polling for a few seconds."""
    deadline = time.monotonic() + seconds
    while True:
        found = []
        for instance in instances:
            with open(instance.log, encoding="utf-8", errors="replace") as f:
                if needle in f.read():
                    found.append(instance)
        if found or time.monotonic() > deadline:
            check(len(found) == 1, f"request id {needle} in {len(found)} instance logs, not 1")
            return found[0]
        await asyncio.sleep(0.1)


async def next_frame(ws, predicate, what):
    """The next frame for which predicate(frame) holds, skipping others (presence pushes...)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"timed out waiting for {what}")
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=left)
        except asyncio.TimeoutError:
            raise Failure(f"timed out waiting for {what}") from None
        frame = json.loads(raw)
        if frame.get("type") == "error" and frame.get("error", {}).get("code") != "chatbot_unavailable":
            raise Failure(f"error frame while waiting for {what}: {frame}")
        if predicate(frame):
            return frame


class Client:
    def __init__(self, base, name, run):
        self.base = base
        # https:// -> wss:// (nginx terminates TLS), http:// -> ws://.
        self.ws_base = base.replace("http", "ws", 1)
        self.username = f"{name}_{run}"
        self.user = expect(base, "POST", "/api/v1/auth/register", 201,
                           body={"username": self.username, "password": PASSWORD})
        login = expect(base, "POST", "/api/v1/auth/login", 200,
                       body={"username": self.username, "password": PASSWORD})
        self.token = login["access_token"]
        self.ws = None
        self.instance = None
        self.request_ids = []

    async def connect(self, instances):
        ticket = expect(self.base, "POST", "/api/v1/auth/ws-ticket", 201, token=self.token)["ticket"]
        request_id = f"e2e-ws-{self.username}-{len(self.request_ids)}"
        self.request_ids.append(request_id)
        self.ws = await connect(f"{self.ws_base}/ws?ticket={ticket}",
                                additional_headers={"X-Request-Id": request_id},
                                open_timeout=TIMEOUT, close_timeout=5)
        echoed = self.ws.response.headers.get("x-request-id")
        check(echoed == request_id,
              f"upgrade response X-Request-Id {echoed!r}, expected {request_id!r} (nginx must pass it)")
        ready = await next_frame(self.ws, lambda f: f.get("type") == "ready", "ready")
        check(ready["user"]["id"] == self.user["id"], f"ready names {ready['user']}, not {self.username}")
        self.instance = await wait_for_log(instances, request_id)
        print(f"  {self.username}: WebSocket through nginx reached {self.instance}", flush=True)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
            self.ws = None


async def exchange(sender, receiver, tag):
    """sender sends a private message; checks sender's ack and receiver's push."""
    client_msg_id = f"e2e-{tag}-{secrets.token_hex(4)}"
    content = f"hello from {sender.username} ({tag})"
    await sender.ws.send(json.dumps({
        "type": "send", "id": tag, "to": {"user_id": receiver.user["id"]},
        "content": content, "client_msg_id": client_msg_id,
    }))
    push, ack = await asyncio.gather(
        next_frame(receiver.ws, lambda f: f.get("type") == "message"
                   and f["message"].get("client_msg_id") == client_msg_id,
                   f"{receiver.username} to get the message push"),
        next_frame(sender.ws, lambda f: f.get("type") == "ack" and f.get("id") == tag,
                   f"{sender.username} to get the ack"),
    )
    stored = ack["message"]
    check(ack.get("client_msg_id") == client_msg_id, f"ack for another message: {ack}")
    check(push["message"]["id"] == stored["id"], f"push {push['message']['id']} != ack {stored['id']}")
    check(push["message"]["content"] == content, f"push content {push['message']['content']!r}")
    check(push["message"]["sender_id"] == sender.user["id"], "push names the wrong sender")
    check(push["message"]["conversation"] == {"kind": "private", "user_id": sender.user["id"]},
          f"receiver sees conversation {push['message']['conversation']}")
    machine_id = int(stored["id"]) & 0xFFFF
    check(machine_id == sender.instance.machine_id,
          f"message id {stored['id']} carries machine id {machine_id}, "
          f"but {sender.username} is on {sender.instance}")
    print(f"  {sender.username} -> {receiver.username}: ack seq {stored['seq']} id {stored['id']} "
          f"(machine id {machine_id}), push received on {receiver.instance}", flush=True)


async def check_access_log(path, client, seconds=5.0):
    """nginx logs an upgraded request when it closes: 101, and the upstream of that instance."""
    request_id = client.request_ids[-1]
    deadline = time.monotonic() + seconds
    while True:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if f"rid={request_id} " in line]
        if lines or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    check(len(lines) == 1, f"{len(lines)} nginx access log lines for {request_id}")
    match = re.search(r'"GET /ws HTTP/1.1" (\d+) .* upstream=(\S+) ', lines[0])
    check(match is not None, f"unexpected access log line: {lines[0].strip()}")
    check(match.group(1) == "101", f"nginx logged status {match.group(1)} for the upgrade")
    check("ticket" not in lines[0], "the ticket must not appear in nginx's access log")
    check(match.group(2) == client.instance.addr,
          f"nginx sent {request_id} to {match.group(2)}, the server log says {client.instance.addr}")
    print(f"  nginx access log: {request_id} -> 101 via upstream {match.group(2)}", flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--access-log", required=True)
    parser.add_argument("--instance", action="append", required=True)
    args = parser.parse_args()
    instances = [Instance(spec) for spec in args.instance]
    check(len({i.machine_id for i in instances}) == len(instances), "machine ids must differ")
    run = secrets.token_hex(4)

    # nginx passes the client's X-Request-Id on (and the instance echoes it), or makes one up.
    request_id = f"e2e-rest-{run}"
    status, headers, _ = rest(args.base, "GET", "/healthz", headers={"X-Request-Id": request_id})
    check(status == 200 and headers.get("x-request-id") == request_id,
          f"GET /healthz through nginx: {status}, X-Request-Id {headers.get('x-request-id')!r}")
    await wait_for_log(instances, request_id)
    status, headers, _ = rest(args.base, "GET", "/healthz")
    check(re.fullmatch(r"[0-9a-f]{32}", headers.get("x-request-id") or "") is not None,
          f"without X-Request-Id, expected nginx's $request_id, got {headers.get('x-request-id')!r}")
    print("  X-Request-Id: passed through nginx to the instance and back; generated when absent")

    alice = Client(args.base, "alice", run)
    bob = Client(args.base, "bob", run)
    expect(args.base, "POST", "/api/v1/contacts", 201, token=alice.token,
           body={"username": bob.username})
    expect(args.base, "POST", "/api/v1/contacts", 201, token=bob.token,
           body={"username": alice.username})
    try:
        await alice.connect(instances)
        for attempt in range(1, 6):
            await bob.connect(instances)
            if bob.instance is not alice.instance:
                break
            print(f"  attempt {attempt}: both on {bob.instance}; reconnecting bob", flush=True)
            await bob.close()
        check(bob.instance is not alice.instance, "could not get the two clients onto different instances")
        await exchange(alice, bob, "a2b")
        await exchange(bob, alice, "b2a")
    finally:
        await alice.close()
        await bob.close()
    await check_access_log(args.access_log, alice)
    await check_access_log(args.access_log, bob)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), timeout=90))
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    except asyncio.TimeoutError:
        print("FAILED: the check took longer than 90 s", file=sys.stderr)
        sys.exit(1)
