/**
 * Malformed, oversized and hostile input to every /v1 route: each gets a clear 4xx with a code and
 * a message, and nothing stored changes. Runs against both store backends, with no dispatcher, so
 * the runs created here stay queued and the store can be inspected.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { hashToken } from "../../src/server/tokens.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { testBackends } from "../helpers/test-databases.ts";

interface ErrorBody {
  error: { code: string; message: string };
}

function expectError(
  res: { status: number; body: unknown; text: string },
  status: number,
  code: string,
  message?: RegExp,
): void {
  assert.equal(res.status, status, res.text);
  const err = (res.body as ErrorBody).error;
  assert.equal(err.code, code, res.text);
  assert.ok(err.message.length > 0);
  if (message !== undefined) assert.match(err.message, message);
}

for (const backend of testBackends()) {
  describe(`API input (${backend})`, () => {
    let t: TestGantry;
    let alice: string;
    let bob: string;
    let viewer: string;
    let aliceRun: string;

    before(async () => {
      t = await startTestGantry(backend, { roles: { api: true, dispatcher: false } });
      alice = await t.createToken("submitter", "alice");
      bob = await t.createToken("submitter", "bob");
      viewer = await t.createToken("viewer", "viewer");
      const res = await t.api("POST", "/v1/runs", { token: alice, body: { command: ["echo", "hi"] } });
      assert.equal(res.status, 201, res.text);
      aliceRun = (res.body as { id: string }).id;
    });
    after(() => t.stop());

    async function runCount(): Promise<number> {
      const counts = await t.gantry.store.countRunsByState();
      return Object.values(counts).reduce((a, b) => a + b, 0);
    }

    test("authentication failures are 401 and say how to authenticate", async () => {
      const before = await runCount();
      for (const token of [null, "gty_wrong", "not-a-token", "x".repeat(5000)]) {
        expectError(
          await t.api("POST", "/v1/runs", { token, body: { command: ["true"] } }),
          401,
          "GANTRY_ERR_UNAUTHENTICATED",
          /Bearer/,
        );
      }
      expectError(
        await t.api("GET", "/v1/runs", { token: null, headers: { authorization: "Basic YWRtaW46YWRtaW4=" } }),
        401,
        "GANTRY_ERR_UNAUTHENTICATED",
      );
      assert.equal(await runCount(), before);
    });

    test("a viewer may read but not create or cancel", async () => {
      expectError(
        await t.api("POST", "/v1/runs", { token: viewer, body: { command: ["true"] } }),
        403,
        "GANTRY_ERR_FORBIDDEN",
      );
      expectError(
        await t.api("POST", `/v1/runs/${aliceRun}/cancel`, { token: viewer }),
        403,
        "GANTRY_ERR_FORBIDDEN",
      );
      assert.equal((await t.api("GET", `/v1/runs/${aliceRun}`, { token: viewer })).status, 200);
    });

    test("malformed bodies are refused and store nothing", async () => {
      const before = await runCount();
      const cases: [string | unknown, number, string, RegExp?][] = [
        ['{"command": [', 400, "GANTRY_ERR_BAD_JSON"],
        ["", 400, "GANTRY_ERR_BAD_JSON"],
        ['{"__proto__": {"admin": true}, "command": ["x"]}', 400, "GANTRY_ERR_BAD_JSON"],
        [{ command: "echo hi" }, 400, "GANTRY_ERR_VALIDATION", /body\.command must be array/],
        [{ command: [] }, 400, "GANTRY_ERR_VALIDATION", /command/],
        [{ command: [1, 2] }, 400, "GANTRY_ERR_VALIDATION"],
        [{ command: ["x"], surprise: 1 }, 400, "GANTRY_ERR_VALIDATION", /surprise/],
        [{ command: ["x"], priority: "5" }, 400, "GANTRY_ERR_VALIDATION", /priority/],
        [{ command: ["x"], limits: { memoryMB: 1e9 } }, 400, "GANTRY_ERR_LIMIT_EXCEEDED", /memoryMB/],
        [{ command: ["x"], limits: { cpuSeconds: -1 } }, 400, "GANTRY_ERR_VALIDATION"],
        [{ command: ["x"], limits: { gpus: 1 } }, 400, "GANTRY_ERR_VALIDATION", /gpus/],
        [
          { command: ["x"], files: [{ path: "../../etc/passwd", content: "x" }] },
          400,
          "GANTRY_ERR_VALIDATION",
          /etc\/passwd/,
        ],
        [{ command: ["x"], files: [{ path: "/abs", content: "x" }] }, 400, "GANTRY_ERR_VALIDATION"],
        [{ command: ["x"], env: { "A=B": "1" } }, 400, "GANTRY_ERR_VALIDATION"],
        [{ command: ["x"], env: { A: 1 } }, 400, "GANTRY_ERR_VALIDATION"],
        [{ command: ["x"], kind: "manifest" }, 400, "GANTRY_ERR_VALIDATION"],
        [{ command: ["x"], maxAttempts: 1000 }, 400, "GANTRY_ERR_VALIDATION"],
        [[1, 2, 3], 400, "GANTRY_ERR_VALIDATION"],
        ["null", 400, "GANTRY_ERR_VALIDATION"],
      ];
      for (const [body, status, code, message] of cases) {
        const res = await t.api("POST", "/v1/runs", typeof body === "string" ? { raw: body } : { body });
        expectError(res, status, code, message);
      }
      expectError(
        await t.api("POST", "/v1/runs", {
          raw: "command=x",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }),
        415,
        "GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE",
      );
      assert.equal(await runCount(), before);
    });

    test("oversized bodies are refused with 413", async () => {
      const before = await runCount();
      const huge = JSON.stringify({ command: ["echo", "x".repeat(t.config.bodyLimitBytes + 10)] });
      expectError(await t.api("POST", "/v1/runs", { raw: huge }), 413, "GANTRY_ERR_BODY_TOO_LARGE");
      assert.equal(await runCount(), before);
    });

    test("invalid and unknown run ids", async () => {
      expectError(await t.api("GET", "/v1/runs/not-a-uuid"), 400, "GANTRY_ERR_INVALID_ID");
      expectError(
        await t.api("GET", `/v1/runs/${encodeURIComponent("' OR 1=1 --")}`),
        400,
        "GANTRY_ERR_INVALID_ID",
      );
      expectError(
        await t.api("GET", "/v1/runs/00000000-0000-4000-8000-000000000000"),
        404,
        "GANTRY_ERR_NOT_FOUND",
      );
      expectError(await t.api("GET", `/v1/runs/${"a".repeat(300)}`), 414, "GANTRY_ERR_URI_TOO_LONG");
      expectError(await t.api("GET", "/v1/runs/%E0%A4%A"), 400, "GANTRY_ERR_VALIDATION");
      expectError(
        await t.api("POST", "/v1/runs/00000000-0000-4000-8000-000000000000/cancel"),
        404,
        "GANTRY_ERR_NOT_FOUND",
      );
      expectError(await t.api("GET", "/v1/nothing-here"), 404, "GANTRY_ERR_ROUTE_NOT_FOUND");
    });

    test("another user's run is invisible and cannot be cancelled", async () => {
      expectError(await t.api("GET", `/v1/runs/${aliceRun}`, { token: bob }), 404, "GANTRY_ERR_NOT_FOUND");
      expectError(
        await t.api("GET", `/v1/runs/${aliceRun}/logs`, { token: bob }),
        404,
        "GANTRY_ERR_NOT_FOUND",
      );
      expectError(
        await t.api("GET", `/v1/runs/${aliceRun}/events`, { token: bob }),
        404,
        "GANTRY_ERR_NOT_FOUND",
      );
      expectError(
        await t.api("POST", `/v1/runs/${aliceRun}/cancel`, { token: bob }),
        404,
        "GANTRY_ERR_NOT_FOUND",
      );
      const list = await t.api("GET", "/v1/runs", { token: bob });
      assert.deepEqual((list.body as { runs: unknown[] }).runs, []);
      expectError(await t.api("GET", "/v1/runs?owner=alice", { token: bob }), 403, "GANTRY_ERR_FORBIDDEN");
      const run = await t.gantry.store.getRun(aliceRun);
      assert.equal(run?.state, "queued");
    });

    test("bad list and log queries", async () => {
      for (const q of [
        "limit=abc",
        "limit=0",
        "limit=9999",
        "state=bogus",
        "surprise=1",
        "state=" + "x".repeat(300),
      ]) {
        expectError(await t.api("GET", `/v1/runs?${q}`), 400, "GANTRY_ERR_VALIDATION");
      }
      for (const q of ["tail=abc", "follow=maybe", "after=-1", "unknown=1"]) {
        expectError(await t.api("GET", `/v1/runs/${aliceRun}/logs?${q}`), 400, "GANTRY_ERR_VALIDATION");
      }
      const page = await t.api("GET", "/v1/runs?cursor=garbage");
      assert.ok(page.status === 400 || page.status === 200, page.text);
    });

    test("internal routes take only the run's own token, once", async () => {
      const path = `/v1/internal/runs/${aliceRun}`;
      expectError(
        await t.api("GET", `${path}/payload`, { token: null }),
        401,
        "GANTRY_ERR_RUN_TOKEN_INVALID",
      );
      expectError(await t.api("GET", `${path}/payload`), 401, "GANTRY_ERR_RUN_TOKEN_INVALID");
      expectError(
        await t.api("GET", `${path}/payload`, { token: "gtr_" + "A".repeat(43) }),
        401,
        "GANTRY_ERR_RUN_TOKEN_INVALID",
      );
      const runToken = "gtr_" + "B".repeat(43);
      await t.gantry.store.setRunToken(aliceRun, 1, hashToken(runToken), new Date(Date.now() + 60_000));
      const payload = await t.api("GET", `${path}/payload`, {
        token: null,
        headers: { "x-run-token": runToken },
      });
      assert.equal(payload.status, 200, payload.text);
      assert.deepEqual((payload.body as { spec: { command: string[] } }).spec.command, ["echo", "hi"]);
      expectError(
        await t.api("GET", "/v1/internal/runs/00000000-0000-4000-8000-000000000000/payload", {
          token: runToken,
        }),
        401,
        "GANTRY_ERR_RUN_TOKEN_INVALID",
      );
      expectError(
        await t.api("POST", `${path}/result`, { token: runToken, body: { score: 1 } }),
        400,
        "GANTRY_ERR_VALIDATION",
        /status/,
      );
      expectError(
        await t.api("POST", `${path}/result`, {
          token: runToken,
          body: { status: "ok", metrics: { a: "fast" } },
        }),
        400,
        "GANTRY_ERR_VALIDATION",
      );
      const ok = await t.api("POST", `${path}/result`, {
        token: runToken,
        body: { status: "ok", score: 0.5 },
      });
      assert.equal(ok.status, 200, ok.text);
      expectError(
        await t.api("POST", `${path}/result`, { token: runToken, body: { status: "again" } }),
        401,
        "GANTRY_ERR_RUN_TOKEN_INVALID",
      );
      const result = await t.gantry.store.getResult(aliceRun);
      assert.equal(result?.status, "ok");
      assert.equal(result?.score, 0.5);
    });

    test("token management is admin-only and validated", async () => {
      expectError(
        await t.api("POST", "/v1/tokens", { token: alice, body: { name: "x", role: "admin" } }),
        403,
        "GANTRY_ERR_FORBIDDEN",
      );
      expectError(await t.api("GET", "/v1/tokens", { token: viewer }), 403, "GANTRY_ERR_FORBIDDEN");
      expectError(
        await t.api("POST", "/v1/tokens", { body: { name: "x", role: "root" } }),
        400,
        "GANTRY_ERR_VALIDATION",
      );
      expectError(
        await t.api("POST", "/v1/tokens", { body: { name: "x", role: "viewer", owner: "a b" } }),
        400,
        "GANTRY_ERR_VALIDATION",
      );
      expectError(
        await t.api("DELETE", "/v1/tokens/00000000-0000-4000-8000-000000000000"),
        404,
        "GANTRY_ERR_NOT_FOUND",
      );
      expectError(await t.api("DELETE", "/v1/tokens/nope"), 400, "GANTRY_ERR_INVALID_ID");
      const created = await t.api("POST", "/v1/tokens", { body: { name: "temp", role: "viewer" } });
      const { id, token } = created.body as { id: string; token: string };
      assert.equal((await t.api("GET", "/v1/runs", { token })).status, 200);
      assert.equal((await t.api("DELETE", `/v1/tokens/${id}`)).status, 200);
      expectError(await t.api("GET", "/v1/runs", { token }), 401, "GANTRY_ERR_UNAUTHENTICATED");
      const list = await t.api("GET", "/v1/tokens");
      assert.ok(!list.text.includes(token), "secrets are never listed");
    });

    test("health, readiness, metrics and docs answer", async () => {
      assert.equal((await t.api("GET", "/healthz", { token: null })).status, 200);
      const ready = await t.api("GET", "/readyz", { token: null });
      assert.deepEqual(ready.body, { ok: true, store: backend });
      const metrics = await t.api("GET", "/metrics", { token: null });
      assert.match(metrics.text, /gantry_queue_depth \d+/);
      assert.match(metrics.text, /gantry_runs\{state="queued"\} \d+/);
      const doc = await t.api("GET", "/docs/json", { token: null });
      assert.ok((doc.body as { paths: Record<string, unknown> }).paths["/v1/runs"]);
    });
  });
}
