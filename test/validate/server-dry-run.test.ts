/**
 * `--server-dry-run` against the real kube-apiserver of test/k8s/: the server's verdict sits beside
 * the local one, catches what a schema cannot (label values, strict field validation), and nothing
 * is created.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { BatchV1Api } from "@kubernetes/client-node";
import { createTestNamespace, useTestCluster } from "../k8s/harness.ts";
import type { TestCluster, TestNamespace } from "../k8s/harness.ts";
import { validateCommand } from "../../src/cli/validate-command.ts";
import { applyServerDryRun, createDryRunClient, validateObjects } from "../../src/validate/index.ts";

function job(namespace: string, name: string, extra: (o: Record<string, unknown>) => void = () => undefined) {
  const o: Record<string, unknown> = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace, labels: { app: "dry-run-test" } },
    spec: {
      activeDeadlineSeconds: 60,
      ttlSecondsAfterFinished: 60,
      template: {
        spec: {
          restartPolicy: "Never",
          securityContext: { runAsNonRoot: true, runAsUser: 1000 },
          containers: [
            {
              name: "main",
              image: "busybox:1.36",
              resources: { limits: { cpu: "100m", memory: "64Mi" } },
              securityContext: { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  };
  extra(o);
  return o;
}

describe("server dry run (test/k8s control plane)", () => {
  let cluster: TestCluster;
  let ns: TestNamespace;

  before(async () => {
    cluster = await useTestCluster();
    ns = await createTestNamespace(cluster.kc, "validate-dry-run");
  });
  after(async () => {
    await ns?.cleanup();
  });

  it("reports the server's verdict beside the local one, and creates nothing", async () => {
    const objects = [
      job(ns.name, "accepted"),
      // Unknown field: a local warning, but fieldValidation=Strict makes the server refuse it.
      job(ns.name, "unknown-field", (o) => ((o["spec"] as Record<string, unknown>)["paralelism"] = 2)),
      // Label values must be at most 63 characters of [-A-Za-z0-9_.]; no schema says so.
      job(
        ns.name,
        "bad-label",
        (o) => ((o["metadata"] as Record<string, unknown>)["labels"] = { app: "has spaces!" }),
      ),
      // The namespace does not exist.
      job(`${ns.name}-missing`, "no-namespace"),
    ];
    const results = validateObjects(objects, {});
    assert.deepEqual(
      results.map((r) => r.status),
      ["valid", "valid", "valid", "valid"],
    );
    const client = await createDryRunClient({ kubeconfig: cluster.kubeconfigPath });
    await applyServerDryRun(
      results,
      objects,
      [client, await createDryRunClient({ kubeconfig: cluster.kubeconfigPath })],
      {},
    );
    const verdicts = results.map((r) => [r.name, r.server?.status, r.status]);
    assert.deepEqual(verdicts, [
      ["accepted", "accepted", "valid"],
      ["unknown-field", "rejected", "invalid"],
      ["bad-label", "rejected", "invalid"],
      ["no-namespace", "rejected", "invalid"],
    ]);
    assert.match(results[1]!.server!.message!, /unknown field "spec.paralelism"/);
    assert.match(results[2]!.server!.message!, /metadata.labels/);
    assert.match(results[3]!.server!.message!, /not found/);
    const jobs = await cluster.kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: ns.name });
    assert.equal(jobs.items.length, 0, "a dry run must not create anything");
  });

  it("gantry validate --server-dry-run prints both verdicts and fails on a rejection", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-dry-run-"));
    const file = join(dir, "jobs.yaml");
    writeFileSync(
      file,
      [
        job(ns.name, "cli-ok"),
        job(
          ns.name,
          "cli-bad",
          (o) => ((o["metadata"] as Record<string, unknown>)["labels"] = { "bad key!": "x" }),
        ),
      ]
        .map((o) => JSON.stringify(o))
        .join("\n---\n"),
    );
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (c: Buffer) => (out += c.toString()));
    const code = await validateCommand(["--server-dry-run", "--kubeconfig", cluster.kubeconfigPath, file], {
      stdout,
      stderr: new PassThrough(),
      stdin: Readable.from([]),
      env: {},
    });
    assert.equal(code, 1);
    assert.match(
      out,
      /\[SERVER DRY RUN\]\n {2}Job\/cli-ok: local valid, server accepted\n {2}Job\/cli-bad: local invalid, server rejected: /,
    );
    assert.match(out, /\[server-dry-run\] the API server rejected it: /);
  });
});
