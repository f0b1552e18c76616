// GET /v1/runs/{id}/pod-log on the real API server: a run's pod log with pods/log's options
// (tail, since, sinceTime, container, previous, follow, limitBytes), streamed as text; clear
// refusals for bad options, a container the pod lacks, a pod that does not exist, and runs the
// caller may not see.
import assert from "node:assert/strict";
import { get, type IncomingMessage } from "node:http";
import { after, before, describe, test } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { buildApi } from "../../src/server/http/app.ts";
import { GantryMetrics } from "../../src/server/http/health-routes.ts";
import { RunWatcher } from "../../src/server/run-watcher.ts";
import { generateToken, hashToken } from "../../src/server/tokens.ts";
import { openStore } from "../../src/store/open-store.ts";
import type { Store } from "../../src/store/store.ts";
import {
  TEST_ANNOTATIONS as A,
  createTestNamespace,
  useTestCluster,
  waitFor,
  writePodLog,
} from "./harness.ts";
import { runGantry } from "../helpers/run-gantry.ts";
import { assembleGantry, spec, submitJob, testLogger } from "./kubernetes-executor-helpers.ts";

describe("GET /v1/runs/{id}/pod-log", () => {
  let store: Store;
  let url: string;
  let close: () => Promise<void>;
  let adminToken: string;
  let otherToken: string;
  let runId: string;
  let podName: string;
  let namespace: string;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    const { kc } = await useTestCluster();
    const ns = await createTestNamespace(kc, "pod-log");
    namespace = ns.name;
    cleanups.push(() => ns.cleanup());
    store = await openStore();
    cleanups.push(() => store.close());
    const logger = testLogger();
    const gantry = assembleGantry({
      kc,
      namespace,
      store,
      logger,
      dispatcher: { maxActiveRuns: 4, maxActivePerOwner: 4 },
      runConfig: { defaultImage: "registry.invalid/gantry-job:test" },
      executor: { podAnnotations: () => ({ [A.runDuration]: "10m" }) },
      executorFirst: true,
    });
    const { dispatcher, executor } = gantry;
    await gantry.start();
    const watcher = new RunWatcher(store);
    await watcher.start();
    const app = await buildApi({
      store,
      watcher,
      metrics: new GantryMetrics(store),
      logger,
      bodyLimitBytes: 1 << 20,
      defaultLimits: spec().limits,
      maxLimits: { ...spec().limits, wallSeconds: 3600 },
      liveLogs: executor,
    });
    url = await app.listen({ host: "127.0.0.1", port: 0 });
    close = async () => {
      await app.close();
      await watcher.stop();
      await gantry.stop();
    };
    adminToken = generateToken("api");
    await store.createApiToken({
      name: "admin",
      role: "admin",
      owner: "admin",
      tokenHash: hashToken(adminToken),
    });
    otherToken = generateToken("api");
    await store.createApiToken({
      name: "bob",
      role: "submitter",
      owner: "bob",
      tokenHash: hashToken(otherToken),
    });

    const run = await submitJob(store, { spec: spec({}, { wallSeconds: 600 }) });
    runId = run.id;
    dispatcher.nudge();
    await waitFor(
      "the run to be running",
      async () => ((await store.getRun(runId))?.state === "running" ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    const core = kc.makeApiClient(CoreV1Api);
    podName = await waitFor("the run's pod", async () => {
      const pods = await core.listNamespacedPod({
        namespace,
        labelSelector: `gantry.dev/run-id=${runId}`,
      });
      return pods.items[0]?.metadata?.name;
    });
    await writePodLog(kc, { namespace, pod: podName, lines: ["one", "two", "three", "four"] });
  });
  after(async () => {
    await close?.();
    for (const c of cleanups.reverse()) await c();
  });

  const fetchLog = async (query: string, token = adminToken, id = runId) => {
    const res = await fetch(`${url}/v1/runs/${id}/pod-log${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, text: await res.text(), source: res.headers.get("x-gantry-log-source") };
  };

  test("the whole log, the last lines, and what came since", async () => {
    const all = await waitFor("the log to be served", async () => {
      const r = await fetchLog("");
      return r.status === 200 && r.text.includes("four") ? r : undefined;
    });
    assert.equal(all.text, "one\ntwo\nthree\nfour\n");
    assert.equal(all.source, `pod ${namespace}/${podName}, container main`);
    assert.equal((await fetchLog("?tail=2")).text, "three\nfour\n");
    assert.equal((await fetchLog("?since=1h")).text, all.text);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await fetchLog(`?sinceTime=${encodeURIComponent(future)}`)).text, "");
    const limited = await fetchLog("?limitBytes=5");
    assert.equal(limited.text.length, 5);
    // The previous container instance's log is another file (the test cluster's kwok serves a
    // placeholder for it, as writePodLog only sets the current one).
    const previous = await fetchLog("?previous=true");
    assert.equal(previous.status, 200, previous.text);
    assert.doesNotMatch(previous.text, /four/);
    const stamped = await fetchLog("?tail=1&timestamps=true");
    assert.match(stamped.text, /^\d{4}-\d\d-\d\dT\S+ four\n$/);
  });

  test("gantry logs --pod prints it, and refuses pod options without --pod", async () => {
    const env = { GANTRY_URL: url, GANTRY_TOKEN: adminToken };
    const tailed = await runGantry(["logs", runId, "--pod", "--tail", "2"], env);
    assert.equal(tailed.code, 0, tailed.stderr);
    assert.equal(tailed.stdout, "three\nfour\n");
    const wrongContainer = await runGantry(["logs", runId, "--pod", "--container", "sidecar"], env);
    assert.equal(wrongContainer.code, 1);
    assert.match(wrongContainer.stderr, /container "sidecar" is not in pod/);
    const noPod = await runGantry(["logs", runId, "--previous"], env);
    assert.equal(noPod.code, 2);
    assert.match(noPod.stderr, /--previous need --pod/);
    const badSince = await runGantry(["logs", runId, "--pod", "--since", "yesterday"], env);
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since takes a duration/);
  });

  test("follow streams lines as the container prints them", async () => {
    const { kc } = await useTestCluster();
    const received: string[] = [];
    const req = get(`${url}/v1/runs/${runId}/pod-log?follow=true&tail=1`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      req.on("response", resolve);
      req.on("error", reject);
    });
    assert.equal(response.statusCode, 200);
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => received.push(chunk));
    await waitFor("the tail line", async () => (received.join("").includes("four") ? true : undefined));
    await writePodLog(kc, { namespace, pod: podName, lines: ["five"] });
    await waitFor(
      "the new line to arrive",
      async () => (received.join("").includes("five") ? true : undefined),
      {
        timeoutMs: 15_000,
      },
    );
    assert.equal(received.join(""), "four\nfive\n");
    req.destroy();
  });

  test("refusals say what was wrong", async () => {
    const cases: [string, number, RegExp][] = [
      ["?container=sidecar", 400, /container "sidecar" is not in pod .* \(it has main\)/],
      ["?container=Bad_Name", 400, /container/],
      ["?tail=-1", 400, /tail/],
      ["?tail=abc", 400, /tail/],
      ["?since=5d", 400, /since/],
      ["?since=0s", 400, /since must be at least 1s/],
      ["?since=1m&sinceTime=2026-01-01T00:00:00Z", 400, /since or sinceTime, not both/],
      ["?sinceTime=yesterday", 400, /sinceTime/],
      ["?limitBytes=0", 400, /limitBytes/],
      ["?limitBytes=99999999999", 400, /limitBytes/],
      ["?follow=maybe", 400, /follow/],
      ["?attempt=7", 400, /attempt must be from 1 to 1/],
      ["?bogus=1", 400, /bogus|additional/],
    ];
    for (const [query, status, message] of cases) {
      const r = await fetchLog(query);
      assert.equal(r.status, status, `${query}: ${r.text}`);
      const body = JSON.parse(r.text) as { error: { code: string; message: string } };
      assert.match(`${body.error.code}: ${body.error.message}`, message, query);
    }
    // Runs the caller may not see, and ids that are no runs.
    assert.equal((await fetchLog("", otherToken)).status, 404);
    assert.equal((await fetchLog("", adminToken, "00000000-0000-4000-8000-000000000000")).status, 404);
    assert.equal((await fetchLog("", adminToken, "not-a-uuid")).status, 400);
    assert.equal((await fetchLog("", "gty_wrong")).status, 401);
  });

  test("once the pod is gone, the live log says where the archived one is", async () => {
    const run = await store.getRun(runId);
    assert.ok(run !== null);
    const cancelled = await store.transitionRun({
      runId,
      attempt: run.attempt,
      to: "cancelled",
      reason: "cancelled by the test",
    });
    assert.ok(cancelled.ok);
    const gone = await waitFor(
      "the pod log to be unavailable",
      async () => {
        const r = await fetchLog("");
        return r.status === 409 ? r : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.match(gone.text, /GANTRY_ERR_LIVE_LOG_UNAVAILABLE/);
    assert.match(gone.text, new RegExp(`archived at /v1/runs/${runId}/logs`));
  });
});
