/** Runs `bin/gantry` as a user would, with a clean environment plus `env`, and collects its output. */

import { spawn } from "node:child_process";

export const GANTRY_BIN = new URL("../../bin/gantry", import.meta.url).pathname;

export interface GantryResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runGantry(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<GantryResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(GANTRY_BIN, args, {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
