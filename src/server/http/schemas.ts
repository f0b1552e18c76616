/**
 * JSON schemas of the `/v1` API (validated by Fastify, published at /docs) and the functions that
 * shape stored records into API responses.
 */

import { LLM_DRAFT_CAPS } from "../../core/llm-review.ts";
import { RUN_STATES } from "../../core/run-state.ts";
import type { SpecView } from "../../core/submission-spec.ts";
import type { LogLine, Run, RunEvent, Workload } from "../../core/workload.ts";

const limitsProperties = {
  cpuSeconds: { type: "integer", minimum: 1, description: "CPU time, seconds" },
  wallSeconds: { type: "integer", minimum: 1, description: "wall-clock time, seconds" },
  memoryMB: { type: "integer", minimum: 1, description: "memory, MiB" },
  processes: { type: "integer", minimum: 1, description: "processes and threads at once" },
  outputBytes: { type: "integer", minimum: 1, description: "stdout+stderr bytes kept" },
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else is refused before it reaches the store. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export const uuidParam = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", maxLength: 64 } },
} as const;

const jobRunBody = {
  type: "object",
  additionalProperties: false,
  required: ["command"],
  properties: {
    kind: { type: "string", enum: ["job"], default: "job" },
    command: {
      type: "array",
      minItems: 1,
      maxItems: 1024,
      items: { type: "string", maxLength: 131072 },
      description: "argv; command[0] is looked up on PATH",
    },
    env: {
      type: "object",
      maxProperties: 256,
      additionalProperties: { type: "string", maxLength: 131072 },
    },
    files: {
      type: "array",
      maxItems: 100,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["path", "content"],
        properties: {
          path: { type: "string", minLength: 1, maxLength: 255 },
          content: { type: "string" },
          encoding: { type: "string", enum: ["utf8", "base64"] },
          executable: { type: "boolean" },
        },
      },
    },
    image: { type: "string", minLength: 1, maxLength: 512 },
    limits: { type: "object", additionalProperties: false, properties: limitsProperties },
    priority: { type: "integer", minimum: -1000, maximum: 1000, default: 0 },
    maxAttempts: { type: "integer", minimum: 1, maximum: 10, default: 1 },
  },
} as const;

const sourceFile = {
  type: "object",
  additionalProperties: false,
  required: ["path", "content"],
  properties: {
    path: { type: "string", minLength: 1, maxLength: 255 },
    content: { type: "string" },
  },
} as const;

/** Kind `submission` (src/core/submission-spec.ts holds the caps and the meaning of each field). */
const submissionRunBody = {
  type: "object",
  additionalProperties: false,
  required: ["kind", "language", "files", "cases"],
  properties: {
    kind: { type: "string", enum: ["submission"] },
    language: {
      type: "string",
      minLength: 1,
      maxLength: 40,
      description: "python, javascript, c, cpp, java, …",
    },
    files: {
      type: "array",
      minItems: 1,
      maxItems: 50,
      items: sourceFile,
      description: "source files; the first is the entry point",
    },
    cases: {
      type: "array",
      minItems: 1,
      maxItems: 200,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["expectedStdout"],
        properties: {
          name: { type: "string", minLength: 1, maxLength: 100 },
          stdin: { type: "string" },
          expectedStdout: { type: "string" },
          timeLimitMs: { type: "integer", minimum: 1, description: "CPU time, ms (default 2000)" },
          memoryMB: { type: "integer", minimum: 1, description: "peak memory, MiB (default 256)" },
          weight: { type: "number", minimum: 0, description: "default 1" },
          hidden: {
            type: "boolean",
            description:
              "feedback never quotes its expected output (inputs and outputs are admin-only anyway)",
          },
        },
      },
    },
    compare: {
      type: "object",
      additionalProperties: false,
      required: ["mode"],
      properties: {
        mode: { type: "string", enum: ["exact", "trailing_whitespace", "tokens", "numeric", "checker"] },
        tolerance: { type: "number", minimum: 0 },
        files: { type: "array", maxItems: 20, items: sourceFile },
        command: { type: "array", minItems: 1, maxItems: 64, items: { type: "string", maxLength: 4096 } },
      },
    },
    caseOutputBytes: { type: "integer", minimum: 1, description: "stdout+stderr per case (default 1 MiB)" },
    limits: { type: "object", additionalProperties: false, properties: limitsProperties },
    image: { type: "string", minLength: 1, maxLength: 512 },
    llmReview: {
      oneOf: [
        { type: "boolean" },
        {
          type: "object",
          additionalProperties: false,
          properties: { instructions: { type: "string", maxLength: 20000 } },
        },
      ],
    },
    priority: { type: "integer", minimum: -1000, maximum: 1000, default: 0 },
    maxAttempts: { type: "integer", minimum: 1, maximum: 10, default: 1 },
  },
} as const;

/** A job (the default kind) or a submission, told apart by `kind`. */
export const createRunBody = {
  type: "object",
  if: { type: "object", required: ["kind"], properties: { kind: { const: "submission" } } },
  then: submissionRunBody,
  else: jobRunBody,
} as const;

export const listRunsQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    state: { type: "string", maxLength: 200, description: `comma-separated: ${RUN_STATES.join(", ")}` },
    owner: { type: "string", maxLength: 200 },
    cursor: { type: "string", maxLength: 200 },
    limit: { type: "string", pattern: "^[0-9]{1,3}$", description: "1-500, default 50" },
  },
} as const;

export const logsQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    follow: { type: "string", enum: ["true", "false", "1", "0"] },
    after: { type: "string", pattern: "^[0-9]{1,15}$", description: "only lines with seq > after" },
    tail: { type: "string", pattern: "^[0-9]{1,6}$", description: "only the last N lines" },
    limit: { type: "string", pattern: "^[0-9]{1,5}$", description: "at most N lines (1-10000)" },
  },
} as const;

export const eventsQuery = {
  type: "object",
  additionalProperties: false,
  properties: { after: { type: "string", pattern: "^[0-9]{1,15}$" } },
} as const;

export const resultBody = {
  type: "object",
  additionalProperties: false,
  required: ["status"],
  properties: {
    status: { type: "string", minLength: 1, maxLength: 64 },
    score: { type: ["number", "null"] },
    failTags: { type: "array", maxItems: 256, items: { type: "string", maxLength: 256 } },
    feedback: {
      type: "array",
      maxItems: 1000,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["case", "message"],
        properties: {
          case: { type: "string", maxLength: 256 },
          message: { type: "string", maxLength: 65536 },
        },
      },
    },
    metrics: { type: "object", maxProperties: 256, additionalProperties: { type: "number" } },
    artifacts: { type: "object", maxProperties: 256 },
  },
} as const;

const caps = LLM_DRAFT_CAPS;

/** The runner's draft result sent for an LLM review (`ReviewDraft` in src/core/llm-review.ts). */
export const llmReviewDraftBody = {
  type: "object",
  additionalProperties: false,
  required: ["status", "score", "failTags", "feedback", "metrics"],
  properties: {
    status: { type: "string", minLength: 1, maxLength: 64 },
    score: { type: ["number", "null"] },
    failTags: {
      type: "array",
      maxItems: caps.failTags,
      items: { type: "string", maxLength: caps.tagChars },
    },
    feedback: {
      type: "array",
      maxItems: caps.feedback,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["case", "message"],
        properties: {
          case: { type: "string", maxLength: caps.caseChars },
          message: { type: "string", maxLength: caps.messageChars },
        },
      },
    },
    metrics: {
      type: "object",
      maxProperties: caps.metrics,
      propertyNames: { maxLength: 64 },
      additionalProperties: { type: "number" },
    },
    cases: {
      type: "array",
      maxItems: caps.cases,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "verdict"],
        properties: {
          name: { type: "string", maxLength: caps.caseNameChars },
          verdict: { type: "string", maxLength: caps.verdictChars },
        },
      },
    },
  },
} as const;

export const createTokenBody = {
  type: "object",
  additionalProperties: false,
  required: ["name", "role"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 100 },
    role: { type: "string", enum: ["admin", "submitter", "viewer"] },
    owner: { type: "string", minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9._@-]+$" },
  },
} as const;

export function runView(
  run: Run,
  workload?: (Omit<Workload, "spec"> & { spec: SpecView }) | null,
): Record<string, unknown> {
  return {
    id: run.id,
    kind: run.kind,
    owner: run.owner,
    state: run.state,
    reason: run.reason,
    exitCode: run.exitCode,
    attempt: run.attempt,
    maxAttempts: run.maxAttempts,
    priority: run.priority,
    executor: run.executor,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
    ...(workload ? { spec: workload.spec } : {}),
  };
}

export function eventView(event: RunEvent): Record<string, unknown> {
  return {
    seq: event.seq,
    attempt: event.attempt,
    from: event.from,
    to: event.to,
    reason: event.reason,
    at: event.at.toISOString(),
  };
}

export function logView(line: LogLine): Record<string, unknown> {
  return {
    seq: line.seq,
    attempt: line.attempt,
    stream: line.stream,
    at: line.at.toISOString(),
    text: line.text,
  };
}
