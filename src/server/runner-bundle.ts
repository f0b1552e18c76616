/**
 * Builds the runner of kind `submission` (src/runner/main.ts) into one ES module with esbuild, at
 * each start, into `<dir>/gantry-runner.mjs`; the local executor binds it read-only into
 * every sandbox at SANDBOX_RUNNER_PATH. Starting it costs a plain `node` start, not the TypeScript
 * loader's (about 45 ms against 130 ms here).
 */

import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, realpath, rename, stat } from "node:fs/promises";
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

/**
 * An execute-only copy of this Node binary (mode 0711) for the runner to run under. A process that
 * execs a program it cannot read is made non-dumpable by the kernel, so the submission — same uid,
 * same sandbox — can neither read the runner's /proc/<pid>/environ (its run token) or memory (the
 * expected outputs) nor ptrace it. Copied again only when the source binary changes.
 */
export async function ensureExecOnlyNode(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const source = await realpath(process.execPath);
  const out = join(dir, "node");
  const [src, existing] = await Promise.all([stat(source), stat(out).catch(() => null)]);
  if (
    existing === null ||
    existing.size !== src.size ||
    existing.mtimeMs < src.mtimeMs ||
    (existing.mode & 0o777) !== 0o711
  ) {
    const tmp = `${out}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    await copyFile(source, tmp);
    await chmod(tmp, 0o711);
    await rename(tmp, out);
  }
  return out;
}
