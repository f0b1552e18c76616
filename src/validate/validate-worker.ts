/** Worker thread body for `validateFiles`: validates the YAML texts it is sent, one task at a time. */
import { parentPort, workerData } from "node:worker_threads";
import type { ValidateOptions } from "./config.ts";
import { validateDocuments } from "./validate.ts";
import type { WorkerTask, WorkerReply } from "./parallel.ts";
import { shiftResults } from "./parallel.ts";
import { useSchemaBundleAt } from "./schema-set.ts";

const data = workerData as { options: ValidateOptions; schemaBundleUrl: string };
const options = data.options;
useSchemaBundleAt(data.schemaBundleUrl);

parentPort?.on("message", (task: WorkerTask) => {
  const reply: WorkerReply = { id: task.id, results: [] };
  for (const chunk of task.chunks) {
    reply.results.push(
      ...shiftResults(validateDocuments(chunk.text, options, chunk.file), chunk.docOffset, chunk.lineOffset),
    );
  }
  parentPort?.postMessage(reply);
});
