/** `gantry up`: API + dispatcher + local executor in one process, on the embedded database by default. */

import type { Command } from "./main.ts";
import { CONFIG_VARS, loadServerConfig } from "../server/config.ts";
import { startGantry } from "../server/gantry-server.ts";
import { isGantryError } from "../core/errors.ts";
import { parseCommandArgs, reportCommandError } from "./command-kit.ts";

const HELP = `usage: gantry up [--port N] [--host ADDR] [--data-dir DIR]

Starts Gantry in one process: HTTP API, dispatcher and the local sandbox executor. With no
DATABASE_URL it keeps its state in an embedded PostgreSQL (PGlite) under the data directory.
On first start it generates an admin token, prints it once and saves it for the CLI.

Environment:
${CONFIG_VARS.map(([n, m]) => `  ${n.padEnd(34)} ${m}`).join("\n")}
`;

export const upCommand: Command = async (argv, io) => {
  try {
    const { values } = parseCommandArgs(
      argv,
      { port: { type: "string" }, host: { type: "string" }, "data-dir": { type: "string" } },
      false,
    );
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const env = { ...io.env };
    if (values.port !== undefined) env.GANTRY_PORT = values.port;
    if (values.host !== undefined) env.GANTRY_HOST = values.host;
    if (values["data-dir"] !== undefined) env.GANTRY_DATA_DIR = values["data-dir"];
    const config = loadServerConfig(env);
    const gantry = await startGantry(config, {
      onAdminToken: (token, path) => {
        io.stdout.write(
          `\nGenerated the first admin token (shown once; saved to ${path} for the gantry CLI):\n\n  ${token}\n\n`,
        );
      },
    });
    io.stdout.write(
      `Gantry is up at ${gantry.url} (store: ${gantry.store.backend}, data: ${config.dataDir})\n`,
    );
    io.stdout.write(`API docs: ${gantry.url}/docs   Try: bin/gantry submit --wait -- sh -c 'echo hello'\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        io.stdout.write("Stopping Gantry…\n");
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    await gantry.close();
    return 0;
  } catch (err) {
    if (isGantryError(err)) {
      io.stderr.write(`gantry: ${err.message} [${err.code}]\n`);
      return 1;
    }
    return reportCommandError(io, HELP, err);
  }
};
