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

    def __init__(self, browser, base: str, username: str, console: ConsoleWatch, name: str):
        self.username = username
        self.context = browser.new_context(viewport={"width": 1100, "height": 680})
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
    groups_and_chatbot(alice, bob, suffix)
    steps.append("a group created, a member added, both wrote in it; general joined; the chatbot "
                 "answered")
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
                 "was stored once, and both caught up on what was sent while they were away")

    bob.page.get_by_test_id("logout").click()
    expect(bob.page.get_by_test_id("auth-username")).to_be_visible()
    expect(alice.conversation(bob.username)).to_have_attribute("data-online", "false")
    bob.page.reload()
    expect(bob.page.get_by_test_id("auth-login")).to_be_visible()
    steps.append("logged out: the login screen, also after a reload; shown offline")


def groups_and_chatbot(alice: Person, bob: Person, suffix: str) -> None:
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

    bob.page.get_by_role("button", name="Join general").click()
    expect(bob.conversation("general")).to_have_class(re.compile(r"\bopen\b"))

    alice.conversation("chatbot").click()
    alice.send("What is a sonyflake id?")
    expect(alice.message(2)).to_contain_text("hi from the fake provider")


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
