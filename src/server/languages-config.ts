/**
 * The language table the API accepts submissions in: the built-in rows of src/core/languages.ts,
 * plus (or replaced by) the rows of the JSON file named by GANTRY_LANGUAGES_FILE, e.g.
 *
 *   { "ruby": { "sourceFile": "main.rb", "extensions": [".rb"], "run": ["/usr/bin/ruby", "{main}"],
 *               "image": "ruby:3.3-slim" },
 *     "java": null }
 *
 * (`null` removes a built-in language). Read once at start; a bad file stops the server with the
 * row and the reason.
 */

import { readFileSync } from "node:fs";
import { GantryError } from "../core/errors.ts";
import { DEFAULT_LANGUAGES, mergeLanguages, type LanguageTable } from "../core/languages.ts";

export function loadLanguageTable(env: NodeJS.ProcessEnv): LanguageTable {
  const file = env.GANTRY_LANGUAGES_FILE;
  if (file === undefined || file === "") return { ...DEFAULT_LANGUAGES };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new GantryError("GANTRY_ERR_CONFIG", [`GANTRY_LANGUAGES_FILE ${file}: ${(err as Error).message}`]);
  }
  try {
    return mergeLanguages(DEFAULT_LANGUAGES, parsed);
  } catch (err) {
    throw new GantryError("GANTRY_ERR_CONFIG", [`GANTRY_LANGUAGES_FILE ${file}: ${(err as Error).message}`]);
  }
}
