/**
 * Watches the Jobs of a namespace from the test's side (the admin client, not Gantry's) and keeps
 * a tally: every Job ever created, and the most that were unfinished at once. Watch events of one
 * resource arrive in the API server's order, so replaying them gives the exact sequence of states
 * the namespace went through.
 *
 * Two meanings of "unfinished", because the Job controller ends a Job in two steps (Kubernetes
 * ≥ 1.31): first `SuccessCriteriaMet` / `FailureTarget`, then, once its pods are gone and counted,
 * `Complete` / `Failed`.
 * - unfinished: no Complete or Failed condition yet (what `kubectl wait --for=condition=complete`
 *   waits for);
 * - live: its pod may still run: no terminal condition of either step, or pods still active or
 *   terminating.
 */

import { BatchV1Api, Watch, type KubeConfig, type V1Job } from "@kubernetes/client-node";

const hasCondition = (job: V1Job, types: readonly string[]): boolean =>
  (job.status?.conditions ?? []).some((c) => c.status === "True" && types.includes(c.type));

/** Complete or Failed. */
export function jobFinished(job: V1Job): boolean {
  return hasCondition(job, ["Complete", "Failed"]);
}

/** Its pod may still run. */
export function jobLive(job: V1Job): boolean {
  const pods = (job.status?.active ?? 0) + (job.status?.terminating ?? 0);
  return pods > 0 || !hasCondition(job, ["Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"]);
}

/** The Job's true conditions, or its pod counts when it has none: for messages. */
export function describeJob(job: V1Job): string {
  const conditions = (job.status?.conditions ?? []).filter((c) => c.status === "True").map((c) => c.type);
  return `${job.metadata?.name ?? "?"}: ${conditions.join("+") || "no condition"}, active ${job.status?.active ?? 0}, terminating ${job.status?.terminating ?? 0}`;
}

export interface JobTally {
  /** Every Job seen, by name, in its latest form (deleted ones too). */
  readonly jobs: ReadonlyMap<string, V1Job>;
  /** Names of Jobs deleted meanwhile. */
  readonly deleted: ReadonlySet<string>;
  /** Jobs present and not finished, now. */
  unfinished(): number;
  /** The most unfinished (no Complete/Failed) Jobs there were at once, and what they were then. */
  readonly maxUnfinished: number;
  readonly atMaxUnfinished: readonly string[];
  /** The most live Jobs (their pod may still run) there were at once. */
  readonly maxLive: number;
  /** Called with each Job the moment its creation is seen. */
  onAdded: ((job: V1Job) => void) | null;
  /** Times the watch ended by itself and was resumed. */
  reconnects: number;
  /** Set when the watch could not go on (the tally is then incomplete). */
  readonly ended: Error | null;
  stop(): void;
}

export async function tallyJobs(kc: KubeConfig, namespace: string): Promise<JobTally> {
  const jobs = new Map<string, V1Job>();
  const present = new Set<string>();
  const deleted = new Set<string>();
  let maxUnfinished = 0;
  let atMaxUnfinished: string[] = [];
  let maxLive = 0;
  let ended: Error | null = null;
  let stopped = false;
  let resourceVersion = "";
  const current = () => [...present].map((name) => jobs.get(name)).filter((j) => j !== undefined);
  const tally: JobTally = {
    jobs,
    deleted,
    unfinished: () => current().filter((j) => !jobFinished(j)).length,
    get maxUnfinished() {
      return maxUnfinished;
    },
    get atMaxUnfinished() {
      return atMaxUnfinished;
    },
    get maxLive() {
      return maxLive;
    },
    onAdded: null,
    reconnects: 0,
    get ended() {
      return ended;
    },
    stop() {
      stopped = true;
      controller.abort();
    },
  };
  const onEvent = (type: string, object: unknown): void => {
    // The watch hands over parsed JSON of the watched kind.
    const job = object as V1Job;
    resourceVersion = job.metadata?.resourceVersion ?? resourceVersion;
    if (type === "BOOKMARK") return;
    const name = job.metadata?.name;
    if (name === undefined) return;
    if (type === "ADDED" && !jobs.has(name)) tally.onAdded?.(job);
    if (type === "ADDED" || type === "MODIFIED") {
      jobs.set(name, job);
      present.add(name);
    } else if (type === "DELETED") {
      jobs.set(name, job);
      present.delete(name);
      deleted.add(name);
    }
    const now = current();
    const unfinished = now.filter((j) => !jobFinished(j));
    if (unfinished.length > maxUnfinished) {
      maxUnfinished = unfinished.length;
      atMaxUnfinished = unfinished.filter((j) => !jobLive(j)).map(describeJob);
    }
    maxLive = Math.max(maxLive, now.filter(jobLive).length);
  };
  // The namespace's Jobs before the watch, and the resourceVersion to watch from.
  const list = await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace });
  for (const job of list.items) onEvent("ADDED", job);
  resourceVersion = list.metadata?.resourceVersion ?? "";
  let controller: AbortController = new AbortController();
  // A watch that ends (client-node cuts one silent for 30 s) resumes where it stopped, so no event
  // is lost; only a resourceVersion too old to resume from (410) leaves the tally incomplete.
  const watch = async (): Promise<void> => {
    controller = await new Watch(kc).watch(
      `/apis/batch/v1/namespaces/${namespace}/jobs`,
      { resourceVersion, allowWatchBookmarks: true },
      (type, object) => {
        if (type === "ERROR") {
          const status = object as { code?: number; message?: string };
          ended = new Error(`the Job watch of ${namespace} failed: ${status.code} ${status.message}`);
          stopped = true;
          return;
        }
        onEvent(type, object);
      },
      (err: unknown) => {
        if (stopped) return;
        tally.reconnects++;
        if (tally.reconnects > 100) {
          ended = err instanceof Error ? err : new Error(`the Job watch of ${namespace} kept ending`);
          return;
        }
        watch().catch((e: unknown) => {
          ended = e instanceof Error ? e : new Error(String(e));
        });
      },
    );
  };
  await watch();
  return tally;
}
