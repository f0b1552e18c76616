/**
 * Host-wide ownership of sandbox uids, so that two Gantry processes on one machine (tests run
 * several; so may an operator) never hand out the same uid at once — which would let one's
 * `kill -1` hit the other's sandbox and make them share RLIMIT_NPROC.
 *
 * A uid is owned by whoever listens on the abstract unix socket `\0gantry-sandbox-uid-<uid>`:
 * binding is atomic, and the kernel releases the name when the owner closes it or dies, so there
 * are no stale locks to clean up after a crash. (Abstract names are per network namespace: the
 * sandboxes, in their own, cannot see or take them.)
 */

import net from "node:net";

export class UidLocks {
  private readonly held = new Map<number, net.Server>();

  constructor(private readonly prefix = "gantry-sandbox-uid") {}

  /** Takes `uid` for this process; false when another process holds it. */
  async tryLock(uid: number): Promise<boolean> {
    if (this.held.has(uid)) return false;
    const server = net.createServer((socket) => socket.destroy());
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen({ path: `\0${this.prefix}-${uid}` }, () => resolve(true));
    });
    if (!ok) {
      server.close();
      return false;
    }
    server.unref();
    this.held.set(uid, server);
    return true;
  }

  release(uid: number): void {
    const server = this.held.get(uid);
    if (server === undefined) return;
    this.held.delete(uid);
    server.close();
  }

  releaseAll(): void {
    for (const uid of [...this.held.keys()]) this.release(uid);
  }

  get size(): number {
    return this.held.size;
  }
}
