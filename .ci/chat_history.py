#!/usr/bin/env python3
"""A small conversation to keep and to find again, for the backup drill and the upgrade check.

  chat_history.py seed   --base URL --state FILE [--messages N]
      registers two users, makes them contacts, sends N private messages over REST, and writes
      the users, their password and the history as the server returned it to FILE;
  chat_history.py verify --base URL --state FILE
      logs both users in again, reads the history and checks it is the one in FILE, message for
      message (id, seq, sender, content); then sends one more message and reads it back.
Exits 1 naming the first difference.
"""

import argparse
import json
import secrets
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "faults"))
from infra import http  # noqa: E402

PASSWORD = "correct horse battery"


def call(base, method, path, expect, body=None, token=None):
    status, _, reply = http(method, base + path, body, token, timeout=15)
    if status != expect:
        sys.exit(f"FAILED: {method} {path}: expected {expect}, got {status} {reply}")
    return reply


def login(base, username):
    return call(base, "POST", "/api/v1/auth/login", 200,
                {"username": username, "password": PASSWORD})["access_token"]


def history(base, token, peer_id):
    page = call(base, "GET", f"/api/v1/messages/private/{peer_id}?limit=100", 200, token=token)
    return sorted(({"id": m["id"], "seq": m["seq"], "sender_id": m["sender_id"],
                    "content": m["content"]} for m in page["items"]), key=lambda m: m["seq"])


def send(base, token, peer_id, content):
    return call(base, "POST", f"/api/v1/messages/private/{peer_id}", 201,
                {"content": content, "client_msg_id": str(uuid.uuid4())}, token=token)


def seed(args):
    run = secrets.token_hex(4)
    users = []
    for name in ("alice", "bob"):
        username = f"{name}_{run}"
        user = call(args.base, "POST", "/api/v1/auth/register", 201,
                    {"username": username, "password": PASSWORD})
        users.append({"id": user["id"], "username": username, "token": login(args.base, username)})
    alice, bob = users
    for me, other in ((alice, bob), (bob, alice)):
        call(args.base, "POST", "/api/v1/contacts", 201, {"username": other["username"]}, me["token"])
    for i in range(args.messages):
        sender, peer = (alice, bob) if i % 2 == 0 else (bob, alice)
        send(args.base, sender["token"], peer["id"], f"message {i} from {sender['username']} ✓")
    kept = history(args.base, alice["token"], bob["id"])
    if len(kept) != args.messages:
        sys.exit(f"FAILED: sent {args.messages} messages, history shows {len(kept)}")
    state = {"users": [{k: u[k] for k in ("id", "username")} for u in users], "history": kept}
    Path(args.state).write_text(json.dumps(state, indent=1))
    print(f"seeded {len(kept)} messages between {alice['username']} and {bob['username']}")


def verify(args):
    state = json.loads(Path(args.state).read_text())
    alice, bob = state["users"]
    token = login(args.base, alice["username"])
    found = history(args.base, token, bob["id"])
    if found != state["history"]:
        want = {m["id"]: m for m in state["history"]}
        got = {m["id"]: m for m in found}
        missing = [m for i, m in want.items() if got.get(i) != m]
        sys.exit(f"FAILED: history differs: {len(found)} messages, {len(state['history'])} expected; "
                 f"first missing or changed: {missing[:1]}; unexpected: {[i for i in got if i not in want][:3]}")
    bob_token = login(args.base, bob["username"])
    sent = send(args.base, bob_token, alice["id"], "still talking")
    after = history(args.base, token, bob["id"])
    if after[-1]["id"] != sent["id"] or after[-1]["seq"] != state["history"][-1]["seq"] + 1:
        sys.exit(f"FAILED: a new message after the history: {after[-1]} vs sent {sent}")
    print(f"history intact ({len(found)} messages) and a new message continues it (seq {after[-1]['seq']})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["seed", "verify"])
    parser.add_argument("--base", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--messages", type=int, default=12)
    args = parser.parse_args()
    seed(args) if args.mode == "seed" else verify(args)


if __name__ == "__main__":
    main()
