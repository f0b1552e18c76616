import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { internalApi, payloadWithRetry, postWithRetry, type InternalApi } from "./internal-api.ts";

function api(statuses: (number | Error)[]): InternalApi & { calls: number } {
  const fake = {
    calls: 0,
    payload: () => Promise.resolve({ status: 200, body: {}, text: "{}" }),
    llmReview: () => Promise.resolve({ status: 200, body: {}, text: "{}" }),
    postResult() {
      const next = statuses[Math.min(fake.calls, statuses.length - 1)] as number | Error;
      fake.calls++;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
  return fake;
}

test("the result is retried with growing delays through errors and 5xx, not after a 4xx", async () => {
  const delays: number[] = [];
  const sleep = (ms: number) => {
    delays.push(ms);
    return Promise.resolve();
  };
  const flaky = api([new Error("ECONNREFUSED"), 503, 502, 200]);
  assert.equal(await postWithRetry(flaky, {}, Date.now() + 60_000, sleep), 200);
  assert.equal(flaky.calls, 4);
  assert.deepEqual(delays, [500, 1000, 2000]);
  const refused = api([409]);
  assert.equal(await postWithRetry(refused, {}, Date.now() + 60_000, sleep), 409);
  assert.equal(refused.calls, 1);
});

test("retries stop at the deadline", async () => {
  const down = api([new Error("ECONNREFUSED")]);
  let slept = 0;
  const status = await postWithRetry(down, {}, Date.now() + 3000, (ms) => {
    slept += ms;
    return Promise.resolve();
  });
  assert.equal(status, 0);
  assert.ok(down.calls >= 1 && down.calls <= 4, String(down.calls));
  assert.ok(slept <= 3500, String(slept));
});

test("the payload is retried while the API is unreachable or 5xx, not after a 4xx", async () => {
  const answers: (number | Error)[] = [new Error("ENETUNREACH"), new Error("ECONNREFUSED"), 503, 200];
  let calls = 0;
  const delays: number[] = [];
  const sleep = (ms: number) => {
    delays.push(ms);
    return Promise.resolve();
  };
  const flaky = (list: (number | Error)[]): InternalApi => ({
    payload() {
      const next = list[Math.min(calls++, list.length - 1)] as number | Error;
      if (next instanceof Error) return Promise.reject(next);
      return Promise.resolve({ status: next, body: next === 200 ? { spec: 1 } : null, text: "x" });
    },
    postResult: () => Promise.resolve(200),
    llmReview: () => Promise.resolve({ status: 200, body: {}, text: "{}" }),
  });
  assert.deepEqual(await payloadWithRetry(flaky(answers), Date.now() + 60_000, sleep), { spec: 1 });
  assert.equal(calls, 4);
  assert.deepEqual(delays, [500, 1000, 2000]);
  calls = 0;
  await assert.rejects(payloadWithRetry(flaky([401]), Date.now() + 60_000, sleep), /HTTP 401/);
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    payloadWithRetry(flaky([new Error("ECONNREFUSED")]), Date.now() + 2000, sleep),
    /unreachable/,
  );
  assert.ok(calls >= 2 && calls <= 4, String(calls));
});

test("a pod whose network comes up late still gets its payload (a real socket, not listening at first)", async () => {
  // Reserve a port, close it (connections are refused), and listen there again a second later.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const server = createServer((req, res) => {
    assert.equal(req.headers["x-run-token"], "gtr_x");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ spec: { late: true } }));
  });
  const later = setTimeout(() => server.listen(port, "127.0.0.1"), 1200);
  try {
    const api = internalApi({ runId: "r", token: "gtr_x", apiUrl: `http://127.0.0.1:${port}` });
    const started = Date.now();
    assert.deepEqual(await payloadWithRetry(api, Date.now() + 20_000), { spec: { late: true } });
    assert.ok(Date.now() - started >= 1000);
  } finally {
    clearTimeout(later);
    server.close();
  }
});
