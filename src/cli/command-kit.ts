/**
 * What every client command shares: argument parsing with usage errors (exit 2), the API client
 * from saved settings, and API errors printed as one readable line (exit 1).
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { ApiError, GantryClient, loadClientSettings } from "./client.ts";
import type { CommandIO } from "./main.ts";

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function intOption(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  }
  return Number(value);
}

/** Runs a client command body with a ready API client, mapping failures to exit codes. */
export async function runClientCommand(
  io: CommandIO,
  help: string,
  body: (client: GantryClient) => Promise<number>,
): Promise<number> {
  try {
    const client = new GantryClient(await loadClientSettings(io.env));
    return await body(client);
  } catch (err) {
    return reportCommandError(io, help, err);
  }
}

export function reportCommandError(io: CommandIO, help: string, err: unknown): number {
  if (err instanceof UsageError) {
    io.stderr.write(`gantry: ${err.message}\n\n${help}`);
    return 2;
  }
  if (err instanceof ApiError) {
    io.stderr.write(`gantry: ${err.message} [${err.code}]\n`);
    return 1;
  }
  throw err;
}

export function writeJson(io: CommandIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return (
    rows
      .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "))
      .join("\n") + "\n"
  );
}
