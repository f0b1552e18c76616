// The Cloudemy Redis mode on the test control plane: Gantry's API (GANTRY_CLOUDEMY_RUNNER=cloudemy,
// REDIS_URL of a real redis-server started here) takes a bare `{language, code}` submission; the
// dispatcher role with the real KubernetesExecutor, wrapped by withCloudemyRunner as `gantry up`
// does, writes `submission:{id}` to Redis and creates the Job of the original runner image. The
// test asserts what the API server holds — the image with its own entrypoint (no command), the
// original contract's env, INTERNAL_RESULT_TOKEN only as a reference to the run's Secret — in a
// namespace enforcing Pod Security "restricted". Fake pods execute nothing, so the test then does
// what the original Python runner does: HGETALL the hash, POST the result with X-Result-Token (the
// token read from the Secret); the fake pod's end is recorded and the submission is COMPLETED.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { createClient } from "@redis/client";
import { GANTRY_LABELS, RUN_TOKEN_KEY, jobName } from "../../src/core/kubernetes-objects.ts";
import { withCloudemyRunner } from "../../src/server/cloudemy-runner.ts";
import { loadServerConfig } from "../../src/server/config.ts";
import type { Dispatcher } from "../../src/server/dispatcher.ts";
import { REDIS_SERVER_BINARY, RedisServer, freePort } from "../helpers/redis-server.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import {
  TEST_ANNOTATIONS as A,
  createTestNamespace,
  kubeRequest,
  useTestCluster,
  waitFor,
} from "./harness.ts";
import { assembleGantry, enforceRestrictedPodSecurity, testLogger } from "./kubernetes-executor-helpers.ts";

/** Gantry's API as pods would reach it; the fake pods reach nothing. */
const PODS_API_URL = "http://gantry.gantry.svc.cluster.local:8080";
const RUNNER_IMAGE = "withya61/cloudemy-runner:latest";

type Obj = Record<string, unknown>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

if (REDIS_SERVER_BINARY === undefined) {
  test("Cloudemy runner on Kubernetes", { skip: "redis-server is not installed" }, () => {});
} else {
  describe("Cloudemy runner image as a Job on the test control plane", () => {
    let t: TestGantry;
    let kc: KubeConfig;
    let namespace: { name: string; cleanup(): Promise<void> };
    let dispatcher: Dispatcher;
    let executor: ReturnType<typeof withCloudemyRunner>;
    let redis: RedisServer;
    let redisDir: string;
    let client: ReturnType<typeof createClient>;
    let alice: string;

    before(async () => {
      ({ kc } = await useTestCluster());
      namespace = await createTestNamespace(kc, "cloudemy");
      await enforceRestrictedPodSecurity(kc, namespace.name);
      redisDir = await mkdtemp(join(tmpdir(), "gantry-redis-"));
      redis = new RedisServer(await freePort(), redisDir);
      await redis.start();
      client = createClient({ url: redis.url });
      client.on("error", () => undefined);
      await client.connect();

      // The config `gantry up` would load for the cluster: no runner command (the image's own).
      const env = {
        GANTRY_EXECUTOR: "kubernetes",
        GANTRY_DEFAULT_IMAGE: "registry.invalid/gantry-job:test",
        GANTRY_RUNS_API_URL: PODS_API_URL,
        GANTRY_CLOUDEMY_RUNNER: "cloudemy",
        REDIS_URL: redis.url,
        LLM_API_KEY: "sk-cluster-test",
      };
      const cloudemy = loadServerConfig(env).cloudemy;
      assert.deepEqual(cloudemy.runnerCommand, []);
      // `gantry server --role api` with that config …
      t = await startTestGantry("pglite", { roles: { api: true, dispatcher: false }, cloudemy });
      alice = await t.createToken("submitter", "alice");
      // … and the dispatcher role on the same store, with the executor gantry-server.ts builds.
      const logger = testLogger();
      const gantry = assembleGantry({
        kc,
        namespace: namespace.name,
        store: t.gantry.store,
        logger,
        dispatcher: { publicUrl: PODS_API_URL, pollIntervalMs: 100 },
        runConfig: { defaultImage: "registry.invalid/gantry-job:test", apiUrl: PODS_API_URL },
        executor: { podAnnotations: () => ({ [A.runDuration]: "8s" }) },
      });
      dispatcher = gantry.dispatcher;
      // Started and stopped through the wrapper, as gantry-server.ts does.
      executor = withCloudemyRunner(gantry.executor, cloudemy, logger);
      await executor.start();
      await dispatcher.start(executor);
    });
    after(async () => {
      await dispatcher?.stop();
      await executor?.shutdown();
      await t?.stop();
      await namespace?.cleanup();
      await client?.close().catch(() => undefined);
      await redis?.stop();
      if (redisDir !== undefined) await rm(redisDir, { recursive: true, force: true });
    });

    const get = async (path: string) => {
      const res = await kubeRequest(kc, { method: "GET", path });
      return { status: res.status, body: res.json as Obj, text: res.body };
    };

    test("the Job runs the runner image unchanged with the contract's env; the test plays the runner and sees COMPLETED", async () => {
      const code = "# CODE-MARKER\nprint(input()[::-1])\n";
      const created = await t.api("POST", "/api/submissions", {
        token: alice,
        body: { language: "python", code },
      });
      assert.equal(created.status, 201, created.text);
      const id = String((created.body as Obj).submission_id);
      const name = jobName(id, 1);
      const ns = namespace.name;

      const job = await waitFor(`the Job of ${id}`, async () => {
        const res = await get(`/apis/batch/v1/namespaces/${ns}/jobs/${name}`);
        return res.status === 200 ? res.body : undefined;
      });
      const spec = job.spec as {
        activeDeadlineSeconds: number;
        template: { metadata: { labels: Record<string, string> }; spec: { containers: Obj[] } };
      };
      assert.equal(spec.template.metadata.labels[GANTRY_LABELS.kind], "submission");
      assert.equal(spec.activeDeadlineSeconds, 120, "the original runner Job's deadline");
      const containers = spec.template.spec.containers as {
        image: string;
        command?: string[];
        env: EnvVar[];
      }[];
      assert.equal(containers.length, 1);
      const main = containers[0]!;
      assert.equal(main.image, RUNNER_IMAGE);
      assert.ok(
        main.command === undefined || main.command.length === 0,
        `no command: ${JSON.stringify(main.command)}`,
      );
      const env = Object.fromEntries(main.env.map((e) => [e.name, e]));
      assert.equal(env.SUBMISSION_ID?.value, id);
      assert.equal(env.REDIS_URL?.value, redis.url);
      assert.equal(env.BACKEND_INTERNAL_URL?.value, `${PODS_API_URL}/api/internal`);
      assert.equal(env.LLM_API_KEY?.value, "sk-cluster-test");
      assert.equal(env.LLM_MODEL?.value, "gpt-4o-mini");
      assert.deepEqual(env.INTERNAL_RESULT_TOKEN?.valueFrom?.secretKeyRef, {
        name,
        key: RUN_TOKEN_KEY,
        optional: false,
      });
      assert.equal(env.INTERNAL_RESULT_TOKEN?.value, undefined, "the token never as a plain value");
      const contract = [
        "SUBMISSION_ID",
        "REDIS_URL",
        "BACKEND_INTERNAL_URL",
        "INTERNAL_RESULT_TOKEN",
        "LLM_API_KEY",
        "LLM_MODEL",
      ];
      const others = Object.keys(env).filter((n) => !contract.includes(n) && !n.startsWith("GANTRY_"));
      assert.deepEqual(others.sort(), ["HOME", "TMPDIR"]);
      assert.ok(!JSON.stringify(job).includes("CODE-MARKER"), "the code is in Redis, not in the Job");

      // Admitted under Pod Security "restricted": the pod runs.
      await waitFor(`the running pod of ${id}`, async () => {
        const selector = encodeURIComponent(`${GANTRY_LABELS.runId}=${id}`);
        const res = await get(`/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`);
        const items = (res.body as { items?: { status?: { phase?: string } }[] }).items ?? [];
        return items.some((p) => p.status?.phase === "Running") ? true : undefined;
      });

      // The runner's part: its submission from Redis, its token from the env (the Secret).
      const hash = await client.hGetAll(`submission:${id}`);
      assert.deepEqual(hash, { submission_id: id, user_id: "alice", language: "python", code });
      const secret = await get(`/api/v1/namespaces/${ns}/secrets/${name}`);
      assert.equal(secret.status, 200, secret.text);
      const token = Buffer.from(
        (secret.body as { data: Record<string, string> }).data[RUN_TOKEN_KEY] ?? "",
        "base64",
      ).toString();
      assert.ok(!JSON.stringify(job).includes(token));
      // BACKEND_INTERNAL_URL is the pods' address; from here the same route is on the test's URL.
      const posted = await fetch(`${t.url}/api/internal/submissions/${hash.submission_id}/result`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-result-token": token },
        body: JSON.stringify({
          status: "SUCCESS",
          score: 91,
          feedback: [{ case: "llm", message: "reverses" }],
        }),
      });
      assert.equal(posted.status, 200, await posted.clone().text());
      assert.deepEqual(await posted.json(), { ok: true, submission_id: id, status: "COMPLETED" });

      const done = await t.waitForRun(id, 60_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done));
      const shown = (await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Obj;
      assert.deepEqual(
        [shown.status, shown.score, shown.feedback, shown.user_id],
        ["COMPLETED", 91, [{ case: "llm", message: "reverses" }], "alice"],
      );
    });
  });
}
