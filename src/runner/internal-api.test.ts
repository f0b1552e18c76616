import { test } from "node:test";
import assert from "node:assert/strict";
import { postWithRetry, type InternalApi } from "./internal-api.ts";

function api(statuses: (number | Error)[]): InternalApi & { calls: number } {
  const fake = {
    calls: 0,
    payload: () => Promise.resolve({}),
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
