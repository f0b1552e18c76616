import assert from "node:assert/strict";
import { test } from "node:test";
import { mapOutcome, signalName, workloadSignal, type AttemptObservation } from "./outcome.ts";

const base: AttemptObservation = {
  started: true,
  exitCode: 0,
  signal: null,
  viaSandbox: true,
  killedFor: null,
  oomKilled: false,
  processLimitHit: false,
  cpuSecondsUsed: null,
  cpuLimitSeconds: 10,
  allocationFailureSeen: false,
};
const map = (o: Partial<AttemptObservation>) => mapOutcome({ ...base, ...o });

test("exit codes", () => {
  assert.deepEqual(map({}), { state: "succeeded", reason: "exit_code 0", exitCode: 0 });
  assert.deepEqual(map({ exitCode: 3 }), { state: "failed", reason: "exit_code 3", exitCode: 3 });
  assert.deepEqual(map({ exitCode: 128 }), { state: "failed", reason: "exit_code 128", exitCode: 128 });
  assert.deepEqual(map({ exitCode: 255 }), { state: "failed", reason: "exit_code 255", exitCode: 255 });
});

test("signals: bubblewrap's 128+N, or the process's own signal", () => {
  assert.deepEqual(map({ exitCode: 139 }), { state: "failed", reason: "signal SIGSEGV", exitCode: null });
  assert.equal(map({ exitCode: 143 }).reason, "signal SIGTERM");
  assert.equal(map({ exitCode: 134 }).reason, "signal SIGABRT");
  // Without the sandbox an exit code is just an exit code.
  assert.equal(map({ exitCode: 139, viaSandbox: false }).reason, "exit_code 139");
  assert.equal(map({ exitCode: null, signal: "SIGKILL", viaSandbox: false }).reason, "signal SIGKILL");
  assert.equal(map({ exitCode: null, signal: "SIGBUS" }).reason, "signal SIGBUS");
  assert.equal(workloadSignal({ exitCode: 129, signal: null, viaSandbox: true }), "SIGHUP");
  assert.equal(workloadSignal({ exitCode: 200, signal: null, viaSandbox: true }), null);
  assert.equal(signalName(9), "SIGKILL");
  assert.equal(signalName(99), "SIG99");
});

test("limits the executor enforced by killing win over the SIGKILL they caused", () => {
  const killed = { exitCode: null, signal: "SIGKILL" };
  assert.deepEqual(map({ ...killed, killedFor: "wall_time_limit" }), {
    state: "timed_out",
    reason: "wall_time_limit",
    exitCode: null,
  });
  assert.deepEqual(map({ ...killed, killedFor: "output_limit" }), {
    state: "failed",
    reason: "output_limit",
    exitCode: null,
  });
  assert.equal(map({ ...killed, killedFor: "memory_limit" }).reason, "memory_limit");
  assert.equal(map({ ...killed, killedFor: "process_limit" }).reason, "process_limit");
  assert.equal(map({ ...killed, killedFor: "cpu_time_limit" }).reason, "cpu_time_limit");
  // Even if the program exited 0 just as it was killed.
  assert.equal(map({ exitCode: 0, killedFor: "wall_time_limit" }).state, "timed_out");
  // And even if it never reported starting.
  assert.equal(map({ started: false, killedFor: "wall_time_limit" }).reason, "wall_time_limit");
});

test("memory: an OOM kill fails the attempt, whatever the exit", () => {
  assert.equal(map({ exitCode: 137, oomKilled: true }).reason, "memory_limit");
  assert.equal(map({ exitCode: 1, oomKilled: true }).reason, "memory_limit");
  assert.equal(map({ exitCode: 0, oomKilled: true }).reason, "memory_limit");
  // Heuristic (rlimits only): only when the attempt failed anyway.
  assert.equal(map({ exitCode: 1, allocationFailureSeen: true }).reason, "memory_limit");
  assert.equal(map({ exitCode: 0, allocationFailureSeen: true }).state, "succeeded");
});

test("cpu: SIGXCPU, or SIGKILL once the CPU budget is spent", () => {
  assert.equal(map({ exitCode: 128 + 24 }).reason, "cpu_time_limit");
  assert.equal(map({ exitCode: null, signal: "SIGXCPU", viaSandbox: false }).reason, "cpu_time_limit");
  assert.equal(map({ exitCode: 137, cpuSecondsUsed: 10.2 }).reason, "cpu_time_limit");
  assert.equal(map({ exitCode: 137, cpuSecondsUsed: 3 }).reason, "signal SIGKILL");
  assert.equal(map({ exitCode: 0, cpuSecondsUsed: 11 }).state, "succeeded");
});

test("processes: a refused fork fails the attempt; the stderr heuristic only a failed one", () => {
  assert.equal(map({ exitCode: 0, processLimitHit: true }).reason, "process_limit");
  assert.equal(map({ exitCode: 2, forkFailureSeen: true }).reason, "process_limit");
  assert.equal(map({ exitCode: 0, forkFailureSeen: true }).state, "succeeded");
});

test("file size: SIGXFSZ from RLIMIT_FSIZE", () => {
  assert.equal(map({ exitCode: 128 + 25 }).reason, "file_size_limit");
  assert.equal(map({ exitCode: null, signal: "SIGXFSZ", viaSandbox: false }).reason, "file_size_limit");
});

test("a workload that never started is a sandbox error", () => {
  assert.deepEqual(map({ started: false, exitCode: 1, setupError: "bwrap: Can't mount proc" }), {
    state: "failed",
    reason: "sandbox_error: bwrap: Can't mount proc",
    exitCode: null,
  });
  assert.equal(map({ started: false, exitCode: 1 }).reason, "sandbox_error: the workload did not start");
  assert.equal(
    map({ exitCode: null, signal: null }).reason,
    "sandbox_error: the process ended without an exit status",
  );
});
