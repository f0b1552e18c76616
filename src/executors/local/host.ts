/**
 * What the executor learns about this machine at start(): where its tools are, what the installed
 * bubblewrap supports, the host's root layout, whether sandbox uids can reach the work root, and
 * whether a sandboxed `true` actually runs.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import path from "node:path";
import {
  ARGS_FD,
  envArgsData,
  HOST_ETC_ENTRIES,
  STATUS_FD,
  type BwrapFeatures,
  type SandboxLayout,
} from "./sandbox.ts";

const TOOL_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];
const MINIMAL_ENV = { PATH: "/usr/bin:/bin" };

/** Absolute path of a system tool (never looked up through the caller's PATH). */
export function findTool(name: string): string | null {
  for (const dir of TOOL_DIRS) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function runCapture(
  cmd: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: MINIMAL_ENV,
      timeout: timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => resolve({ code: null, stdout, stderr: stderr + err.message }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Options every supported bubblewrap has (0.5+); without them the sandbox cannot be built. */
const REQUIRED_BWRAP_OPTIONS = [
  "--json-status-fd",
  "--args",
  "--clearenv",
  "--die-with-parent",
  "--new-session",
];

export interface BwrapInfo {
  version: string;
  features: BwrapFeatures;
  /** Why this bubblewrap is unusable, or null. */
  problem: string | null;
}

export async function inspectBwrap(bwrap: string): Promise<BwrapInfo> {
  const help = await runCapture(bwrap, ["--help"], 5000);
  const version = (await runCapture(bwrap, ["--version"], 5000)).stdout.trim() || "bubblewrap";
  const features = {
    disableUserns: help.stdout.includes("--disable-userns"),
    tmpfsSize: help.stdout.includes("--size"),
  };
  const missing = REQUIRED_BWRAP_OPTIONS.filter((o) => !help.stdout.includes(o));
  return {
    version,
    features,
    problem: missing.length === 0 ? null : `${version} is too old (bubblewrap 0.5 or newer is needed)`,
  };
}

/** Top-level /bin, /lib… of this host: merged-/usr symlinks, or directories to bind. */
export async function hostRootLayout(): Promise<
  Pick<SandboxLayout, "rootSymlinks" | "rootDirs" | "hostEtc">
> {
  const rootSymlinks: { name: string; target: string }[] = [];
  const rootDirs: string[] = [];
  for (const name of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const st = await lstat(`/${name}`).catch(() => null);
    if (st?.isSymbolicLink()) rootSymlinks.push({ name, target: await readlink(`/${name}`) });
    else if (st?.isDirectory()) rootDirs.push(name);
  }
  // Debian's JDKs keep their configuration in /etc/java-N-openjdk (symlinked from /usr/lib/jvm).
  const jdkConf = (await readdir("/etc").catch(() => [] as string[])).filter((e) =>
    /^java-\d+-openjdk$/.test(e),
  );
  const hostEtc = [...HOST_ETC_ENTRIES, ...jdkConf.sort()].filter((e) => existsSync(`/etc/${e}`));
  return { rootSymlinks, rootDirs, hostEtc };
}

/** Why sandbox uids could not reach `workRoot` (an ancestor not searchable by others), or null. */
export async function workRootProblem(workRoot: string): Promise<string | null> {
  for (let dir = path.dirname(workRoot); ; dir = path.dirname(dir)) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) {
      return (
        `the sandbox work directory ${workRoot} is unreachable for sandbox uids: ${dir} is mode ` +
        `${(st.mode & 0o777).toString(8)} (not searchable by others); choose a work directory elsewhere, ` +
        `e.g. under /var/lib or /tmp`
      );
    }
    if (dir === path.dirname(dir)) return null;
  }
}

/** Runs a full sandbox launch argv of `true`; "" when it works, else why not (bubblewrap's words). */
export async function probeSandboxArgv(argv: readonly string[]): Promise<string> {
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
    env: MINIMAL_ENV,
    timeout: 15_000,
  });
  const args = child.stdio[ARGS_FD] as NodeJS.WritableStream;
  args.on("error", () => undefined);
  args.end(envArgsData(MINIMAL_ENV));
  let stderr = "";
  let status = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  (child.stdio[STATUS_FD] as NodeJS.ReadableStream).on("data", (d: Buffer) => (status += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.on("error", (err) => {
      stderr += err.message;
      resolve(null);
    });
    child.on("close", (c) => resolve(c));
  });
  if (code === 0 && status.includes('"child-pid"')) return "";
  return `bubblewrap does not work here (a sandboxed \`true\` exited ${code}: ${stderr.trim() || "no message"})`;
}
