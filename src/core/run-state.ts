/**
 * The run state machine. Every state change of a run goes through `planTransition`, which either
 * returns the event to record or refuses with a reason. The store applies the plan in the same
 * transaction that records the event, so a state and its history never disagree.
 *
 *   queued → dispatching → pending → running → succeeded | failed | timed_out | cancelled
 *
 * Any live state may go back to `queued`: that is a retry, always a new attempt (`attempt + 1`).
 * It happens when an attempt fails and attempts remain (`resolveAttemptEnd`), or when the
 * reconciler finds an attempt whose executor lost it (a crash). Terminal states have no exits.
 */

export const RUN_STATES = [
  "queued",
  "dispatching",
  "pending",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
] as const;

export type RunState = (typeof RUN_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<RunState> = new Set([
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
]);

/** Legal moves. A terminal state has none. */
const TRANSITIONS: Readonly<Record<RunState, readonly RunState[]>> = {
  queued: ["dispatching", "cancelled"],
  dispatching: ["queued", "pending", "running", "succeeded", "failed", "timed_out", "cancelled"],
  pending: ["queued", "running", "succeeded", "failed", "timed_out", "cancelled"],
  running: ["queued", "succeeded", "failed", "timed_out", "cancelled"],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
};

export function isRunState(value: unknown): value is RunState {
  return typeof value === "string" && (RUN_STATES as readonly string[]).includes(value);
}

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.has(state);
}

export function canTransition(from: RunState, to: RunState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function legalTargets(from: RunState): readonly RunState[] {
  return TRANSITIONS[from];
}

export interface TransitionRequest {
  from: RunState;
  to: RunState;
  /** Why, in words a user can act on: "exit_code 1", "memory_limit", "cancelled by admin". */
  reason: string;
}

export type TransitionPlan =
  | { ok: true; event: { from: RunState; to: RunState; reason: string } }
  | { ok: false; refusal: "illegal_transition" | "already_terminal" | "missing_reason" };

export function planTransition(req: TransitionRequest): TransitionPlan {
  if (isTerminal(req.from)) return { ok: false, refusal: "already_terminal" };
  if (!canTransition(req.from, req.to)) return { ok: false, refusal: "illegal_transition" };
  if (req.reason.trim() === "") return { ok: false, refusal: "missing_reason" };
  return { ok: true, event: { from: req.from, to: req.to, reason: req.reason } };
}

export interface RetryPolicy {
  maxAttempts: number;
  /** Delay before attempt n+1 is `min(baseDelayMs * 2^(n-1), maxDelayMs)`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 1, baseDelayMs: 1000, maxDelayMs: 60_000 };

/**
 * An attempt ended in `to`. Decide what the run records: the terminal state itself, or — for a
 * failure while attempts remain — a return to `queued` as attempt + 1 after a backoff delay.
 * `failures` counts earlier failed attempts of this run (not attempts lost to crashes).
 */
export function resolveAttemptEnd(
  to: RunState,
  reason: string,
  failures: number,
  policy: RetryPolicy,
):
  | { retry: false; to: RunState; reason: string }
  | { retry: true; to: "queued"; reason: string; delayMs: number } {
  const failed = to === "failed" || to === "timed_out";
  const attemptsUsed = failures + 1;
  if (!failed || attemptsUsed >= policy.maxAttempts) return { retry: false, to, reason };
  const delayMs = Math.min(policy.baseDelayMs * 2 ** (attemptsUsed - 1), policy.maxDelayMs);
  return {
    retry: true,
    to: "queued",
    reason: `${to}: ${reason}; retrying in ${delayMs} ms (attempt ${attemptsUsed + 1} of ${policy.maxAttempts})`,
    delayMs,
  };
}
