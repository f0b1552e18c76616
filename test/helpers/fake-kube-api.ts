/**
 * A stand-in Kubernetes API server on 127.0.0.1 for unit tests of client behaviour the real test
 * cluster cannot be made to show on demand (a watch dropped mid-stream, a 500, a log that stalls):
 * `handle` answers each request; the KubeConfig points a client-node client at it.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";

export async function fakeKubeApi(
  t: TestContext,
  handle: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<{ kc: KubeConfig; requests: string[] }> {
  let n = 0;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    handle(req, res, ++n);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "fake",
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "fake", cluster: "fake", user: "u" }],
    currentContext: "fake",
  });
  return { kc, requests };
}
