/**
 * The module validation workers start from. Loading TypeScript through tsx in every worker costs
 * about a tenth of a second, so the worker and the validator modules are bundled once with esbuild
 * (packages stay external) into `node_modules/.cache/gantry-validate/worker-<hash>.mjs`, keyed by
 * the sources' content. If that cannot be done, workers start from a small bootstrap that registers
 * tsx first.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const fallback = new URL("./validate-worker-bootstrap.mjs", import.meta.url);
let entry: Promise<URL> | undefined;

export function workerEntry(): Promise<URL> {
  entry ??= bundle().catch(() => fallback);
  return entry;
}

async function bundle(): Promise<URL> {
  if (process.env["GANTRY_VALIDATE_NO_BUNDLE"] === "1") return fallback;
  const here = dirname(fileURLToPath(import.meta.url));
  const sources = readdirSync(here)
    .filter((f) => f.endsWith(".ts"))
    .sort();
  const hash = createHash("sha256");
  for (const f of sources) hash.update(f).update(readFileSync(join(here, f)));
  const dir = join(here, "..", "..", "node_modules", ".cache", "gantry-validate");
  const out = join(dir, `worker-${hash.digest("hex").slice(0, 16)}.mjs`);
  if (!existsSync(out)) {
    const esbuild = await import("esbuild");
    mkdirSync(dir, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    await esbuild.build({
      entryPoints: [join(here, "validate-worker.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile: tmp,
      logLevel: "silent",
    });
    renameSync(tmp, out);
  }
  return pathToFileURL(out);
}
