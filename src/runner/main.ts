/**
 * Entry point of the bundled runner (one self-contained ES module built by esbuild at server start,
 * see src/server/runner-bundle.ts): the same program as `gantry runner`, without the TypeScript
 * loader, so a submission's sandbox starts it in tens of milliseconds.
 */

import { runnerCommand } from "./runner.ts";

process.exitCode = await runnerCommand(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
