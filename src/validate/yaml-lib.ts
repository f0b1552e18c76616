/**
 * The `yaml` package, loaded on first use: only the careful parsing path, config files and CRD
 * files need it, and loading it costs tens of milliseconds in every thread that validates.
 */
import { createRequire } from "node:module";

type YamlLib = typeof import("yaml");
let lib: YamlLib | undefined;

export function yamlLib(): YamlLib {
  lib ??= createRequire(import.meta.url)("yaml") as YamlLib;
  return lib;
}
