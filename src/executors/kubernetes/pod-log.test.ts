// PodLogFollower against a fake API server: a followed log that breaks is resumed where it
// stopped, finish() reads the rest once, a follow that never answers can still be stopped.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import { fakeKubeApi } from "../../../test/helpers/fake-kube-api.ts";
import { PodLogFollower } from "./pod-log.ts";

const fakeServer = fakeKubeApi;

function follower(kc: KubeConfig, limitBytes = 1000) {
  const lines: [string, string][] = [];
  const errors: string[] = [];
  const f = new PodLogFollower({
    kubeConfig: kc,
    namespace: "runs",
    pod: "p",
    container: "main",
    limitBytes,
    emit: (stream, text) => lines.push([stream, text]),
    retryDelayMs: 10,
    onError: (m) => errors.push(m),
  });
  return { f, lines, errors };
}

const until = async (check: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

test("a followed log that breaks is resumed after the bytes already read; finish() adds the rest once", async (t) => {
  const { kc, requests } = await fakeServer(t, (req, res, n) => {
    res.flushHeaders();
    if (n === 1) {
      res.write("line1\nli");
      setTimeout(() => req.socket.destroy(), 30);
    } else if (n === 2) {
      res.write("line1\nline2\n"); // a new request reads from the start; stays open
    } else {
      res.end("line1\nline2\nline3\nlast");
    }
  });
  const { f, lines, errors } = follower(kc);
  f.start();
  await until(() => lines.length >= 2);
  assert.deepEqual(lines, [
    ["stdout", "line1"],
    ["stdout", "line2"],
  ]);
  await f.finish();
  assert.deepEqual(
    lines.map(([, text]) => text),
    ["line1", "line2", "line3", "last"],
  );
  assert.equal(f.bytes, 22);
  assert.equal(errors.length, 1, "one broken stream");
  assert.match(requests[0] ?? "", /follow=true/);
  assert.match(requests[2] ?? "", /follow=false/);
});

test("a follow the server never answers is dropped by finish(); a 404 (pod gone) ends quietly", async (t) => {
  let follows = 0;
  const { kc } = await fakeServer(t, (req, res) => {
    if (req.url?.includes("follow=true")) {
      follows++;
      return; // no headers, ever (a kwok follow of an empty log)
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: "Status", code: 404, message: 'pods "p" not found' }));
  });
  const { f, lines, errors } = follower(kc);
  f.start();
  await until(() => follows === 1);
  await f.finish();
  assert.deepEqual(lines, []);
  assert.deepEqual(errors, []);
});

test("a follow that keeps failing backs off (doubling), and starts afresh once data flows", async (t) => {
  const { kc } = await fakeServer(t, (req, res, n) => {
    if (n <= 4 || (n >= 6 && n <= 7)) {
      res.statusCode = 500;
      res.end(JSON.stringify({ kind: "Status", code: 500, message: "etcd is unhappy" }));
      return;
    }
    res.flushHeaders();
    res.write("line1\n");
    setTimeout(() => req.socket.destroy(), 20); // n = 5: data, then the stream breaks
  });
  const { f, errors } = follower(kc);
  f.start();
  await until(() => errors.length >= 7);
  f.stop();
  const delays = errors.map((e) => Number(/again in (\d+) ms/.exec(e)?.[1]));
  assert.deepEqual(delays.slice(0, 7), [10, 20, 40, 80, 10, 20, 40], errors.join("\n"));
  assert.match(errors[0] ?? "", /HTTP 500: etcd is unhappy/);
});
