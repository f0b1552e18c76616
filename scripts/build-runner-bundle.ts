/**
 * Builds the runner of kind `submission` into `<dir>/gantry-runner.mjs` for a runner image
 * (deploy/runner/*.Dockerfile), with the same esbuild options Gantry uses at start for the local
 * sandbox (src/server/runner-bundle.ts), so both run the same program.
 *
 *   node --import tsx scripts/build-runner-bundle.ts DIR
 */

import { buildRunnerBundle } from "../src/server/runner-bundle.ts";

const dir = process.argv[2];
if (dir === undefined || dir === "") {
  process.stderr.write("usage: node --import tsx scripts/build-runner-bundle.ts DIR\n");
  process.exit(2);
}
process.stdout.write(`${await buildRunnerBundle(dir)}\n`);
