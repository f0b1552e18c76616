import type { ValidateOptions } from "./config.ts";

/** What a rule module gets: the options and a way to report a finding at a path in the object. */
export interface RuleContext {
  options: ValidateOptions;
  /** Whether the object's kind is namespaced (false when unknown and not namespaced). */
  namespaced: boolean;
  report(rule: string, message: string, path: (string | number)[], fix?: string): void;
}
