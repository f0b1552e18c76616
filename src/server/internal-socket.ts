/**
 * The way a sandboxed workload reaches Gantry: sandboxes have no network, so the local executor
 * binds this unix socket into each one (at /run/gantry/api.sock, env GANTRY_API_SOCKET). It serves
 * only `/v1/internal/…` — the routes a run's own token opens — by handing requests to the API's
 * router; everything else gets 404.
 *
 *   curl --unix-socket "$GANTRY_API_SOCKET" -H "X-Run-Token: $GANTRY_RUN_TOKEN" \
 *        "http://gantry/v1/internal/runs/$GANTRY_RUN_ID/payload"
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { chmod, mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { GantryError } from "../core/errors.ts";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

function sendError(res: ServerResponse, err: GantryError): void {
  res.writeHead(err.statusCode, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify({ error: err.toJSON() }));
}

/**
 * Listens on `path` (replacing a stale socket) and serves internal routes through whatever
 * `handler()` returns at request time — null until the API is ready (503 meanwhile).
 */
export async function listenInternalSocket(
  path: string,
  handler: () => RequestHandler | null,
): Promise<{ close(): Promise<void> }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  await chmod(dirname(path), 0o711);
  await rm(path, { force: true });
  const server = createServer((req, res) => {
    if (!(req.url ?? "").startsWith("/v1/internal/")) {
      sendError(
        res,
        new GantryError("GANTRY_ERR_ROUTE_NOT_FOUND", [
          `${req.method ?? "?"} ${req.url ?? ""} (this socket serves /v1/internal/ only)`,
        ]),
      );
      return;
    }
    const route = handler();
    if (route === null) {
      sendError(res, new GantryError("GANTRY_ERR_UNAVAILABLE", ["the API is starting; try again"]));
      return;
    }
    route(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  // Sandboxes run as unprivileged uids; connecting needs write permission on the socket.
  await chmod(path, 0o666);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => rm(path, { force: true })),
  };
}
