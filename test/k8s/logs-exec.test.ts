// pods/log (with follow) and pods/exec (WebSocket) for fake pods, through the real API server:
// kwok serves them like a kubelet, logs from a file per container, exec by running the command
// on this host (test/k8s/README.md).
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { CoreV1Api, Exec, Log } from "@kubernetes/client-node";
import type { KubeConfig, V1Pod, V1Status } from "@kubernetes/client-node";
import {
  createTestNamespace,
  recordWatch,
  textSink,
  useTestCluster,
  waitFor,
  writePodLog,
} from "./harness.ts";

/** A bare pod (no Job owns it, so it keeps running) and waits until it is Running. */
async function runningPod(kc: KubeConfig, namespace: string, name: string): Promise<V1Pod> {
  const pods = await recordWatch<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`);
  try {
    await kc.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: { containers: [{ name: "main", image: "registry.invalid/gantry-runner:test" }] },
      },
    });
    return (await pods.until(`${name} to run`, (e) => e.object.status?.phase === "Running")).object;
  } finally {
    pods.stop();
  }
}

test("pod logs read with follow stream lines as they are appended", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-logs");
  t.after(() => ns.cleanup());
  await runningPod(kc, ns.name, "talker");

  await writePodLog(kc, { namespace: ns.name, pod: "talker", lines: ["first line"] });
  const core = kc.makeApiClient(CoreV1Api);
  assert.equal(
    await core.readNamespacedPodLog({ namespace: ns.name, name: "talker", container: "main" }),
    "first line\n",
  );

  const out = textSink();
  const following = await new Log(kc).log(ns.name, "talker", "main", out, { follow: true });
  t.after(() => following.abort());
  await waitFor("the first line", async () => (out.text.includes("first line\n") ? true : undefined));

  await writePodLog(kc, { namespace: ns.name, pod: "talker", lines: ["second line"] });
  await waitFor("the second line", async () => (out.text.includes("second line\n") ? true : undefined));
  await writePodLog(kc, {
    namespace: ns.name,
    pod: "talker",
    lines: ["third line", "oops"],
    stream: "stderr",
  });
  await waitFor("the third line", async () => (out.text.includes("oops\n") ? true : undefined));
  assert.equal(out.text, "first line\nsecond line\nthird line\noops\n");

  // tailLines and timestamps are the kubelet's, applied to the same file.
  const tail = await core.readNamespacedPodLog({
    namespace: ns.name,
    name: "talker",
    container: "main",
    tailLines: 1,
  });
  assert.equal(tail, "oops\n");
});

interface ExecResult {
  stdout: string;
  stderr: string;
  status: V1Status;
  /** The WebSocket subprotocol the API server chose. */
  protocol: string;
}

async function exec(kc: KubeConfig, namespace: string, pod: string, command: string[], stdin?: string) {
  const stdout = textSink();
  const stderr = textSink();
  return new Promise<ExecResult>((resolve, reject) => {
    let status: V1Status | undefined;
    new Exec(kc)
      .exec(
        namespace,
        pod,
        "main",
        command,
        stdout,
        stderr,
        stdin === undefined ? null : Readable.from([stdin]),
        false,
        (s) => (status = s),
      )
      .then((ws) => {
        ws.on("close", () => {
          if (status === undefined) reject(new Error("the exec stream closed without a status"));
          else resolve({ stdout: stdout.text, stderr: stderr.text, status, protocol: ws.protocol });
        });
        ws.on("error", reject);
      }, reject);
  });
}

test("exec over WebSocket returns stdout, stderr and the exit status", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-exec");
  t.after(() => ns.cleanup());
  await runningPod(kc, ns.name, "shell");

  const ok = await exec(kc, ns.name, "shell", [
    "sh",
    "-c",
    "echo hello; echo warn >&2; echo $GANTRY_TEST_FAKE_POD",
  ]);
  assert.equal(ok.stdout, "hello\n1\n");
  assert.equal(ok.stderr, "warn\n");
  assert.equal(ok.status.status, "Success");
  assert.equal(ok.protocol, "v5.channel.k8s.io");

  const failed = await exec(kc, ns.name, "shell", ["sh", "-c", "echo partial; exit 3"]);
  assert.equal(failed.stdout, "partial\n");
  assert.equal(failed.status.status, "Failure");
  assert.equal(failed.status.reason, "NonZeroExitCode");
  assert.deepEqual(failed.status.details?.causes, [{ reason: "ExitCode", message: "3" }]);

  const echoed = await exec(kc, ns.name, "shell", ["cat"], "from stdin\n");
  assert.equal(echoed.stdout, "from stdin\n");
  assert.equal(echoed.status.status, "Success");
});
