/**
 * Server-Sent Events on a Fastify reply: takes over the raw response, writes `id`/`event`/`data`
 * frames, sends a comment every 15 s so proxies keep the stream open, and reports when the client
 * goes away.
 */

import type { FastifyReply } from "fastify";

export interface SseStream {
  send(event: string, data: unknown, id?: number): void;
  close(): void;
  readonly closed: boolean;
  onClose(fn: () => void): void;
}

export function openSse(reply: FastifyReply): SseStream {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  raw.write(": stream open\n\n");
  let closed = false;
  const listeners: (() => void)[] = [];
  const heartbeat = setInterval(() => raw.write(": keep-alive\n\n"), 15_000);
  const finish = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const fn of listeners) fn();
  };
  raw.on("close", finish);
  return {
    send(event, data, id) {
      if (closed) return;
      raw.write(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      finish();
      raw.end();
    },
    get closed() {
      return closed;
    },
    onClose(fn) {
      listeners.push(fn);
    },
  };
}
