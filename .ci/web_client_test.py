"""The web client (GET /) in headless Chromium, driven by Playwright: two people chat.

Run by .ci/web-client.sh, which picks the ports, the database and the Redis prefix and passes the
server's settings in the environment. This script starts the server itself, because one step
stops it and starts it again.

Two browser contexts (two separate browsers, as far as the page can tell), two users:
register both, add a contact, send, see the message arrive live with an unread badge, read it
(the sender sees the receipt), reply while the other sees "typing", scroll back through paged
history after a reload, close one browser and see the other show them offline, log in again,
stop and restart the server and see both clients reconnect, deliver what was written meanwhile
(same client_msg_id, stored once) and catch up on what was sent while they were away. Then the
cross-origin rules from pages served on two other local ports. Any console error or uncaught
exception fails the run, except the connection failures the browser reports while the server
is deliberately down.

Then everything else a user can do from the page (messages v1.1): an edit and a delete made over
REST reach the open tabs live, and ones made while a browser was offline are caught up after its
reconnect (`changed_after`); reply with a quote and react through the message menu, both seen by
the other; edit and delete from the menu; search and open a result; block and unblock; group
members with roles, admin-only controls, rename and leave; keyboard-only use of the menu; an
axe-core scan (axe-core from npm, injected by this test only, in a context that bypasses the CSP)
at desktop and phone size (390x844); then the v1.2 features (attachments, mute, account panel,
bans, read receipts after a reload): `v1_2_features`.

Every wait is for an element or an event, never a fixed sleep.
"""

import argparse
import functools
import http.server
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

PASSWORD = "correct horse battery"
WAIT_MS = 20_000
# What Chromium logs by itself while the server is down: refused connections and failed sockets.
OUTAGE_NOISE = re.compile(
    r"ERR_CONNECTION_REFUSED|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE"
    r"|WebSocket connection to .* failed|status of 503"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] web-client: {message}", file=sys.stderr, flush=True)


class Server:
    """The simplechat binary on a fixed port; its settings come from this process's environment."""

    def __init__(self, binary: str, port: int, workdir: Path):
        self.binary, self.port, self.workdir = binary, port, workdir
        self.base = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self) -> None:
        env = dict(os.environ, LISTEN_ADDR=f"127.0.0.1:{self.port}", NO_COLOR="1")
        out = open(self.workdir / "simplechat.log", "ab")
        self.process = subprocess.Popen([self.binary, "serve"], cwd=self.workdir, env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited during start-up (see simplechat.log)")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)  # polling a process that is starting: nothing to wait on instead
        raise RuntimeError("the server did not become ready within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def rest(base: str, method: str, path: str, body=None, token=None):
    """A JSON request to the API, as a non-browser client (no Origin, so no CORS)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


class ConsoleWatch:
    """Every console error and uncaught exception of the chat pages, with the time it came."""

    def __init__(self):
        self.entries = []  # (monotonic time, page name, text)
        self.outages = []  # (start, end) while the server was down on purpose

    def attach(self, page: Page, name: str) -> None:
        page.on("console", lambda msg: msg.type == "error" and self.entries.append(
            (time.monotonic(), name, msg.text)))
        page.on("pageerror", lambda err: self.entries.append(
            (time.monotonic(), name, f"uncaught: {err}")))

    def tolerated(self):
        return len(self.entries) - len(self.problems())

    def problems(self):
        def expected(at, text):
            return OUTAGE_NOISE.search(text) and any(start <= at <= end for start, end in self.outages)

        return [f"{name}: {text}" for at, name, text in self.entries if not expected(at, text)]


class Person:
    """One browser context with the chat page open."""

    def __init__(self, browser, base: str, username: str, console: ConsoleWatch, name: str,
                 **context_options):
        self.username = username
        options = {"viewport": {"width": 1100, "height": 680}, **context_options}
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        console.attach(self.page, name)
        self.page.goto(f"{base}/")

    def enter(self, button: str) -> None:
        self.page.get_by_test_id("auth-username").fill(self.username)
        self.page.get_by_test_id("auth-password").fill(PASSWORD)
        self.page.get_by_test_id(button).click()
        expect(self.page.get_by_test_id("logout")).to_be_visible()
        expect(self.status()).to_have_attribute("data-state", "online")

    def stored_session(self):
        return self.page.evaluate("JSON.parse(localStorage.getItem('simplechat.session'))")

    def status(self):
        return self.page.locator(".status")

    def conversation(self, peer: str):
        return self.page.locator(f'[data-testid="conversation"][data-peer="{peer}"]')

    def message(self, seq: int):
        return self.page.locator(f'[data-testid="message"][data-seq="{seq}"]')

    def messages_with(self, text: str):
        return self.page.get_by_test_id("message").filter(has_text=text)

    def send(self, text: str) -> None:
        self.page.get_by_test_id("composer").fill(text)
        self.page.get_by_test_id("send").click()

    def menu(self, message, item: str) -> None:
        """Opens `message`'s menu and picks an item (by its data-testid)."""
        message.hover()
        message.get_by_test_id("message-actions").click()
        message.get_by_test_id(item).click()

    def shown_seqs(self):
        return [int(s) for s in self.page.locator('[data-testid="message"][data-seq]')
                .evaluate_all("els => els.map(el => el.dataset.seq)")]


def chat(args, server: Server, browser, console: ConsoleWatch, steps: list) -> None:
    base = server.base
    suffix = secrets.token_hex(3)
    alice = Person(browser, base, f"alice_{suffix}", console, "alice")
    bob = Person(browser, base, f"bob_{suffix}", console, "bob")

    alice.enter("auth-register")
    bob.enter("auth-register")
    first_tokens = alice.stored_session()
    steps.append("both registered, logged in and connected")

    alice.page.get_by_test_id("contact-username").fill(bob.username)
    alice.page.get_by_test_id("contact-add").click()
    expect(alice.conversation(bob.username)).to_have_attribute("data-online", "true")
    steps.append("a contact added, shown online")

    alice.conversation(bob.username).click()
    alice.send("Hello Bob! Lunch at noon?")
    expect(alice.message(1)).to_contain_text("Hello Bob! Lunch at noon?")
    expect(bob.conversation(alice.username).get_by_test_id("unread")).to_have_text("1")
    expect(bob.conversation(alice.username)).to_contain_text("Lunch at noon?")
    steps.append("sent; it arrived live with an unread badge")

    bob.conversation(alice.username).click()
    expect(bob.message(1)).to_contain_text("Hello Bob! Lunch at noon?")
    expect(bob.conversation(alice.username).get_by_test_id("unread")).to_have_count(0)
    expect(alice.message(1)).to_contain_text("read")
    steps.append("read: the badge is gone and the sender sees the receipt")

    bob.page.get_by_test_id("composer").press_sequentially("Sure")
    expect(alice.page.get_by_test_id("typing")).to_be_visible()
    expect(alice.page.get_by_test_id("typing")).to_contain_text("is typing")
    bob.page.get_by_test_id("composer").fill("Sure, see you at noon!")
    bob.page.get_by_test_id("send").click()
    expect(alice.message(2)).to_contain_text("see you at noon")
    expect(alice.page.get_by_test_id("typing")).to_be_hidden()
    steps.append("replied; the typing indicator showed while typing")

    alice.send("I'll book a table.")
    expect(bob.message(3)).to_contain_text("book a table")
    groups_and_chatbot(args, alice, bob, suffix)
    steps.append("a group created, a member added, both wrote in it; roles shown, admin-only controls "
                 "only for the admin, the admin deleted a member's message, renamed the group; "
                 "general joined; the chatbot answered; the member left")
    alice.conversation(bob.username).click()
    bob.conversation(alice.username).click()
    if args.screenshot:
        expect(alice.message(3)).to_contain_text("read")
        alice.page.screenshot(path=args.screenshot)
        steps.append(f"screenshot saved to {args.screenshot}")

    # History paging: 55 more messages (REST, as Alice) make 58; a page shows the newest 50.
    token = rest(base, "POST", "/auth/login", {"username": alice.username, "password": PASSWORD})["access_token"]
    bob_id = rest(base, "GET", f"/users?q={bob.username}", token=token)[0]["id"]
    for n in range(1, 56):
        rest(base, "POST", f"/messages/private/{bob_id}",
             {"content": f"history {n}", "client_msg_id": f"hist-{suffix}-{n}"}, token)
    expect(bob.message(58)).to_contain_text("history 55")
    bob.page.reload()
    expect(bob.status()).to_have_attribute("data-state", "online")
    bob.conversation(alice.username).click()
    expect(bob.message(58)).to_contain_text("history 55")
    expect(bob.message(1)).to_have_count(0)
    bob.page.locator(".scroller").evaluate("el => { el.scrollTop = 0; }")
    expect(bob.message(1)).to_contain_text("Hello Bob!")
    seqs = bob.shown_seqs()
    assert seqs == list(range(1, 59)), f"after scrolling back bob shows seqs {seqs}"
    steps.append("reloaded: logged in still, history shown, older pages by scrolling back")

    bob.context.close()
    expect(alice.conversation(bob.username)).to_have_attribute("data-online", "false")
    expect(alice.page.locator(".subtitle")).to_contain_text("last seen")
    steps.append("one browser closed: the other shows them offline, last seen")

    bob = Person(browser, base, bob.username, console, "bob (again)")
    bob.enter("auth-login")
    expect(alice.conversation(bob.username)).to_have_attribute("data-online", "true")
    bob.conversation(alice.username).click()
    expect(bob.message(58)).to_be_visible()
    steps.append("logged in again in a new browser: online again")

    # Alice's access token is made to look 30 s from expiring (the page refreshes a minute early):
    # after a reload the page swaps its pair before its first request, and carries on.
    alice.page.evaluate("""() => {
      const session = JSON.parse(localStorage.getItem('simplechat.session'));
      session.expires_at = Date.now() + 30_000;
      localStorage.setItem('simplechat.session', JSON.stringify(session));
    }""")
    alice.page.reload()
    expect(alice.status()).to_have_attribute("data-state", "online")
    assert alice.stored_session()["refresh_token"] != first_tokens["refresh_token"]
    alice.conversation(bob.username).click()
    expect(alice.message(58)).to_be_visible()
    steps.append("an access token about to expire was refreshed first, and the session lived on")

    restart(server, alice, bob, console, suffix)
    steps.append("server stopped and started: both reconnected, the message written meanwhile "
                 "was stored once, and both caught up on what was sent, edited and deleted while "
                 "they were away")

    everything_else(args, server, browser, console, alice, bob, suffix, steps)
    v1_2_features(server, browser, console, alice, bob, suffix, steps)

    bob.page.get_by_test_id("logout").click()
    expect(bob.page.get_by_test_id("auth-username")).to_be_visible()
    expect(alice.conversation(bob.username)).to_have_attribute("data-online", "false")
    bob.page.reload()
    expect(bob.page.get_by_test_id("auth-login")).to_be_visible()
    steps.append("logged out: the login screen, also after a reload; shown offline")


def groups_and_chatbot(args, alice: Person, bob: Person, suffix: str) -> None:
    group = f"lunch_{suffix}"
    alice.page.get_by_placeholder("new group name").fill(group)
    alice.page.get_by_role("button", name="Create").click()
    expect(alice.conversation(group)).to_have_class(re.compile(r"\bopen\b"))
    alice.page.get_by_label("contact to add").select_option(label=bob.username)
    alice.page.get_by_role("button", name="Add member").click()
    expect(alice.page.locator(".subtitle")).to_contain_text(bob.username)
    bob.conversation(group).click()
    bob.send("Count me in")
    expect(alice.message(1)).to_contain_text("Count me in")
    expect(alice.message(1)).to_contain_text(bob.username)  # the sender's name on group messages

    # Roles: the admin has the admin-only controls, the member has none of them.
    expect(bob.page.get_by_test_id("member-add")).to_have_count(0)
    bob.page.locator(".members-panel summary").click()
    expect(bob.page.locator(f'[data-testid="member"][data-username="{alice.username}"]')).to_contain_text("admin")
    expect(bob.page.locator(f'[data-testid="member"][data-username="{bob.username}"]')).to_contain_text("member")
    expect(bob.page.get_by_test_id("member-remove")).to_have_count(0)
    expect(bob.page.get_by_test_id("group-rename")).to_have_count(0)
    bob.page.keyboard.press("Escape")
    expect(bob.page.get_by_test_id("member")).to_have_count(2)
    expect(bob.page.get_by_test_id("member").first).to_be_hidden()
    alice.page.locator(".members-panel summary").click()
    expect(alice.page.get_by_test_id("member-remove")).to_have_count(1)
    shoot(args, alice.page, "group")
    alice.page.locator("h2").click()  # a click elsewhere closes the members pop-up
    expect(alice.page.get_by_test_id("member-remove")).to_be_hidden()
    # Members delete their own messages only; an admin deletes anyone's.
    bob.send("A second thought")
    expect(alice.message(2)).to_contain_text("A second thought")
    alice.message(2).hover()
    alice.message(2).get_by_test_id("message-actions").click()
    expect(alice.message(2).get_by_test_id("message-edit")).to_have_count(0)
    alice.message(2).get_by_test_id("message-delete").click()
    expect(bob.message(2).get_by_test_id("deleted-marker")).to_be_visible()
    bob.message(1).hover()
    bob.message(1).get_by_test_id("message-actions").click()
    expect(bob.message(1).get_by_test_id("message-delete")).to_be_visible()
    bob.page.keyboard.press("Escape")
    expect(bob.message(1).get_by_test_id("message-delete")).to_have_count(0)
    renamed = f"{group}_2"
    alice.page.locator(".members-panel summary").click()
    alice.page.get_by_test_id("group-name").fill(renamed)
    alice.page.get_by_test_id("group-rename").click()
    expect(bob.conversation(renamed)).to_be_visible()

    bob.page.get_by_role("button", name="Join general").click()
    expect(bob.conversation("general")).to_have_class(re.compile(r"\bopen\b"))

    alice.conversation("chatbot").click()
    alice.send("What is a sonyflake id?")
    expect(alice.message(2)).to_contain_text("hi from the fake provider")

    # Leaving: gone from the member's list, and from the members the admin sees.
    bob.conversation(renamed).click()
    bob.page.get_by_test_id("leave-group").click()
    expect(bob.conversation(renamed)).to_have_count(0)
    alice.conversation(renamed).click()
    expect(alice.page.locator(".subtitle")).not_to_contain_text(bob.username)


def restart(server: Server, alice: Person, bob: Person, console: ConsoleWatch, suffix: str) -> None:
    outage_started = time.monotonic()
    # Bob's browser stays offline until the catch-up message exists, so that he can only learn
    # of it by syncing after his reconnect, not from a live push.
    bob.context.set_offline(True)
    server.stop()
    expect(alice.status()).not_to_have_attribute("data-state", "online")
    alice.send("Written while the server was down")
    expect(alice.page.locator('[data-testid="message"][data-pending="true"]')).to_contain_text(
        "Written while the server was down")
    server.start()
    token = rest(server.base, "POST", "/auth/login",
                 {"username": alice.username, "password": PASSWORD})["access_token"]
    bob_id = rest(server.base, "GET", f"/users?q={bob.username}", token=token)[0]["id"]
    rest(server.base, "POST", f"/messages/private/{bob_id}",
         {"content": "Posted while you were away", "client_msg_id": f"away-{suffix}"}, token)
    # Changes to messages Bob holds, made while he is away: he learns of them with changed_after.
    held = {m["content"]: m for m in rest(server.base, "GET", f"/messages/private/{bob_id}?limit=10",
                                          token=token)["items"]}
    rest(server.base, "PATCH", f"/messages/{held['history 55']['id']}",
         {"content": "history 55, edited while you were away"}, token)
    rest(server.base, "DELETE", f"/messages/{held['history 54']['id']}", token=token)
    bob.context.set_offline(False)
    for person in (alice, bob):
        expect(person.status()).to_have_attribute("data-state", "online")
    console.outages.append((outage_started, time.monotonic()))

    expect(alice.page.locator('[data-testid="message"][data-pending="true"]')).to_have_count(0)
    for person in (alice, bob):
        for text in ("Written while the server was down", "Posted while you were away"):
            expect(person.messages_with(text)).to_have_count(1)
            expect(person.messages_with(text)).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    seqs = bob.shown_seqs()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"bob shows seqs with a gap: {seqs}"
    expect(bob.message(58)).to_contain_text("edited while you were away")
    expect(bob.message(58).get_by_test_id("edited-marker")).to_be_visible()
    expect(bob.message(57).get_by_test_id("deleted-marker")).to_be_visible()
    assert "history 54" not in bob.page.content(), "a deleted message's text is still in the page"


def shoot(args, page: Page, name: str) -> None:
    """With --screenshot docs/web-client.png, also saves docs/web-client-<name>.png."""
    if args.screenshot:
        target = Path(args.screenshot)
        page.screenshot(path=str(target.with_name(f"{target.stem}-{name}{target.suffix}")))


def login_token(base: str, username: str) -> str:
    return rest(base, "POST", "/auth/login", {"username": username, "password": PASSWORD})["access_token"]


def everything_else(args, server: Server, browser, console: ConsoleWatch, alice: Person, bob: Person,
                    suffix: str, steps: list) -> None:
    """Messages v1.1 from the page: live changes, menu, reply, react, search, block, keyboard, a11y."""
    base = server.base
    token = login_token(base, alice.username)
    bob_id = rest(base, "GET", f"/users?q={bob.username}", token=token)[0]["id"]

    # An edit and a delete made over REST (another device) reach both open tabs at once.
    sent = rest(base, "POST", f"/messages/private/{bob_id}",
                {"content": "Meet at the north entrance", "client_msg_id": f"edit-{suffix}"}, token)
    doomed = rest(base, "POST", f"/messages/private/{bob_id}",
                  {"content": "My secret door code is 4711", "client_msg_id": f"del-{suffix}"}, token)
    for person in (alice, bob):
        expect(person.message(doomed["seq"])).to_contain_text("door code")
    rest(base, "PATCH", f"/messages/{sent['id']}", {"content": "Meet at the south entrance"}, token)
    rest(base, "DELETE", f"/messages/{doomed['id']}", token=token)
    for person in (alice, bob):
        expect(person.message(sent["seq"])).to_contain_text("south entrance")
        expect(person.message(sent["seq"]).get_by_test_id("edited-marker")).to_be_visible()
        expect(person.message(doomed["seq"]).get_by_test_id("deleted-marker")).to_be_visible()
        assert "4711" not in person.page.content(), "a deleted message's text is still in the page"
    steps.append("an edit and a delete made over REST reached both open tabs live; nothing of the "
                 "deleted text stayed in the page")

    # Reply with a quote, through the menu; the quote scrolls to the original.
    bob.menu(bob.message(sent["seq"]), "message-reply")
    expect(bob.page.locator(".composer-context")).to_contain_text("south entrance")
    bob.send("On my way to the south entrance")
    reply = alice.messages_with("On my way to the south")
    expect(reply.get_by_test_id("reply-quote")).to_contain_text("Meet at the south entrance")
    expect(bob.messages_with("On my way to the south").get_by_test_id("reply-quote")).to_be_visible()
    alice.page.locator(".scroller").evaluate("el => { el.scrollTop = 0; }")
    expect(alice.message(sent["seq"])).not_to_be_in_viewport()
    reply.get_by_test_id("reply-quote").click()
    expect(alice.message(sent["seq"])).to_be_in_viewport()
    expect(alice.message(sent["seq"])).to_have_class(re.compile(r"\bhighlight\b"))

    # React through the menu's picker; the other side sees it, adds theirs, takes it back.
    alice.menu(reply, "message-react")
    reply.get_by_test_id("emoji-👍").click()
    bob_reply = bob.messages_with("On my way to the south")
    expect(bob_reply.get_by_test_id("reaction")).to_have_text("👍 1")
    expect(reply.get_by_test_id("reaction")).to_have_attribute("aria-pressed", "true")
    expect(bob_reply.get_by_test_id("reaction")).to_have_attribute("aria-pressed", "false")
    bob_reply.get_by_test_id("reaction").click()
    expect(reply.get_by_test_id("reaction")).to_have_text("👍 2")
    expect(bob_reply.get_by_test_id("reaction")).to_have_attribute("aria-pressed", "true")
    bob_reply.get_by_test_id("reaction").click()
    expect(reply.get_by_test_id("reaction")).to_have_text("👍 1")
    bob_reply.hover()
    bob_reply.get_by_test_id("message-actions").click()
    expect(bob_reply.get_by_test_id("message-reply")).to_be_visible()
    shoot(args, bob.page, "menu")
    bob.page.keyboard.press("Escape")
    steps.append("replied with a quote (a click on it showed the original) and reacted through the "
                 "menu: both sides saw it live, their own reaction highlighted, a click toggled it")

    # Edit and delete one's own message from the menu; not offered on someone else's.
    alice.send("Tabel for two")
    mine = alice.messages_with("Tabel for two")
    expect(mine).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    seq = int(mine.get_attribute("data-seq"))
    alice.menu(mine, "message-edit")
    expect(alice.page.get_by_test_id("composer")).to_have_value("Tabel for two")
    alice.page.get_by_test_id("composer").fill("Table for two")
    alice.page.get_by_test_id("composer").press("Enter")
    expect(bob.messages_with("Table for two").get_by_test_id("edited-marker")).to_be_visible()
    theirs = bob.messages_with("Table for two")
    theirs.hover()
    theirs.get_by_test_id("message-actions").click()
    expect(theirs.get_by_test_id("message-reply")).to_be_visible()
    expect(theirs.get_by_test_id("message-edit")).to_have_count(0)
    expect(theirs.get_by_test_id("message-delete")).to_have_count(0)
    bob.page.keyboard.press("Escape")
    alice.menu(alice.message(seq), "message-delete")
    expect(bob.message(seq).get_by_test_id("deleted-marker")).to_be_visible()
    expect(alice.message(seq).get_by_test_id("deleted-marker")).to_be_visible()
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"])
    alice.menu(alice.message(sent["seq"]), "message-copy")
    assert alice.page.evaluate("navigator.clipboard.readText()") == "Meet at the south entrance"
    steps.append("edited and deleted one's own message from the menu (not offered on another's); "
                 "copied a message's text")

    # Keyboard only: Tab to a message's menu button, Enter opens (focus on the first item),
    # Escape closes and gives the focus back; Enter on "Reply" starts a reply, Escape cancels it.
    button = alice.message(sent["seq"]).get_by_test_id("message-actions")
    button.focus()
    alice.page.keyboard.press("Enter")
    expect(alice.message(sent["seq"]).get_by_test_id("message-reply")).to_be_focused()
    alice.page.keyboard.press("Escape")
    expect(alice.message(sent["seq"]).get_by_test_id("message-reply")).to_have_count(0)
    expect(button).to_be_focused()
    alice.page.keyboard.press("Enter")
    alice.page.keyboard.press("Enter")
    expect(alice.page.get_by_test_id("composer")).to_be_focused()
    expect(alice.page.locator(".composer-context")).to_be_visible()
    alice.page.keyboard.press("Escape")
    expect(alice.page.locator(".composer-context")).to_be_hidden()
    alice.page.get_by_test_id("search-input").focus()
    alice.page.keyboard.press("Tab")
    expect(alice.page.get_by_test_id("contact-username")).to_be_focused()
    steps.append("keyboard only: the message menu opens with Enter, closes with Escape (focus "
                 "back on its button), a reply starts and is cancelled; Tab moves on in order")

    # Search over every conversation; a result opens its conversation at the message, also one
    # that is pages back (the first message of 60-odd).
    alice.conversation("chatbot").click()
    alice.page.get_by_test_id("search-input").fill("lunch noon")
    result = alice.page.get_by_test_id("search-result").filter(has_text="Lunch at noon")
    expect(result).to_have_count(1)
    shoot(args, alice.page, "search")
    result.click()
    expect(alice.conversation(bob.username)).to_have_class(re.compile(r"\bopen\b"))
    expect(alice.message(1)).to_be_in_viewport()
    alice.page.get_by_test_id("search-input").press("Escape")
    expect(alice.page.get_by_test_id("search-result")).to_have_count(0)
    # Paged: 30 at a time; 54 of the 55 "history" messages match (one was deleted).
    alice.page.get_by_test_id("search-input").fill("history")
    expect(alice.page.get_by_test_id("search-result")).to_have_count(30)
    alice.page.get_by_role("button", name="More results").click()
    expect(alice.page.get_by_test_id("search-result")).to_have_count(54)
    expect(alice.page.get_by_role("button", name="More results")).to_have_count(0)
    alice.page.get_by_test_id("search-input").press("Escape")
    steps.append("searched; the result opened the conversation at that (old) message; more "
                 "results page by page")

    # Block from the header: the blocked one's sends are refused; unblock and they get through.
    bob.page.get_by_test_id("block").click()
    expect(bob.page.get_by_test_id("block")).to_have_attribute("aria-pressed", "true")
    expect(bob.page.get_by_test_id("block")).to_have_text("Unblock")
    alice.send("Are you ignoring me?")
    expect(alice.page.locator('[data-testid="message"].failed')).to_contain_text("not sent")
    bob.page.get_by_test_id("block").click()
    expect(bob.page.get_by_test_id("block")).to_have_attribute("aria-pressed", "false")
    alice.send("Unblocked now")
    expect(bob.messages_with("Unblocked now")).to_have_count(1)
    expect(alice.messages_with("Unblocked now").locator(".receipt")).to_contain_text("✓")
    steps.append("blocked from the conversation's header (the other's send was refused), unblocked")

    # The account panel is a modal dialog: it opens, and Escape closes it.
    alice.page.get_by_test_id("account").click()
    expect(alice.page.get_by_test_id("account-panel")).to_be_visible()
    expect(alice.page.get_by_test_id("account-panel")).to_contain_text(alice.username)
    alice.page.keyboard.press("Escape")
    expect(alice.page.get_by_test_id("account-panel")).to_have_count(0)
    steps.append("the account panel opened as a dialog and closed with Escape")

    accessibility(args, server, browser, console, alice, steps)


AXE_SERIOUS = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}"""


def accessibility(args, server: Server, browser, console: ConsoleWatch, alice: Person, steps: list) -> None:
    """axe-core (from npm, injected only here) finds nothing serious at desktop and phone size."""
    if not args.axe:
        raise RuntimeError("--axe (the path of axe.min.js) is required")
    axe = Path(args.axe).read_text()
    # A context of its own that ignores the page's CSP, so the test can inject axe-core.
    for label, viewport in (("desktop", {"width": 1100, "height": 680}),
                            ("phone", {"width": 390, "height": 844})):
        person = Person(browser, server.base, alice.username, console, f"alice ({label}, axe)",
                        bypass_csp=True, viewport=viewport, has_touch=label == "phone")
        expect(person.page.get_by_test_id("auth-login")).to_be_visible()
        person.page.add_script_tag(content=axe)  # the page is one document from here on
        found = person.page.evaluate(AXE_SERIOUS)
        assert not found, f"axe-core ({label}, login screen): {found}"
        person.enter("auth-login")
        person.page.get_by_test_id("conversation").filter(has_text="chatbot").first.wait_for()
        person.page.locator('[data-testid="conversation"]').nth(0).click()
        expect(person.page.get_by_test_id("composer")).to_be_visible()
        expect(person.page.get_by_test_id("message").first).to_be_visible()
        found = person.page.evaluate(AXE_SERIOUS)
        assert not found, f"axe-core ({label}): {found}"
        if label == "desktop":
            # An open message menu, its emoji picker and the account dialog, too.
            person.menu(person.page.get_by_test_id("message").last, "message-react")
            expect(person.page.get_by_test_id("emoji-👍")).to_be_visible()
            found = person.page.evaluate(AXE_SERIOUS)
            assert not found, f"axe-core ({label}, emoji picker): {found}"
            person.page.keyboard.press("Escape")
            person.page.get_by_test_id("account").click()
            expect(person.page.get_by_test_id("account-panel")).to_be_visible()
            found = person.page.evaluate(AXE_SERIOUS)
            assert not found, f"axe-core ({label}, account dialog): {found}"
            person.page.keyboard.press("Escape")
        overflow = person.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{label}: the page is {overflow}px wider than the screen"
        if label == "phone":
            shoot(args, person.page, label)
            # Touch: a long press on a bubble opens its menu.
            bubble = person.page.get_by_test_id("message").last
            bubble.dispatch_event("pointerdown", {"pointerType": "touch", "isPrimary": True})
            expect(bubble.get_by_test_id("message-reply")).to_be_visible()
            person.page.keyboard.press("Escape")
        person.context.close()
    steps.append("axe-core found no serious or critical violations on the login screen, a "
                 "conversation, the emoji picker and the account dialog, at 1100x680 and 390x844 "
                 "(no sideways scrolling there; a long press opened a message's menu)")


def v1_2_features(server: Server, browser, console: ConsoleWatch, alice: Person, bob: Person,
                  suffix: str, steps: list) -> None:
    """The v1.2 features (attachments, mute, account panel, bans, receipts after a reload)."""
    base = server.base
    # A picture sent from one page, shown from its thumbnail in the other.
    picture = tiny_png()
    alice.page.get_by_test_id("attach").set_input_files(
        files=[{"name": "dot.png", "mimeType": "image/png", "buffer": picture}])
    expect(alice.page.locator(".uploads")).to_contain_text("ready")
    alice.send("A picture")
    shown = bob.messages_with("A picture").locator('img[data-testid="attachment"]')
    expect(shown).to_be_visible()
    bob.page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=shown.element_handle())
    alice.page.get_by_test_id("attach").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"plain notes\n"}])
    expect(alice.page.locator(".uploads")).to_contain_text("ready")
    alice.page.get_by_test_id("send").click()
    expect(bob.page.locator('a[data-testid="attachment"]').filter(has_text="notes.txt")).to_be_visible()
    steps.append("v1.2: a picture sent from one page was shown in the other; a file as a download link")

    # Mute from the header.
    bob.page.get_by_test_id("mute").click()
    expect(bob.page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
    bob.page.get_by_test_id("mute").click()
    expect(bob.page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "false")
    steps.append("v1.2: muted and unmuted from the header")

    # ✓✓ survives a reload (Conversation.peer_read_seq).
    alice.send("Read me after a reload")
    expect(bob.messages_with("Read me after a reload")).to_have_count(1)
    expect(alice.messages_with("Read me after a reload")).to_contain_text("✓✓")
    alice.page.reload()
    alice.conversation(bob.username).click()
    expect(alice.messages_with("Read me after a reload")).to_contain_text("✓✓")
    steps.append("v1.2: ✓✓ kept across a reload")

    # Account panel: sessions (end another), password change.
    login_token(base, alice.username)  # another session, to be ended from the panel
    alice.page.get_by_test_id("account").click()
    expect(alice.page.get_by_test_id("session-end").first).to_be_visible()
    count = alice.page.get_by_test_id("session-end").count()
    alice.page.get_by_test_id("session-end").first.click()
    expect(alice.page.get_by_test_id("session-end")).to_have_count(count - 1)
    alice.page.keyboard.press("Escape")
    expect(alice.page.get_by_test_id("account-panel")).to_have_count(0)
    steps.append("v1.2: the account panel listed the sessions and ended one")

    # Bans: an admin bans a member of a public group from its members list.
    token = login_token(base, alice.username)
    bob_id = rest(base, "GET", f"/users?q={bob.username}", token=token)[0]["id"]
    club = f"club_{suffix}"
    rest(base, "POST", "/groups", {"name": club, "member_ids": [bob_id], "public": True}, token)
    expect(bob.conversation(club)).to_be_visible()
    alice.conversation(club).click()
    alice.page.locator(".members-panel summary").click()
    alice.page.locator(f'[data-testid="member"][data-username="{bob.username}"]').get_by_test_id(
        "member-ban").click()
    expect(bob.conversation(club)).to_have_count(0)
    steps.append("v1.2: an admin banned a member from the members list; the group is gone for them")


def tiny_png() -> bytes:
    """A 2x2 red PNG, built here so the test needs no file."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_blank_page(port: int, directory: Path) -> None:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


CROSS_ORIGIN_PROBE = """async ({ api, username, password, ticket }) => {
  const result = {};
  try {
    const login = await fetch(`${api}/api/v1/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const pair = await login.json();
    const me = await fetch(`${api}/api/v1/users/me`, { headers: { Authorization: `Bearer ${pair.access_token}` } });
    result.username = (await me.json()).username;
    result.requestId = Boolean(me.headers.get('X-Request-Id'));
  } catch (err) {
    result.fetchError = String(err);
  }
  result.socket = await new Promise((resolve) => {
    const ws = new WebSocket(`${api.replace('http', 'ws')}/ws?ticket=${ticket}`);
    ws.onmessage = (event) => { resolve(JSON.parse(event.data).type); ws.close(); };
    ws.onclose = (event) => resolve(`closed ${event.code}`);
  });
  return result;
}"""


def cross_origin(args, server: Server, browser, steps: list, workdir: Path) -> None:
    """A page on a listed origin may use the API and the WebSocket; one on another may not."""
    pages = workdir / "pages"
    pages.mkdir(exist_ok=True)
    (pages / "index.html").write_text("<!doctype html><title>another site</title>")
    username = f"carol_{secrets.token_hex(3)}"
    rest(server.base, "POST", "/auth/register", {"username": username, "password": PASSWORD})
    token = rest(server.base, "POST", "/auth/login",
                 {"username": username, "password": PASSWORD})["access_token"]
    for port, listed in ((args.cors_port, True), (args.other_port, False)):
        serve_blank_page(port, pages)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        ticket = rest(server.base, "POST", "/auth/ws-ticket", token=token)["ticket"]
        result = page.evaluate(CROSS_ORIGIN_PROBE, {
            "api": server.base, "username": username, "password": PASSWORD, "ticket": ticket})
        context.close()
        if listed:
            expected = {"username": username, "requestId": True, "socket": "ready"}
            assert result == expected, f"listed origin: {result}"
        else:
            assert "fetchError" in result and result["socket"] == "closed 1006", f"other origin: {result}"
    steps.append("a page on a listed origin used the API and the WebSocket; one on another origin "
                 "could do neither")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cors-port", type=int, required=True, help="a listed origin's port")
    parser.add_argument("--other-port", type=int, required=True, help="an unlisted origin's port")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--screenshot", help="save a screenshot of a conversation here")
    parser.add_argument("--axe", help="axe.min.js (axe-core from npm) for the accessibility scan")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    expect.set_options(timeout=WAIT_MS)
    server = Server(args.bin, args.port, workdir)
    console = ConsoleWatch()
    steps = []
    started = time.monotonic()
    try:
        server.start()
        with sync_playwright() as playwright:
            # Without these Chromium keeps dialling Google's hosts, which this closed network refuses.
            browser = playwright.chromium.launch(executable_path=args.chromium, args=[
                "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            chat(args, server, browser, console, steps)
            cross_origin(args, server, browser, steps, workdir)
            browser.close()
    except Exception as err:  # report what passed before the failure, then the failure
        for step in steps:
            log(f"ok: {step}")
        log(f"FAILED after {time.monotonic() - started:.0f}s: {type(err).__name__}: {err}")
        for problem in console.problems():
            log(f"console: {problem}")
        return 1
    finally:
        server.stop()
    for step in steps:
        log(f"ok: {step}")
    problems = console.problems()
    for problem in problems:
        log(f"console error: {problem}")
    if problems:
        log(f"FAILED: {len(problems)} console error(s)")
        return 1
    log(f"all {len(steps)} steps passed in {time.monotonic() - started:.0f}s, no console errors "
        f"(besides {console.tolerated()} failed connection(s) while the server was down)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
