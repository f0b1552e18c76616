import { test } from "node:test";
import assert from "node:assert/strict";
import {
  RUN_STATES,
  TERMINAL_STATES,
  canTransition,
  isRunState,
  planTransition,
  resolveAttemptEnd,
  type RunState,
} from "./run-state.ts";

const LEGAL: Record<RunState, RunState[]> = {
  queued: ["dispatching", "cancelled"],
  dispatching: ["queued", "pending", "running", "succeeded", "failed", "timed_out", "cancelled"],
  pending: ["queued", "running", "succeeded", "failed", "timed_out", "cancelled"],
  running: ["queued", "succeeded", "failed", "timed_out", "cancelled"],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
};

test("every legal transition is planned with its event", () => {
  for (const from of RUN_STATES) {
    for (const to of LEGAL[from]) {
      const plan = planTransition({ from, to, reason: "because" });
      assert.deepEqual(plan, { ok: true, event: { from, to, reason: "because" } }, `${from} → ${to}`);
    }
  }
});

test("every illegal transition is refused with the right refusal", () => {
  let refused = 0;
  for (const from of RUN_STATES) {
    for (const to of RUN_STATES) {
      if (LEGAL[from].includes(to)) continue;
      const plan = planTransition({ from, to, reason: "because" });
      const expected = TERMINAL_STATES.has(from) ? "already_terminal" : "illegal_transition";
      assert.deepEqual(plan, { ok: false, refusal: expected }, `${from} → ${to}`);
      assert.equal(canTransition(from, to), false);
      refused++;
    }
  }
  // 8 states squared minus the 20 legal moves.
  assert.equal(refused, 64 - 20);
});

test("a transition without a reason is refused", () => {
  assert.deepEqual(planTransition({ from: "queued", to: "dispatching", reason: "  " }), {
    ok: false,
    refusal: "missing_reason",
  });
});

test("terminal states have no way out, and isRunState knows the states", () => {
  for (const s of TERMINAL_STATES) for (const to of RUN_STATES) assert.equal(canTransition(s, to), false);
  assert.equal(isRunState("running"), true);
  assert.equal(isRunState("RUNNING"), false);
  assert.equal(isRunState(3), false);
});

test("resolveAttemptEnd retries failures with exponential backoff while attempts remain", () => {
  const policy = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 1500 };
  const first = resolveAttemptEnd("failed", "exit_code 1", 0, policy);
  assert.equal(first.retry, true);
  assert.equal(first.to, "queued");
  assert.equal(first.retry && first.delayMs, 1000);
  assert.match(first.reason, /failed: exit_code 1; retrying in 1000 ms \(attempt 2 of 3\)/);
  const second = resolveAttemptEnd("timed_out", "wall_time_limit", 1, policy);
  assert.equal(second.retry && second.delayMs, 1500, "capped at maxDelayMs");
  const last = resolveAttemptEnd("failed", "exit_code 1", 2, policy);
  assert.deepEqual(last, { retry: false, to: "failed", reason: "exit_code 1" });
});

test("resolveAttemptEnd never retries success or cancellation", () => {
  const policy = { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 100 };
  assert.deepEqual(resolveAttemptEnd("succeeded", "exit_code 0", 0, policy), {
    retry: false,
    to: "succeeded",
    reason: "exit_code 0",
  });
  assert.equal(resolveAttemptEnd("cancelled", "by admin", 0, policy).retry, false);
});
