// Child processes of the tests: a free TCP port on 127.0.0.1, and `gantry up` as a child process
// a test can SIGKILL and start again on the same data.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** `gantry up` as a child process (in this checkout, with `env` only), killed and started at will. */
export class GantryUpProcess {
  private child: ChildProcess | null = null;
  /** The last 20,000 characters of its stdout and stderr. */
  log = "";

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly url: string,
  ) {}

  start(): void {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up"], {
      env: this.env,
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (d: Buffer): void => {
      this.log = (this.log + d.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.child = child;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Whether /readyz answers ok now; fails the test if the process has exited. */
  async ready(): Promise<boolean> {
    assert.ok(this.alive, `gantry exited on its own:\n${this.log}`);
    return fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false);
  }

  /** A JSON request to its API with `token` (10 s at most). */
  async request(
    token: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const res = await fetch(this.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.json() };
  }

  /** SIGKILL now (synchronously: for use inside a watch callback). */
  killNow(): void {
    if (this.alive) this.child?.kill("SIGKILL");
  }

  /** SIGKILL, and waits for the process to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null || !this.alive) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }
}
