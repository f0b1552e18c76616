import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../core/errors.ts";
import { loadServerConfig } from "./config.ts";

test("defaults just work", () => {
  const config = loadServerConfig({ HOME: "/home/x" });
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8080);
  assert.equal(config.databaseUrl, undefined);
  assert.equal(config.allowUnsandboxed, false);
  assert.equal(config.publicUrl, "http://127.0.0.1:8080");
});

test("bad values name the variable, the value and what is accepted", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ GANTRY_PORT: "abc" }, /GANTRY_PORT=abc: must be an integer from 0 to 65535/],
    [{ GANTRY_PORT: "70000" }, /GANTRY_PORT/],
    [{ GANTRY_ALLOW_UNSANDBOXED: "maybe" }, /GANTRY_ALLOW_UNSANDBOXED=maybe: must be true or false/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL.*postgres/],
    [{ GANTRY_LOG_LEVEL: "loud" }, /GANTRY_LOG_LEVEL/],
    [
      { GANTRY_DEFAULT_CPU_SECONDS: "100", GANTRY_MAX_CPU_SECONDS: "50" },
      /GANTRY_DEFAULT_CPU_SECONDS=100: must be at most GANTRY_MAX_CPU_SECONDS \(50\)/,
    ],
    [{ GANTRY_MAX_ACTIVE_RUNS: "0" }, /GANTRY_MAX_ACTIVE_RUNS/],
    [{ GANTRY_RECONCILE_INTERVAL_SECONDS: "-1" }, /GANTRY_RECONCILE_INTERVAL_SECONDS=-1: must be an integer/],
    [{ GANTRY_DELETE_ORPHANS: "sometimes" }, /GANTRY_DELETE_ORPHANS=sometimes: must be true or false/],
    [
      { GANTRY_EXECUTOR: "kubernetes", GANTRY_DEFAULT_IMAGE: "busybox", GANTRY_KUBE_MAX_JOBS: "lots" },
      /GANTRY_KUBE_MAX_JOBS=lots: must be an integer from 0/,
    ],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadServerConfig(env),
      (err: unknown) =>
        err instanceof GantryError && err.code === "GANTRY_ERR_CONFIG" && message.test(err.message),
      JSON.stringify(env),
    );
  }
});

test("limits and caps come from the environment", () => {
  const config = loadServerConfig({
    GANTRY_DEFAULT_WALL_SECONDS: "30",
    GANTRY_MAX_ACTIVE_RUNS: "9",
    GANTRY_ALLOW_UNSANDBOXED: "yes",
  });
  assert.equal(config.defaultLimits.wallSeconds, 30);
  assert.equal(config.maxActiveRuns, 9);
  assert.equal(config.maxActivePerOwner, 9);
  assert.equal(config.allowUnsandboxed, true);
});

test("the reconciler and the Kubernetes Job cap come from the environment", () => {
  const defaults = loadServerConfig({ GANTRY_EXECUTOR: "kubernetes", GANTRY_DEFAULT_IMAGE: "busybox" });
  assert.equal(defaults.reconcileIntervalSeconds, 30);
  assert.equal(defaults.deleteOrphans, false);
  assert.equal(defaults.kubernetes?.maxActiveJobs, 0);
  const config = loadServerConfig({
    GANTRY_EXECUTOR: "kubernetes",
    GANTRY_DEFAULT_IMAGE: "busybox",
    GANTRY_KUBE_MAX_JOBS: "50",
    GANTRY_RECONCILE_INTERVAL_SECONDS: "0",
    GANTRY_DELETE_ORPHANS: "true",
  });
  assert.equal(config.kubernetes?.maxActiveJobs, 50);
  assert.equal(config.reconcileIntervalSeconds, 0);
  assert.equal(config.deleteOrphans, true);
});
