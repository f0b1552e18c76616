/**
 * Runs end to end on one machine: API → store → dispatcher → local sandbox → state, logs, events,
 * result — against both store backends.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseSseFrame } from "../../src/cli/client.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { testBackends } from "../helpers/test-databases.ts";

interface RunBody {
  id: string;
  state: string;
  reason: string | null;
  exitCode: number | null;
  attempt: number;
  result?: { status: string; score: number | null } | null;
}

async function readSse(
  url: string,
  token: string,
  timeoutMs = 20_000,
): Promise<{ event: string; data: unknown }[]> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    signal: AbortSignal.timeout(timeoutMs),
  });
  assert.equal(response.status, 200);
  const text = await response.text();
  return text
    .split("\n\n")
    .map(parseSseFrame)
    .filter((f): f is { event: string; data: unknown } => f !== null);
}

for (const backend of testBackends()) {
  describe(`runs end to end (${backend})`, () => {
    let t: TestGantry;
    before(async () => {
      t = await startTestGantry(backend, {}, { GANTRY_MAX_ACTIVE_RUNS: "4" });
    });
    after(() => t.stop());

    async function submit(body: Record<string, unknown>, token?: string): Promise<RunBody> {
      const res = await t.api("POST", "/v1/runs", { body, ...(token === undefined ? {} : { token }) });
      assert.equal(res.status, 201, res.text);
      return res.body as RunBody;
    }

    test("a command runs in the sandbox, succeeds, and its output is in the log", async () => {
      const run = await submit({ command: ["sh", "-c", "echo hello; echo oops >&2"] });
      assert.equal(run.state, "queued");
      const done = (await t.waitForRun(run.id)) as unknown as RunBody;
      assert.equal(done.state, "succeeded", JSON.stringify(done));
      assert.equal(done.exitCode, 0);
      const logs = await t.api("GET", `/v1/runs/${run.id}/logs`);
      const lines = (logs.body as { lines: { stream: string; text: string }[] }).lines;
      assert.deepEqual(
        lines.filter((l) => l.stream !== "system").map((l) => [l.stream, l.text]),
        [
          ["stdout", "hello"],
          ["stderr", "oops"],
        ].filter(([s]) => lines.some((l) => l.stream === s)),
      );
      assert.ok(lines.some((l) => l.stream === "stdout" && l.text === "hello"));
      assert.ok(lines.some((l) => l.stream === "stderr" && l.text === "oops"));
    });

    test("a failing command ends failed with its exit code as the reason", async () => {
      const run = await submit({ command: ["sh", "-c", "exit 3"] });
      const done = (await t.waitForRun(run.id)) as unknown as RunBody;
      assert.equal(done.state, "failed");
      assert.equal(done.reason, "exit_code 3");
      assert.equal(done.exitCode, 3);
    });

    test("a run over its wall time is timed_out", async () => {
      const run = await submit({ command: ["sleep", "30"], limits: { wallSeconds: 1 } });
      const done = (await t.waitForRun(run.id)) as unknown as RunBody;
      assert.equal(done.state, "timed_out");
      assert.match(String(done.reason), /wall_time_limit/);
    });

    test("retries: a failing run gets new attempts up to maxAttempts", async () => {
      const run = await submit({ command: ["sh", "-c", "exit 7"], maxAttempts: 2 });
      const done = (await t.waitForRun(run.id, 30_000)) as unknown as RunBody;
      assert.equal(done.state, "failed");
      assert.equal(done.attempt, 2);
      const events = (await t.api("GET", `/v1/runs/${run.id}/events`)).body as {
        events: { to: string; attempt: number; reason: string }[];
      };
      assert.ok(
        events.events.some(
          (e) => e.to === "queued" && e.attempt === 1 && /exit_code 7; retrying/.test(e.reason),
        ),
        JSON.stringify(events),
      );
    });

    test("cancel stops a running run", async () => {
      const run = await submit({ command: ["sleep", "30"] });
      for (let i = 0; i < 200; i++) {
        const cur = (await t.api("GET", `/v1/runs/${run.id}`)).body as RunBody;
        if (cur.state === "running") break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const cancelled = await t.api("POST", `/v1/runs/${run.id}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal((cancelled.body as RunBody).state, "cancelled");
      const again = await t.api("POST", `/v1/runs/${run.id}/cancel`);
      assert.equal(again.status, 409);
      // The sandbox is gone soon after: the executor no longer lists the attempt.
      for (let i = 0; i < 100; i++) {
        const active = await t.gantry.executor?.activeAttempts();
        if (active !== undefined && ![...active].some((k) => k.startsWith(run.id))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const active = await t.gantry.executor?.activeAttempts();
      assert.ok(active !== undefined && ![...active].some((k) => k.startsWith(run.id)), "attempt stopped");
    });

    test("a queued run can be cancelled before it starts", async () => {
      const blockers = await Promise.all(
        Array.from({ length: 4 }, () => submit({ command: ["sleep", "3"] })),
      );
      const waiting = await submit({ command: ["true"], priority: -5 });
      const res = await t.api("POST", `/v1/runs/${waiting.id}/cancel`);
      assert.equal(res.status, 200, res.text);
      assert.equal((res.body as RunBody).state, "cancelled");
      for (const b of blockers) await t.api("POST", `/v1/runs/${b.id}/cancel`);
    });

    test("events stream as SSE and end with the terminal state", async () => {
      const run = await submit({ command: ["sh", "-c", "sleep 0.3; echo done"] });
      const frames = await readSse(`${t.url}/v1/runs/${run.id}/events`, t.adminToken);
      const states = frames.filter((f) => f.event === "state").map((f) => (f.data as { to: string }).to);
      assert.deepEqual(states.slice(0, 1), ["queued"]);
      assert.equal(states.at(-1), "succeeded");
      assert.ok(states.includes("running"));
      const end = frames.at(-1);
      assert.equal(end?.event, "end");
    });

    test("logs follow streams lines while the run is live and ends with it", async () => {
      const run = await submit({ command: ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"] });
      const frames = await readSse(`${t.url}/v1/runs/${run.id}/logs?follow=true`, t.adminToken);
      const texts = frames
        .filter((f) => f.event === "log" && (f.data as { stream: string }).stream === "stdout")
        .map((f) => (f.data as { text: string }).text);
      assert.deepEqual(texts, ["line1", "line2", "line3"]);
      assert.equal(frames.at(-1)?.event, "end");
      const tail = await t.api("GET", `/v1/runs/${run.id}/logs?tail=1`);
      const tailLines = (tail.body as { lines: { text: string }[] }).lines;
      assert.equal(tailLines.length, 1);
    });

    test("inside its sandbox, the workload reads its payload and posts its result through the API socket", async () => {
      const api =
        'curl -sS --fail-with-body --unix-socket "$GANTRY_API_SOCKET" -H "X-Run-Token: $GANTRY_RUN_TOKEN"';
      const url = "http://gantry/v1/internal/runs/$GANTRY_RUN_ID";
      const script = [
        `${api} "${url}/payload"; echo`,
        `${api} -H 'content-type: application/json' -d '{"status":"ok","score":42,"failTags":["none"],"metrics":{"timeMs":5}}' "${url}/result"; echo`,
        `${api} "${url}/result" -d '{"status":"again"}' -H 'content-type: application/json'; echo " -> $?"`,
        `${api} "http://gantry/v1/runs"; echo " -> $?"`,
      ].join("\n");
      const run = await submit({ command: ["sh", "-c", script] });
      const done = (await t.waitForRun(run.id)) as unknown as RunBody;
      const logs = (await t.api("GET", `/v1/runs/${run.id}/logs`)).body as {
        lines: { stream: string; text: string }[];
      };
      const out = logs.lines.filter((l) => l.stream === "stdout").map((l) => l.text);
      assert.equal(done.state, "succeeded", JSON.stringify(logs));
      const payload = JSON.parse(out[0] ?? "{}") as {
        runId: string;
        attempt: number;
        spec: { command: string[] };
      };
      assert.equal(payload.runId, run.id);
      assert.equal(payload.attempt, 1);
      assert.equal(payload.spec.command[0], "sh");
      assert.deepEqual(JSON.parse(out[1] ?? "{}"), { ok: true, runId: run.id, attempt: 1 });
      assert.match(out[2] ?? "", /GANTRY_ERR_RUN_TOKEN_INVALID.* -> 22$/, "the token is used up");
      assert.match(
        out[3] ?? "",
        /GANTRY_ERR_ROUTE_NOT_FOUND.* -> 22$/,
        "the socket serves only internal routes",
      );
      assert.equal(done.result?.score, 42);
      assert.equal(done.result?.status, "ok");
    });

    test("metrics count dispatches", async () => {
      const metrics = await t.api("GET", "/metrics", { token: null });
      assert.match(metrics.text, /gantry_dispatch_latency_seconds_count \d+/);
      const count = Number(/gantry_dispatch_latency_seconds_count (\d+)/.exec(metrics.text)?.[1]);
      assert.ok(count >= 5, `dispatched ${count}`);
    });
  });
}
