// Entry point of validation worker threads. Node 20 loads a worker's entry module before the
// parent's `--import tsx` hooks are active in the worker, so register tsx here, then load the
// TypeScript worker body.
import { register } from "tsx/esm/api";

register();
await import("./validate-worker.ts");
