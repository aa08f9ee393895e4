"""Drives a running server through a Python client generated from docs/openapi.json.

Run by .ci/generated-client.sh, which generates the `simplechat_client` package with
openapi-python-client and puts it on the path. Every operation of the document is called at least
once, along the way a newcomer would take: register, log in, contacts, a group, messages, history,
conversations, then the rest. A response the generated code cannot parse raises (the client is
built with `raise_on_unexpected_status=True`, and every model's `from_dict` checks its fields), and
each answer must be of the type the document promises for its status; either fails the run.

Usage: generated_client.py BASE_URL
"""

import secrets
import sys
import uuid

from simplechat_client import AuthenticatedClient, Client
from simplechat_client.api.auth import (
    create_ws_ticket,
    login,
    logout,
    refresh,
    register,
)
from simplechat_client.api.contacts import add_contact, list_contacts, remove_contact
from simplechat_client.api.groups import (
    add_group_member,
    create_group,
    get_group,
    join_group,
    list_my_groups,
    list_public_groups,
    remove_group_member,
    rename_group,
)
from simplechat_client.api.health import healthz, metrics, readyz
from simplechat_client.api.messages import (
    get_group_history,
    get_private_history,
    list_conversations,
    list_private_messages,
    send_group_message,
    send_private_message,
)
from simplechat_client.api.users import get_me, search_users
from simplechat_client.models import (
    AddContactRequest,
    AddMemberRequest,
    Contact,
    Conversation,
    CreateGroupRequest,
    ErrorBody,
    Group,
    HealthStatus,
    LoginRequest,
    Member,
    Message,
    Page,
    RefreshRequest,
    RegisterRequest,
    RenameGroupRequest,
    SendMessageRequest,
    TokenPair,
    User,
    WsTicket,
)
from simplechat_client.types import Unset

PASSWORD = "correct horse battery"
checks = 0


def expect(response, status, kind):
    """The answer has `status` and parsed into `kind` (a class, or `list` of a class)."""
    global checks
    parsed = response.parsed
    if int(response.status_code) != status:
        raise AssertionError(f"expected {status}, got {int(response.status_code)}: {response.content!r}")
    if isinstance(kind, list):
        assert isinstance(parsed, list), f"expected a list, got {parsed!r}"
        assert all(isinstance(item, kind[0]) for item in parsed), f"expected {kind}: {parsed!r}"
    elif kind is None:
        assert parsed is None, f"expected no body, got {parsed!r}"
    else:
        assert isinstance(parsed, kind), f"expected {kind.__name__}, got {parsed!r}"
    checks += 1
    return parsed


def new_user(base_url, name):
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    username = f"{name}_{secrets.token_hex(4)}"
    user = expect(
        register.sync_detailed(
            client=anonymous,
            body=RegisterRequest(username=username, password=PASSWORD, display_name=name.title()),
        ),
        201,
        User,
    )
    assert user.display_name == name.title()
    pair = expect(
        login.sync_detailed(
            client=anonymous, body=LoginRequest(username=username, password=PASSWORD)
        ),
        200,
        TokenPair,
    )
    assert pair.user.id == user.id
    authed = AuthenticatedClient(
        base_url=base_url, token=pair.access_token, raise_on_unexpected_status=True
    )
    return user, pair, authed


def main(base_url):
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    expect(healthz.sync_detailed(client=anonymous), 200, HealthStatus)
    expect(readyz.sync_detailed(client=anonymous), 200, HealthStatus)
    scraped = expect(metrics.sync_detailed(client=anonymous), 200, str)
    assert "# TYPE" in scraped, scraped

    alice, alice_tokens, as_alice = new_user(base_url, "alice")
    bob, _, as_bob = new_user(base_url, "bob")
    carol, _, as_carol = new_user(base_url, "carol")

    # Users.
    me = expect(get_me.sync_detailed(client=as_alice), 200, User)
    assert me.id == alice.id
    found = expect(search_users.sync_detailed(client=as_alice, q=bob.username, limit=5), 200, [User])
    assert [user.id for user in found] == [bob.id]

    # Contacts: a contact who never connected has no last_seen_at at all (not null).
    contact = expect(
        add_contact.sync_detailed(client=as_alice, body=AddContactRequest(username=bob.username)),
        201,
        Contact,
    )
    assert isinstance(contact.last_seen_at, Unset), contact.last_seen_at
    expect(add_contact.sync_detailed(client=as_alice, body=AddContactRequest(username=carol.username)), 201, Contact)
    contacts = expect(list_contacts.sync_detailed(client=as_alice), 200, [Contact])
    assert {c.user.id for c in contacts} >= {bob.id, carol.id}
    missing = expect(
        add_contact.sync_detailed(client=as_alice, body=AddContactRequest(username="nobody_" + secrets.token_hex(4))),
        404,
        ErrorBody,
    )
    assert missing.code == "not_found"

    # A group with bob; carol joins later through add-member, then leaves.
    group = expect(
        create_group.sync_detailed(
            client=as_alice, body=CreateGroupRequest(name="Team", member_ids=[bob.id], public=False)
        ),
        201,
        Group,
    )
    assert group.created_by == alice.id and group.member_count == 2
    expect(get_group.sync_detailed(group.id, client=as_bob), 200, Group)
    renamed = expect(
        rename_group.sync_detailed(group.id, client=as_alice, body=RenameGroupRequest(name="Team A")),
        200,
        Group,
    )
    assert renamed.name == "Team A"
    expect(
        add_group_member.sync_detailed(group.id, client=as_alice, body=AddMemberRequest(user_id=carol.id)),
        201,
        Member,
    )
    expect(remove_group_member.sync_detailed(group.id, carol.id, client=as_carol), 204, None)
    mine = expect(list_my_groups.sync_detailed(client=as_bob), 200, [Group])
    assert group.id in {g.id for g in mine}

    # The public `general` room was made by the system: no created_by at all (not null).
    public = expect(list_public_groups.sync_detailed(client=as_carol), 200, [Group])
    general = next(g for g in public if g.name == "general")
    assert isinstance(general.created_by, Unset), general.created_by
    expect(join_group.sync_detailed(general.id, client=as_carol), 201, Member)

    # Messages, both ways.
    sent = expect(
        send_private_message.sync_detailed(
            bob.id, client=as_alice, body=SendMessageRequest(content="hi bob", client_msg_id=str(uuid.uuid4()))
        ),
        201,
        Message,
    )
    expect(
        send_group_message.sync_detailed(
            group.id, client=as_bob, body=SendMessageRequest(content="hi team", client_msg_id=str(uuid.uuid4()))
        ),
        201,
        Message,
    )
    assert sent.content == "hi bob" and sent.seq == 1

    # History and conversations.
    page = expect(get_private_history.sync_detailed(alice.id, client=as_bob, limit=10), 200, Page)
    assert [m.content for m in page.items] == ["hi bob"] and not page.has_more
    page = expect(get_group_history.sync_detailed(group.id, client=as_alice), 200, Page)
    assert [m.content for m in page.items] == ["hi team"]
    page = expect(list_private_messages.sync_detailed(client=as_bob, limit=10), 200, Page)
    assert [m.id for m in page.items] == [sent.id]
    conversations = expect(list_conversations.sync_detailed(client=as_bob), 200, [Conversation])
    unread = {conversation.unread for conversation in conversations}
    assert len(conversations) == 2 and unread == {0, 1}, conversations
    # A conversation without messages (carol's, in general) has no last_message at all.
    quiet = expect(list_conversations.sync_detailed(client=as_carol), 200, [Conversation])
    assert quiet, "carol is in general, so she has a conversation"
    for conversation in quiet:
        assert isinstance(conversation.last_message, Unset), conversation

    # Contacts go; tickets, refresh and logout.
    expect(remove_contact.sync_detailed(carol.id, client=as_alice), 204, None)
    expect(create_ws_ticket.sync_detailed(client=as_alice), 201, WsTicket)
    expect(
        refresh.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=alice_tokens.refresh_token)),
        200,
        TokenPair,
    )
    expect(logout.sync_detailed(client=as_bob), 204, None)
    gone = expect(get_me.sync_detailed(client=as_bob), 401, ErrorBody)
    assert gone.code == "unauthorized"
    print(f"{checks} calls through the generated client, each answered and parsed as documented")


if __name__ == "__main__":
    main(sys.argv[1])
