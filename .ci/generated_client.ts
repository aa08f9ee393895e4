// Drives a running server through TypeScript types generated from docs/openapi.json
// (openapi-typescript) and the typed fetch wrapper openapi-fetch. Run by .ci/generated-client.sh:
// `tsc` type-checks this file against the generated `schema.d.ts` (a route, parameter, body or
// field the document does not have is a compile error), then node runs the compiled file.
//
// Usage: node generated_client.js BASE_URL

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type User = components["schemas"]["User"];

const baseUrl = process.argv[2];
const api = createClient<paths>({ baseUrl });
const password = "correct horse battery";
let calls = 0;

/** The answer has `status`, and a body when one is expected; returns the body. */
function expect<T>(
  reply: { data?: T; error?: unknown; response: Response },
  status: number,
): T {
  calls += 1;
  if (reply.response.status !== status) {
    throw new Error(
      `${reply.response.url}: expected ${status}, got ${reply.response.status} ${JSON.stringify(reply.error)}`,
    );
  }
  return reply.data as T;
}

function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}

async function newUser(name: string): Promise<{ user: User; token: string }> {
  const username = `${name}_${Math.random().toString(36).slice(2, 10)}`;
  const user = expect(
    await api.POST("/api/v1/auth/register", { body: { username, password, display_name: name } }),
    201,
  );
  const pair = expect(await api.POST("/api/v1/auth/login", { body: { username, password } }), 200);
  return { user, token: pair.access_token };
}

async function main() {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  const asAlice = bearer(alice.token);
  const asBob = bearer(bob.token);

  const contact = expect(
    await api.POST("/api/v1/contacts", { body: { username: bob.user.username }, headers: asAlice }),
    201,
  );
  if (contact.last_seen_at !== undefined) throw new Error("last_seen_at should be absent");
  expect(await api.GET("/api/v1/contacts", { headers: asAlice }), 200);

  const group = expect(
    await api.POST("/api/v1/groups", {
      body: { name: "Team", member_ids: [bob.user.id], public: false },
      headers: asAlice,
    }),
    201,
  );
  const sent = expect(
    await api.POST("/api/v1/messages/private/{user_id}", {
      params: { path: { user_id: bob.user.id } },
      body: { content: "hi bob", client_msg_id: "ts-1" },
      headers: asAlice,
    }),
    201,
  );
  expect(
    await api.POST("/api/v1/groups/{group_id}/messages", {
      params: { path: { group_id: group.id } },
      body: { content: "hi team", client_msg_id: "ts-2" },
      headers: asBob,
    }),
    201,
  );
  const page = expect(
    await api.GET("/api/v1/messages/private/{user_id}", {
      params: { path: { user_id: alice.user.id }, query: { limit: 10 } },
      headers: asBob,
    }),
    200,
  );
  if (page.items.length !== 1 || page.items[0].id !== sent.id) throw new Error("history");
  const history = expect(
    await api.GET("/api/v1/groups/{group_id}/messages", {
      params: { path: { group_id: group.id } },
      headers: asAlice,
    }),
    200,
  );
  if (history.items[0].content !== "hi team") throw new Error("group history");
  const conversations = expect(await api.GET("/api/v1/conversations", { headers: asBob }), 200);
  if (conversations.length !== 2) throw new Error("conversations");

  const refused = await api.POST("/api/v1/contacts", {
    body: { username: "nobody_at_all" },
    headers: asAlice,
  });
  expect(refused, 404);
  if (refused.error?.code !== "not_found") throw new Error("an ErrorBody");
  console.log(`${calls} calls through the generated TypeScript types, each answered as documented`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
