/**
 * Fans the store's run notifications out to in-process watchers (SSE streams), so a thousand open
 * streams share two LISTEN subscriptions instead of holding a connection each.
 */

import type { Store, StoreChannel } from "../store/store.ts";

type Topic = "event" | "logs";
const CHANNELS: Record<Topic, StoreChannel> = { event: "gantry_run_event", logs: "gantry_run_logs" };

export class RunWatcher {
  private readonly watchers: Record<Topic, Map<string, Set<() => void>>> = {
    event: new Map(),
    logs: new Map(),
  };
  private unsubscribes: (() => Promise<void>)[] = [];

  constructor(private readonly store: Store) {}

  async start(): Promise<void> {
    for (const topic of Object.keys(CHANNELS) as Topic[]) {
      this.unsubscribes.push(await this.store.listen(CHANNELS[topic], (runId) => this.notify(topic, runId)));
    }
  }

  /** Calls `fn` whenever `runId` gets a new event (or new log lines); returns the unwatch function. */
  watch(topic: Topic, runId: string, fn: () => void): () => void {
    const byRun = this.watchers[topic];
    let set = byRun.get(runId);
    if (set === undefined) {
      set = new Set();
      byRun.set(runId, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) byRun.delete(runId);
    };
  }

  private notify(topic: Topic, runId: string): void {
    for (const fn of this.watchers[topic].get(runId) ?? []) fn();
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) await unsubscribe().catch(() => undefined);
  }
}
