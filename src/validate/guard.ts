/**
 * The guard in front of the cluster: Gantry validates every object it is about to send and refuses
 * to send any that has an error, with one coded error that lists what is wrong and how to fix it.
 */
import { GantryError } from "../core/errors.ts";
import type { ValidateOptions } from "./config.ts";
import type { ObjectResult } from "./findings.ts";
import { displayName } from "./findings.ts";
import { validateObjects } from "./validate.ts";

/**
 * Validates objects built in code; returns the results (warnings included) when none has an error,
 * throws GANTRY_ERR_VALIDATION otherwise (details: `{ results }` of the invalid objects).
 */
export function assertValidObjects(
  objects: readonly unknown[],
  options: ValidateOptions = {},
): ObjectResult[] {
  const results = validateObjects(objects, options);
  const invalid = results.filter((r) => r.status === "invalid");
  if (invalid.length === 0) return results;
  const problems = invalid.flatMap((r) =>
    r.findings
      .filter((f) => f.severity === "error")
      .map((f) => `${r.kind ?? "object"}/${displayName(r)}: [${f.rule}] ${f.message} (fix: ${f.fix})`),
  );
  throw new GantryError("GANTRY_ERR_VALIDATION", [problems.join("; ")], { results: invalid });
}
