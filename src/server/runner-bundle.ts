/**
 * Builds the runner of kind `submission` (src/runner/main.ts) into one ES module with esbuild, at
 * each start, into `<dir>/gantry-runner.mjs`; the local executor binds it read-only into
 * every sandbox at SANDBOX_RUNNER_PATH. Starting it costs a plain `node` start, not the TypeScript
 * loader's (about 45 ms against 130 ms here).
 */

import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename } from "node:fs/promises";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const ENTRY = resolve(import.meta.dirname, "../runner/main.ts");

/** Builds the bundle into `dir` (replacing an older one atomically) and returns its path. */
export async function buildRunnerBundle(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  const out = join(dir, "gantry-runner.mjs");
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: tmp,
    logLevel: "silent",
    legalComments: "none",
  });
  await chmod(tmp, 0o644);
  await rename(tmp, out);
  return out;
}
