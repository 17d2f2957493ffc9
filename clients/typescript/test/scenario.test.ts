// The TypeScript client against a live server: the scenario of docs/clients.md, and the
// consistency token echoed on the wire. tests/clients/test_typescript_client.py starts the
// server and runs this with FUNDAMENT_URL and FUNDAMENT_OPERATOR_KEY set.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import type { Middleware } from "openapi-fetch";

import { CONSISTENCY_HEADER, Consistency, ProblemError, createFundamentClient, expect } from "../src/index.js";

const baseUrl = required("FUNDAMENT_URL");
const operatorKey = required("FUNDAMENT_OPERATOR_KEY");
const TOKEN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/clients/test_typescript_client.py`);
  return value;
}

/** What each request sent and each response answered (registered after the client's own). */
function wire(): { exchanges: [string, string | null, string | null][]; middleware: Middleware } {
  const exchanges: [string, string | null, string | null][] = [];
  return {
    exchanges,
    middleware: {
      onResponse({ request, response }) {
        exchanges.push([request.method, request.headers.get(CONSISTENCY_HEADER), response.headers.get(CONSISTENCY_HEADER)]);
        return undefined;
      },
    },
  };
}

test("scenario: tenant, key, collection, records, filter, ETags, problems", async () => {
  const seen = wire();
  const operator = createFundamentClient({ baseUrl, key: operatorKey });
  operator.use(seen.middleware);

  const slug = `ts-${randomUUID().slice(0, 8)}`;
  const tenant = await expect(operator.POST("/v1/tenants", { body: { name: "Acme", slug } }));
  assert.equal(tenant.slug, slug);
  assert.match(operator.consistency.token ?? "", TOKEN);
  const created = await expect(
    operator.POST("/v1/tenants/{tenant}/api-keys", {
      params: { path: { tenant: tenant.id } },
      body: { name: "admin", role: "admin" },
    }),
  );
  assert.match(created.key, /^fdk_/);
  await expect(operator.GET("/v1/tenants/{tenant}", { params: { path: { tenant: tenant.id } } }));

  // The tenant's client goes on from the operator's writes: it shares their token.
  const admin = createFundamentClient({ baseUrl, key: created.key, consistency: operator.consistency });
  admin.use(seen.middleware);
  const path = { tenant: tenant.id, name: "contacts" };
  await expect(
    admin.POST("/v1/tenants/{tenant}/collections", {
      params: { path: { tenant: tenant.id } },
      body: {
        name: "contacts",
        schema: {
          type: "object",
          properties: { email: { type: "string" }, score: { type: "integer" } },
          required: ["email"],
          additionalProperties: false,
        },
        indexes: ["score"],
      },
    }),
  );
  const ada = await expect(
    admin.POST("/v1/tenants/{tenant}/collections/{name}/records", {
      params: { path },
      body: { data: { email: "ada@example.com", score: 9 } },
    }),
  );
  await expect(
    admin.POST("/v1/tenants/{tenant}/collections/{name}/records", {
      params: { path },
      body: { data: { email: "bob@example.com", score: 3 } },
    }),
  );
  assert.equal(ada.version, 1);

  const listed = await expect(
    admin.GET("/v1/tenants/{tenant}/collections/{name}/records", {
      params: { path, query: { filter: "score gt 5" } },
    }),
  );
  assert.deepEqual(
    listed.items.map((r) => r.id),
    [ada.id],
  );

  // ETags: the read's ETag answers 304 to If-None-Match, a stale one 412 to If-Match.
  const recordPath = { ...path, record_id: ada.id };
  const got = await admin.GET("/v1/tenants/{tenant}/collections/{name}/records/{record_id}", {
    params: { path: recordPath },
  });
  assert.equal(got.response.status, 200);
  const etag = got.response.headers.get("ETag");
  assert.ok(etag);
  const again = await admin.GET("/v1/tenants/{tenant}/collections/{name}/records/{record_id}", {
    params: { path: recordPath, header: { "If-None-Match": etag } },
  });
  assert.equal(again.response.status, 304);
  const stale = await admin
    .PATCH("/v1/tenants/{tenant}/collections/{name}/records/{record_id}", {
      params: { path: recordPath, header: { "If-Match": '"stale"' } },
      body: { score: 10 },
    })
    .then(expect)
    .catch((e: unknown) => e);
  assert.ok(stale instanceof ProblemError, String(stale));
  assert.equal(stale.status, 412);
  assert.equal(stale.type, "/problems/precondition-failed");
  assert.equal(stale.response.headers.get("Content-Type"), "application/problem+json");
  const updated = await expect(
    admin.PATCH("/v1/tenants/{tenant}/collections/{name}/records/{record_id}", {
      params: { path: recordPath, header: { "If-Match": etag } },
      body: { score: 10 },
    }),
  );
  assert.equal(updated.version, 2);
  assert.equal(updated.data.score, 10);

  // A problem with field errors, typed: the record breaks the collection's schema.
  const invalid = await admin.POST("/v1/tenants/{tenant}/collections/{name}/records", {
    params: { path },
    body: { data: { score: "high" } },
  });
  assert.equal(invalid.response.status, 422);
  assert.equal(invalid.error?.type, "/problems/validation-error");
  assert.ok((invalid.error?.errors ?? []).length > 0);

  // Each request after the first write carried the token of the latest write before it.
  let last: string | null = null;
  let writes = 0;
  for (const [method, sent, answered] of seen.exchanges) {
    assert.equal(sent, last, `${method} sent ${sent}, the last write answered ${last}`);
    if (answered !== null) {
      assert.notEqual(method, "GET");
      assert.match(answered, TOKEN);
      last = answered;
      writes += 1;
    }
  }
  assert.ok(writes >= 5, `only ${writes} writes answered a token`);
});

test("the echoed token reaches the server: a garbled one is refused", async () => {
  const operator = createFundamentClient({ baseUrl, key: operatorKey, consistency: new Consistency() });
  const tenant = await expect(
    operator.POST("/v1/tenants", { body: { name: "Acme", slug: `ts-${randomUUID().slice(0, 8)}` } }),
  );
  operator.consistency.token = "not-a-token";
  const refused = await expect(operator.GET("/v1/tenants/{tenant}", { params: { path: { tenant: tenant.id } } })).catch(
    (e: unknown) => e,
  );
  assert.ok(refused instanceof ProblemError, String(refused));
  assert.equal(refused.status, 400);
  assert.equal(refused.type, "/problems/invalid-consistency-token");
});
