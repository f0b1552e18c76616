import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { ApiException, BatchV1Api, KubeConfig } from "@kubernetes/client-node";
import { GantryError } from "../../core/errors.ts";
import { isTransient } from "./api-errors.ts";

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

async function failureOf(kc: KubeConfig): Promise<unknown> {
  try {
    await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: "n" });
  } catch (err) {
    return err;
  }
  throw new Error("the request succeeded");
}

test("no answer from the API server (refused, reset) is transient", async () => {
  // A port nobody listens on: client-node's fetch fails with ECONNREFUSED in its causes.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  assert.equal(isTransient(await failureOf(kubeConfigFor(`https://127.0.0.1:${port}`))), true);

  // A server that accepts and hangs up at once.
  const rude = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => rude.listen(0, "127.0.0.1", resolve));
  try {
    const rudePort = (rude.address() as { port: number }).port;
    assert.equal(isTransient(await failureOf(kubeConfigFor(`https://127.0.0.1:${rudePort}`))), true);
  } finally {
    await new Promise((resolve) => rude.close(resolve));
  }
});

test("5xx but 501 are transient; other statuses, bugs and Gantry's own errors are not", () => {
  for (const code of [500, 502, 503, 504])
    assert.equal(isTransient(new ApiException(code, "x", {}, {})), true);
  for (const code of [400, 401, 403, 404, 409, 422, 429, 501])
    assert.equal(isTransient(new ApiException(code, "x", {}, {})), false, String(code));
  assert.equal(isTransient(new TypeError("cannot read properties of undefined")), false);
  assert.equal(isTransient(new GantryError("GANTRY_ERR_EXECUTOR", ["x"])), false);
  assert.equal(isTransient("ECONNRESET"), false, "not an Error");
});
