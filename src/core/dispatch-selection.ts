/**
 * Which queued runs a dispatcher may claim right now. Pure: the store hands it the candidates
 * (queued, due, already in priority-then-FIFO order) and the counts of active runs it read under
 * its claim lock; this function alone decides, so the caps are one rule in one place.
 */

export interface ClaimCandidate {
  owner: string;
}

export interface SelectionLimits {
  /** Most runs to pick in this call. */
  batch: number;
  /** Cap on active runs (dispatching/pending/running) across all owners. */
  maxActive: number;
  /** Cap on active runs per owner. */
  maxActivePerOwner: number;
}

/**
 * Walks the candidates in the order given and takes each one whose owner is under its cap, until
 * the batch is full or the global cap is reached. A candidate skipped for its owner's cap does not
 * block later candidates of other owners, so one busy owner cannot starve the rest.
 */
export function selectRunsToClaim<C extends ClaimCandidate>(
  candidates: readonly C[],
  activeTotal: number,
  activeByOwner: ReadonlyMap<string, number>,
  limits: SelectionLimits,
): C[] {
  const room = Math.floor(Math.min(limits.batch, limits.maxActive - activeTotal));
  if (!(room > 0)) return [];
  const perOwner = new Map(activeByOwner);
  const picked: C[] = [];
  for (const candidate of candidates) {
    if (picked.length >= room) break;
    const active = perOwner.get(candidate.owner) ?? 0;
    if (active >= limits.maxActivePerOwner) continue;
    perOwner.set(candidate.owner, active + 1);
    picked.push(candidate);
  }
  return picked;
}
