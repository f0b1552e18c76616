/**
 * Hands out one host uid per running attempt from a dedicated range, so RLIMIT_NPROC (counted per
 * uid) and `kill -1` (everything of one uid) apply to exactly one attempt. Round-robin, so a uid
 * just released is not reused at once.
 */
export class UidPool {
  private readonly inUse = new Set<number>();
  private readonly blocked = new Set<number>();
  private next: number;

  constructor(
    readonly first: number,
    readonly last: number,
  ) {
    if (
      !Number.isInteger(first) ||
      !Number.isInteger(last) ||
      first < 1 ||
      last < first ||
      last > 0x7fffffff
    ) {
      throw new RangeError(`invalid uid range ${first}-${last}`);
    }
    this.next = first;
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  /** A free uid, or null when every uid of the range is taken. */
  acquire(): number | null {
    for (let i = 0; i < this.size; i++) {
      const uid = this.next;
      this.next = uid === this.last ? this.first : uid + 1;
      if (!this.inUse.has(uid) && !this.blocked.has(uid)) {
        this.inUse.add(uid);
        return uid;
      }
    }
    return null;
  }

  release(uid: number): void {
    this.inUse.delete(uid);
  }

  /** Never hand out this uid (e.g. processes of it were found running at start-up). */
  block(uid: number): void {
    this.blocked.add(uid);
  }

  unblock(uid: number): void {
    this.blocked.delete(uid);
  }

  contains(uid: number): boolean {
    return uid >= this.first && uid <= this.last;
  }
}
