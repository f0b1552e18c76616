export {
  LocalExecutor,
  type LocalExecutorOptions,
  type LocalExecutorLogger,
  type Enforcement,
} from "./local-executor.ts";
export { mapOutcome, type AttemptObservation, type Outcome, type KillCause } from "./outcome.ts";
