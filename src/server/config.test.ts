import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

test("the llm block: defaults, one key (LLM_API_KEY or LLM_API_KEY_FILE, trimmed), shared with the Cloudemy runner", () => {
  const defaults = loadServerConfig({});
  assert.deepEqual(defaults.llm, {
    mode: "request",
    baseUrl: "https://api.openai.com/v1",
    apiKey: undefined,
    model: "gpt-4o-mini",
    timeoutMs: 30_000,
  });
  assert.equal(defaults.cloudemy.llmApiKey, "");
  assert.equal(defaults.cloudemy.llmModel, "gpt-4o-mini");
  const dir = mkdtempSync(join(tmpdir(), "gantry-llm-"));
  try {
    const file = join(dir, "api-key");
    writeFileSync(file, "  sk-from-secret\n");
    const fromFile = loadServerConfig({
      LLM_API_KEY_FILE: file,
      LLM_BASE_URL: "http://127.0.0.1:9999/v1/",
      LLM_MODEL: "gpt-4.1",
      LLM_TIMEOUT_MS: "5000",
      GANTRY_LLM_REVIEW: "always",
    });
    assert.deepEqual(fromFile.llm, {
      mode: "always",
      baseUrl: "http://127.0.0.1:9999/v1",
      apiKey: "sk-from-secret",
      model: "gpt-4.1",
      timeoutMs: 5000,
    });
    assert.equal(fromFile.cloudemy.llmApiKey, "sk-from-secret");
    assert.equal(fromFile.cloudemy.llmModel, "gpt-4.1");
    assert.equal(loadServerConfig({ LLM_API_KEY: "sk-env" }).llm.apiKey, "sk-env");
    assert.equal(loadServerConfig({ GANTRY_LLM_REVIEW: "off" }).llm.mode, "off");

    writeFileSync(join(dir, "empty"), "\n");
    const cases: [Record<string, string>, RegExp][] = [
      [{ GANTRY_LLM_REVIEW: "sometimes" }, /GANTRY_LLM_REVIEW=sometimes: must be off, request or always/],
      [{ LLM_BASE_URL: "ftp://llm" }, /LLM_BASE_URL=ftp:\/\/llm: must be an http/],
      [{ LLM_BASE_URL: "not a url" }, /LLM_BASE_URL/],
      [{ LLM_TIMEOUT_MS: "fast" }, /LLM_TIMEOUT_MS=fast: must be an integer from 100 to 600000/],
      [{ LLM_TIMEOUT_MS: "0" }, /LLM_TIMEOUT_MS/],
      [{ LLM_API_KEY: "sk-a", LLM_API_KEY_FILE: file }, /LLM_API_KEY_FILE=.*unset when LLM_API_KEY is set/],
      [
        { LLM_API_KEY_FILE: join(dir, "missing") },
        /LLM_API_KEY_FILE=.*missing: must be a readable file \(ENOENT\)/,
      ],
      [{ LLM_API_KEY_FILE: join(dir, "empty") }, /LLM_API_KEY_FILE=.*it is empty/],
      [{ LLM_API_KEY: "sk-a\r\nX-Injected: 1" }, /LLM_API_KEY=\(hidden\): must be one word/],
      [{ LLM_MODEL: "gpt 4" }, /LLM_MODEL=gpt 4: must be a model name/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadServerConfig(env),
        (err: unknown) =>
          err instanceof GantryError && err.code === "GANTRY_ERR_CONFIG" && message.test(err.message),
        JSON.stringify(env),
      );
    }
    // The key itself is never quoted in a refusal.
    assert.throws(
      () => loadServerConfig({ LLM_API_KEY: "sk-secret value" }),
      (err: unknown) => err instanceof Error && !err.message.includes("sk-secret"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
