/**
 * Redis mode of the Cloudemy API against a real `redis-server` this file starts on 127.0.0.1 and a
 * free port: a submission without cases is written to hash `submission:{id}` and launched with the
 * original runner's env (SUBMISSION_ID, REDIS_URL, BACKEND_INTERNAL_URL, INTERNAL_RESULT_TOKEN,
 * LLM_API_KEY, LLM_MODEL). The local sandbox has no network, so the workload only reports the env
 * it got and waits for its token to be used up, while this test plays the original Python runner:
 * HGETALL `submission:{id}`, POST `${BACKEND_INTERNAL_URL}/submissions/{id}/result` with
 * `X-Result-Token`. Also: the callback's 400/401/404/409 answers, a finalized submission left as
 * it is, Redis going down (runs fail with the reason, nothing lost) and coming back, the config's
 * checks, and the Kubernetes objects such a launch renders. Skips only when redis-server is missing.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@redis/client";
import {
  cloudemyLaunchEnv,
  cloudemyRunnerSpec,
  cloudemySubmissionSpec,
  CLOUDEMY_TOKEN_ENV,
} from "../../src/core/cloudemy-contract.ts";
import { DEFAULT_LANGUAGES } from "../../src/core/languages.ts";
import { isGantryError } from "../../src/core/errors.ts";
import { renderRunObjects, RUN_TOKEN_KEY } from "../../src/core/kubernetes-objects.ts";
import { DEFAULT_LIMITS, MAX_LIMITS, type JobSpec } from "../../src/core/workload.ts";
import type { Executor, LaunchRequest } from "../../src/executors/executor.ts";
import { withCloudemyRunner, type SubmissionHashWriter } from "../../src/server/cloudemy-runner.ts";
import { loadServerConfig } from "../../src/server/config.ts";
import { assertValidObjects } from "../../src/validate/index.ts";
import { freePort, REDIS_SERVER_BINARY, RedisServer } from "../helpers/redis-server.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";

type Json = Record<string, unknown>;

const CONTRACT_ENV = [
  "BACKEND_INTERNAL_URL",
  "INTERNAL_RESULT_TOKEN",
  "LLM_API_KEY",
  "LLM_MODEL",
  "REDIS_URL",
  "SUBMISSION_ID",
];

/**
 * The workload: prints the contract's env and the names of every variable it has, then waits (up
 * to 60 s) while its token still opens its payload — i.e. until the result has been posted.
 */
const RUNNER_STANDIN = [
  'for v in SUBMISSION_ID REDIS_URL BACKEND_INTERNAL_URL INTERNAL_RESULT_TOKEN LLM_API_KEY LLM_MODEL; do printf "env %s=%s\\n" "$v" "$(printenv "$v")"; done',
  'printf "names %s\\n" "$(env | cut -d= -f1 | sort | tr "\\n" " ")"',
  "i=0",
  'while [ $i -lt 600 ] && curl -sf -o /dev/null --unix-socket "$GANTRY_API_SOCKET" -H "X-Run-Token: $INTERNAL_RESULT_TOKEN" "http://gantry/v1/internal/runs/$SUBMISSION_ID/payload"; do i=$((i+1)); sleep 0.1; done',
  'echo "token used up after $i polls"',
].join("\n");

if (REDIS_SERVER_BINARY === undefined) {
  test(
    "Cloudemy Redis mode",
    { skip: "redis-server is not installed (scripts/ensure-deps.sh --test installs it)" },
    () => {},
  );
} else {
  describe("Cloudemy Redis mode with a real redis-server", () => {
    let redis: RedisServer;
    let client: ReturnType<typeof createClient>;
    let t: TestGantry;
    let redisDir: string;
    let alice: string;
    let bob: string;
    const backendUrl = { value: "" };

    before(async () => {
      redisDir = await mkdtemp(join(tmpdir(), "gantry-redis-"));
      redis = new RedisServer(await freePort(), redisDir);
      await redis.start();
      client = createClient({ url: redis.url });
      client.on("error", () => undefined);
      await client.connect();
      // A fixed port: BACKEND_INTERNAL_URL is Gantry's URL as workloads see it, known before start.
      const port = await freePort();
      t = await startTestGantry(
        "pglite",
        {},
        {
          GANTRY_PORT: String(port),
          REDIS_URL: redis.url,
          GANTRY_CLOUDEMY_RUNNER: "cloudemy",
          GANTRY_CLOUDEMY_RUNNER_COMMAND: JSON.stringify(["/bin/sh", "-c", RUNNER_STANDIN]),
          LLM_API_KEY: "sk-test-key",
        },
      );
      backendUrl.value = `http://127.0.0.1:${port}/api/internal`;
      alice = await t.createToken("submitter", "alice");
      bob = await t.createToken("submitter", "bob");
    });
    after(async () => {
      await t?.stop();
      await client?.close().catch(() => undefined);
      await redis?.stop();
      await rm(redisDir, { recursive: true, force: true });
    });

    async function submit(token: string, body: unknown): Promise<string> {
      const res = await t.api("POST", "/api/submissions", { token, body });
      assert.equal(res.status, 201, res.text);
      return String((res.body as Json).submission_id);
    }

    /** The env the workload of run `id` reported (from its log), once it has. */
    async function reportedEnv(id: string): Promise<{ env: Record<string, string>; names: string[] }> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const res = await t.api("GET", `/v1/runs/${id}/logs`);
        const lines = ((res.body as { lines?: { text: string }[] }).lines ?? []).map((l) => l.text);
        const names = lines.find((l) => l.startsWith("names "));
        if (names !== undefined) {
          const env: Record<string, string> = {};
          for (const line of lines.filter((l) => l.startsWith("env "))) {
            const eq = line.indexOf("=");
            env[line.slice(4, eq)] = line.slice(eq + 1);
          }
          return { env, names: names.slice(6).trim().split(" ") };
        }
        const run = (await t.api("GET", `/v1/runs/${id}`)).body as Json;
        if (["failed", "succeeded", "cancelled", "timed_out"].includes(String(run.state)))
          throw new Error(
            `run ${id} ended (${String(run.reason)}) without reporting its env: ${lines.join(" | ")}`,
          );
        if (Date.now() > deadline) throw new Error(`run ${id} reported no env`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    /** What the original Python runner does after its LLM review: POST the result. */
    function postResult(env: Record<string, string>, body: unknown, token = env.INTERNAL_RESULT_TOKEN ?? "") {
      return fetch(`${env.BACKEND_INTERNAL_URL}/submissions/${env.SUBMISSION_ID}/result`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-result-token": token },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Json }));
    }

    test("the original runner's contract end to end: hash in Redis, exact env, callback, COMPLETED with its score", async () => {
      const code = "def solve():\n    return 42\n";
      const id = await submit(alice, { language: "python", code });
      const { env, names } = await reportedEnv(id);

      // The env handed to the workload is exactly the contract (plus Gantry's own and the shell's).
      assert.deepEqual(Object.keys(env).sort(), CONTRACT_ENV);
      assert.equal(env.SUBMISSION_ID, id);
      assert.equal(env.REDIS_URL, redis.url);
      assert.equal(env.BACKEND_INTERNAL_URL, backendUrl.value);
      assert.match(env.INTERNAL_RESULT_TOKEN ?? "", /^gtr_[A-Za-z0-9_-]{43}$/, "the run's own per-run token");
      assert.equal(env.LLM_API_KEY, "sk-test-key");
      assert.equal(env.LLM_MODEL, "gpt-4o-mini");
      const foreign = names.filter(
        (n) =>
          !n.startsWith("GANTRY_") &&
          !CONTRACT_ENV.includes(n) &&
          !["PATH", "HOME", "LANG", "TMPDIR", "PWD", "SHLVL", "_"].includes(n),
      );
      assert.deepEqual(foreign, [], `unexpected variables: ${names.join(" ")}`);

      // The secrets are not part of the stored (and readable) spec.
      const stored = JSON.stringify((await t.api("GET", `/v1/runs/${id}`)).body);
      assert.ok(
        !stored.includes("sk-test-key") &&
          !stored.includes(redis.url) &&
          !stored.includes(env.INTERNAL_RESULT_TOKEN ?? "x"),
      );

      // The runner loads its submission from Redis, as the original does.
      const hash = await client.hGetAll(`submission:${env.SUBMISSION_ID}`);
      assert.deepEqual(hash, { submission_id: id, user_id: "alice", language: "python", code });
      const ttl = await client.ttl(`submission:${id}`);
      assert.ok(ttl > 0 && ttl <= 120 + 600, `the hash expires (ttl ${ttl})`);
      assert.equal(
        await client.lLen("queue:submissions"),
        0,
        "nothing is queued in Redis: Gantry's queue is the store",
      );

      // Wrong status, then another submission's token, then the real callback.
      const unknown = await postResult(env, { status: "graded", score: 1 });
      assert.equal(unknown.status, 400);
      assert.match(String(unknown.body.detail), /unknown status 'graded'/);
      const other = await submit(bob, { language: "python", code: "print(1)\n" });
      const otherEnv = (await reportedEnv(other)).env;
      assert.notEqual(
        otherEnv.INTERNAL_RESULT_TOKEN,
        env.INTERNAL_RESULT_TOKEN,
        "one token per run, never shared",
      );
      const crossed = await postResult(env, { status: "COMPLETED" }, otherEnv.INTERNAL_RESULT_TOKEN);
      assert.equal(crossed.status, 401, "a token opens its own run only");

      const ok = await postResult(env, {
        status: "success",
        score: 87.5,
        fail_tags: ["style"],
        feedback: [{ case: "review", message: "use a constant" }],
        metrics: { timeMs: 12, memoryMB: 3.5 },
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(ok.body, { ok: true, submission_id: id, status: "COMPLETED" });
      const repeat = await postResult(env, { status: "FAILED" });
      assert.equal(repeat.status, 401, "the token is used up by the result");

      const run = await t.waitForRun(id);
      assert.equal(run.state, "succeeded", String(run.reason));
      const shown = (await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Json;
      assert.deepEqual(shown, {
        submission_id: id,
        user_id: "alice",
        language: "python",
        status: "COMPLETED",
        score: 87.5,
        fail_tags: ["style"],
        feedback: [{ case: "review", message: "use a constant" }],
        metrics: { timeMs: 12, memoryMB: 3.5 },
        finalized: false,
        created_at: shown.created_at,
      });

      // Finalized: the callback cannot change it (the run has ended, its token is dead).
      const fin = await t.api("POST", `/api/submissions/${id}/finalize`, { token: alice, body: {} });
      assert.deepEqual(
        [fin.status, fin.body],
        [200, { submission_id: id, status: "FINALIZED", finalized: true }],
      );
      const late = await postResult(env, { status: "FAILED", score: 0 });
      assert.equal(late.status, 401);
      const after = (await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Json;
      assert.deepEqual([after.status, after.score, after.finalized], ["FINALIZED", 87.5, true]);

      // Defaults of the result body, SUCCESSED, and a bob's run finishing as the original would.
      const bobsOk = await postResult(otherEnv, { status: "Successed" });
      assert.deepEqual(bobsOk.body, { ok: true, submission_id: other, status: "COMPLETED" });
      await t.waitForRun(other);
      const bobs = (await t.api("GET", `/api/submissions/${other}`, { token: bob })).body as Json;
      assert.deepEqual(
        [bobs.status, bobs.score, bobs.fail_tags, bobs.feedback, bobs.metrics],
        ["COMPLETED", 0, [], [], { timeMs: 0, memoryMB: 0 }],
      );
    });

    test("the callback's hostile input: malformed bodies are 400, unknown ids 404, each status word mapped", async () => {
      const ids = [await submit(alice, { code: "print(5)\n" }), await submit(alice, { code: "print(6)\n" })];
      const envs = await Promise.all(ids.map(async (id) => (await reportedEnv(id)).env));
      const e = envs[0] as Record<string, string>;
      for (const body of [
        {},
        { status: "" },
        { status: 7 },
        { status: "COMPLETED", score: "high" },
        { status: "COMPLETED", fail_tags: "x" },
        { status: "COMPLETED", feedback: [{ case: "a" }] },
        { status: "COMPLETED", feedback: [{ case: "a", message: "m".repeat(70_000) }] },
        { status: "COMPLETED", metrics: { timeMs: "1" } },
        { status: "x".repeat(65) },
        { status: "QUEUED" },
        { status: "FINALIZED" },
      ]) {
        const res = await postResult(e, body);
        assert.equal(
          res.status,
          400,
          `${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(res.body).slice(0, 200)}`,
        );
      }
      const wrongId = await fetch(`${e.BACKEND_INTERNAL_URL}/submissions/${ids[1]}/result`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-result-token": e.INTERNAL_RESULT_TOKEN ?? "" },
        body: JSON.stringify({ status: "COMPLETED" }),
      });
      assert.equal(wrongId.status, 401, "the token of one submission does not open another");
      const timeout = await postResult(e, { status: " timeout ", score: 10, extra: "ignored" });
      assert.deepEqual(timeout.body, { ok: true, submission_id: ids[0], status: "TIMEOUT" });
      const failed = await postResult(envs[1] as Record<string, string>, { status: "failed", score: null });
      assert.deepEqual(failed.body, { ok: true, submission_id: ids[1], status: "FAILED" });
      for (const id of ids) await t.waitForRun(id);
      const statuses = await Promise.all(
        ids.map(
          async (id) =>
            ((await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Json).status,
        ),
      );
      assert.deepEqual(statuses, ["TIMEOUT", "FAILED"]);
      const listed = (await t.api("GET", "/api/submissions?status=TIMEOUT", { token: alice })).body as {
        total: number;
      };
      assert.equal(listed.total, 1);
    });

    test("with test cases Gantry's own runner grades the code; nothing goes to Redis", async () => {
      const id = await submit(alice, {
        language: "python",
        code: "print(int(input()) * 2)\n",
        cases: [{ stdin: "21\n", expectedStdout: "42\n" }],
      });
      const run = await t.waitForRun(id, 60_000);
      assert.equal(run.state, "succeeded", String(run.reason));
      const shown = (await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Json;
      assert.deepEqual([shown.status, shown.score], ["COMPLETED", 100]);
      assert.equal(await client.exists(`submission:${id}`), 0);
    });

    test("Redis down: the run fails with a reason naming Redis after its retry, nothing is lost; back up, submissions flow again", async () => {
      await redis.stop();
      const id = await submit(alice, { language: "python", code: "print(7)\n" });
      const run = await t.waitForRun(id, 30_000);
      assert.equal(run.state, "failed");
      assert.match(String(run.reason), /redis unavailable/);
      assert.equal(run.attempt, 2, "retried once, as the original Job's backoffLimit 1");
      const shown = (await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Json;
      assert.equal(shown.status, "FAILED");
      const events = ((await t.api("GET", `/v1/runs/${id}/events`)).body as { events: { reason: string }[] })
        .events;
      assert.ok(
        events.filter((ev) => /redis unavailable/.test(ev.reason)).length >= 2,
        JSON.stringify(events),
      );

      await redis.start();
      // The writer reconnects with capped backoff: until it has, launches still fail as above.
      const deadline = Date.now() + 30_000;
      let ready = false;
      while (!ready) {
        const again = await submit(alice, { language: "python", code: "print(8)\n" });
        try {
          const env = (await reportedEnv(again)).env;
          assert.equal(await client.exists(`submission:${again}`), 1);
          assert.equal((await postResult(env, { status: "COMPLETED", score: 1 })).status, 200);
          assert.equal((await t.waitForRun(again)).state, "succeeded");
          ready = true;
        } catch (err) {
          if (!/redis unavailable/.test((err as Error).message) || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      assert.ok(ready, "after Redis came back a submission was launched with its hash");
    });
  });
}

describe("Cloudemy config and rendered objects (no Redis needed)", () => {
  const base = { GANTRY_PORT: "8080", GANTRY_DATA_DIR: "/tmp/gantry-config-test" };
  const refused = (env: Record<string, string>, name: RegExp) => {
    assert.throws(
      () => loadServerConfig({ ...base, ...env }),
      (err: unknown) => isGantryError(err) && err.code === "GANTRY_ERR_CONFIG" && name.test(err.message),
      JSON.stringify(env),
    );
  };

  test("REDIS_URL and GANTRY_CLOUDEMY_RUNNER* are checked, with the variable named", () => {
    const plain = loadServerConfig(base).cloudemy;
    assert.deepEqual(plain, {
      runner: "gantry",
      redisUrl: undefined,
      runnerImage: "withya61/cloudemy-runner:latest",
      runnerCommand: [],
      backendInternalUrl: "http://127.0.0.1:8080/api/internal",
      llmApiKey: "",
      llmModel: "gpt-4o-mini",
    });
    refused({ GANTRY_CLOUDEMY_RUNNER: "cloudemy" }, /REDIS_URL=\(unset\)/);
    refused(
      { GANTRY_CLOUDEMY_RUNNER: "python" },
      /GANTRY_CLOUDEMY_RUNNER=python: must be gantry or cloudemy/,
    );
    refused({ REDIS_URL: "http://localhost:6379" }, /REDIS_URL=\(hidden\)/);
    refused({ REDIS_URL: "redis://" }, /REDIS_URL/);
    refused({ REDIS_URL: "not a url" }, /REDIS_URL/);
    const cloudemy = { GANTRY_CLOUDEMY_RUNNER: "cloudemy", REDIS_URL: "redis://:secret@redis:6379/0" };
    refused(cloudemy, /GANTRY_CLOUDEMY_RUNNER_COMMAND=\(unset\)/);
    refused({ ...cloudemy, GANTRY_CLOUDEMY_RUNNER_COMMAND: "python runner.py" }, /JSON array/);
    refused({ ...cloudemy, GANTRY_CLOUDEMY_RUNNER_COMMAND: '["python", ""]' }, /JSON array/);
    refused({ ...cloudemy, GANTRY_CLOUDEMY_RUNNER_COMMAND: '{"a": 1}' }, /JSON array/);
    // A message never shows the URL, which may hold a password.
    assert.throws(
      () => loadServerConfig({ ...base, REDIS_URL: "http://:hunter2@x" }),
      (err: unknown) => !(err as Error).message.includes("hunter2"),
    );
    const ok = loadServerConfig({
      ...base,
      ...cloudemy,
      GANTRY_CLOUDEMY_RUNNER_COMMAND: '["python", "-m", "runner"]',
      GANTRY_PUBLIC_URL: "http://gantry.internal:8080/",
      LLM_MODEL: "gpt-4.1",
      LLM_API_KEY: "sk-1",
    }).cloudemy;
    assert.deepEqual(ok.runnerCommand, ["python", "-m", "runner"]);
    assert.equal(ok.backendInternalUrl, "http://gantry.internal:8080/api/internal");
    assert.deepEqual([ok.llmModel, ok.llmApiKey, ok.redisUrl], ["gpt-4.1", "sk-1", cloudemy.REDIS_URL]);
    // On Kubernetes the image's own entrypoint may run (no command), at the URL pods use.
    const kube = loadServerConfig({
      ...base,
      ...cloudemy,
      GANTRY_EXECUTOR: "kubernetes",
      GANTRY_DEFAULT_IMAGE: "debian:bookworm-slim",
      GANTRY_RUNS_API_URL: "http://gantry.gantry.svc:8080",
    }).cloudemy;
    assert.deepEqual(
      [kube.runnerCommand, kube.backendInternalUrl],
      [[], "http://gantry.gantry.svc:8080/api/internal"],
    );
  });

  test("on Kubernetes a launch renders the runner image with its entrypoint, the contract's env and the token from the Secret", () => {
    const runId = "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab";
    const token = "gtr_s3cr3t-token-value-that-must-not-leak";
    const stored: JobSpec = {
      command: [],
      env: { BACKEND_INTERNAL_URL: "http://gantry.gantry.svc:8080/api/internal", LLM_MODEL: "gpt-4o-mini" },
      files: [],
      image: "withya61/cloudemy-runner:latest",
      limits: { cpuSeconds: 120, wallSeconds: 120, memoryMB: 512, processes: 64, outputBytes: 1 << 20 },
      submission: {
        language: "python",
        toolchain: { sourceFile: "main.py", extensions: [".py"], run: ["/bin/true"], image: "x" },
        files: [{ path: "main.py", content: "print(1)" }],
        cases: [],
        compare: { mode: "trailing_whitespace" },
        caseOutputBytes: 1 << 20,
      },
      runTokenEnv: CLOUDEMY_TOKEN_ENV,
    };
    const spec = cloudemyLaunchEnv(stored, runId, { redisUrl: "redis://redis:6379", llmApiKey: "sk-x" });
    const config = {
      namespace: "gantry-runs",
      defaultImage: "debian:bookworm-slim",
      ttlSecondsAfterFinished: 3600,
      runAsUser: 65532,
      apiUrl: "http://gantry.gantry.svc:8080",
    };
    const rendered = renderRunObjects(
      { runId, attempt: 1, owner: "alice", kind: "submission", spec, runToken: token },
      config,
    );
    const pod = (rendered.job.spec as { template: { spec: { containers: Json[] } } }).template.spec;
    const main = pod.containers[0] as { image: string; command: string[]; env: Json[] };
    assert.equal(main.image, "withya61/cloudemy-runner:latest");
    assert.deepEqual(main.command, [], "no command: the image's own entrypoint runs");
    const env = Object.fromEntries(main.env.map((e) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(env.SUBMISSION_ID, runId);
    assert.equal(env.REDIS_URL, "redis://redis:6379");
    assert.equal(env.BACKEND_INTERNAL_URL, "http://gantry.gantry.svc:8080/api/internal");
    assert.equal(env.LLM_API_KEY, "sk-x");
    assert.equal(env.LLM_MODEL, "gpt-4o-mini");
    assert.deepEqual(env.INTERNAL_RESULT_TOKEN, {
      secretKeyRef: { name: rendered.name, key: RUN_TOKEN_KEY, optional: false },
    });
    assert.ok(!JSON.stringify(rendered.job).includes(token), "the token is only in the Secret");
    // As the executor checks them; strict mode also wants the original's `:latest` pinned.
    assert.doesNotThrow(() => assertValidObjects([rendered.job, rendered.secret]));
    assert.throws(() => assertValidObjects([rendered.job], { strict: true }), /policy-image-tag/);
    const pinned = renderRunObjects(
      {
        runId,
        attempt: 1,
        owner: "alice",
        kind: "submission",
        spec: { ...spec, image: "withya61/cloudemy-runner:1.4.2" },
        runToken: token,
      },
      config,
    );
    assert.doesNotThrow(() => assertValidObjects([pinned.job, pinned.secret], { strict: true }));
  });

  test("withCloudemyRunner: other launches and every other method pass through; without REDIS_URL a runner spec fails with the reason", async () => {
    const launched: LaunchRequest[] = [];
    let shutdowns = 0;
    const inner: Executor = {
      name: "recording",
      start: async () => undefined,
      launch: async (request) => {
        launched.push(request);
      },
      cancel: async () => undefined,
      activeAttempts: async () => new Set(["a/1"]),
      capacity: () => 3,
      shutdown: async () => {
        shutdowns++;
      },
    };
    const writes: [string, Record<string, string>, number][] = [];
    let closed = 0;
    const writer: SubmissionHashWriter = {
      write: async (key, fields, ttl) => {
        writes.push([key, fields, ttl]);
      },
      close: async () => {
        closed++;
      },
    };
    const accepted = cloudemySubmissionSpec(
      { language: "python", code: "print(1)" },
      DEFAULT_LANGUAGES,
      MAX_LIMITS,
    );
    const runnerSpec = cloudemyRunnerSpec(accepted, {
      image: "runner:1",
      command: ["python", "runner.py"],
      backendInternalUrl: "http://g/api/internal",
      llmModel: "gpt-4o-mini",
      limits: { ...DEFAULT_LIMITS, wallSeconds: 120 },
    });
    const request = (spec: JobSpec): LaunchRequest => ({
      runId: "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
      attempt: 1,
      owner: "alice",
      spec,
      runToken: "gtr_x",
      apiUrl: "http://g",
    });
    const base = loadServerConfig({
      GANTRY_PORT: "8080",
      GANTRY_DATA_DIR: "/tmp/gantry-config-test",
    }).cloudemy;

    const plain = withCloudemyRunner(inner, base, console, null);
    assert.equal(plain.name, "recording");
    assert.equal(plain.capacity?.(), 3);
    assert.deepEqual(await plain.activeAttempts(), new Set(["a/1"]));
    await plain.launch(request(accepted));
    assert.equal(launched[0]?.spec, accepted, "not a runner spec: launched as it is");
    await assert.rejects(plain.launch(request(runnerSpec)), /needs REDIS_URL; it is not set/);
    assert.equal(launched.length, 1);

    const redisMode = withCloudemyRunner(
      inner,
      { ...base, runner: "cloudemy", redisUrl: "redis://r:1", llmApiKey: "k" },
      console,
      writer,
    );
    await redisMode.launch(request(runnerSpec));
    assert.deepEqual(writes, [
      [
        "submission:0b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
        {
          submission_id: "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
          user_id: "alice",
          language: "python",
          code: "print(1)",
        },
        720,
      ],
    ]);
    assert.deepEqual(launched[1]?.spec.env, {
      BACKEND_INTERNAL_URL: "http://g/api/internal",
      LLM_MODEL: "gpt-4o-mini",
      SUBMISSION_ID: "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
      REDIS_URL: "redis://r:1",
      LLM_API_KEY: "k",
    });
    const failing = withCloudemyRunner(
      inner,
      { ...base, runner: "cloudemy", redisUrl: "redis://r:1" },
      console,
      {
        write: async () => {
          throw new Error("ECONNREFUSED");
        },
        close: async () => undefined,
      },
    );
    await assert.rejects(
      failing.launch(request(runnerSpec)),
      (err: unknown) =>
        isGantryError(err) &&
        err.code === "GANTRY_ERR_EXECUTOR" &&
        /redis unavailable: ECONNREFUSED/.test(err.message),
    );
    assert.equal(launched.length, 2, "nothing launched without its hash");
    await redisMode.shutdown();
    assert.deepEqual([shutdowns, closed], [1, 1]);
  });
});
