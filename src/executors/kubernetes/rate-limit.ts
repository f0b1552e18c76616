/**
 * Client-side rate limit of the executor's API requests, as client-go's QPS/burst: a token bucket
 * holding up to `burst` tokens, refilled at `qps` per second; each request takes one, waiting for
 * it when the bucket is empty. Watches and followed logs are long-lived and take one at their start.
 */

export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(qps > 0)) throw new RangeError("qps must be > 0");
    if (!(burst >= 1)) throw new RangeError("burst must be >= 1");
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when a token is available (takers are served in order). */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.wait());
    this.queue = turn;
    return turn;
  }

  private async wait(): Promise<void> {
    for (;;) {
      const now = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const ms = Math.ceil(((1 - this.tokens) / this.qps) * 1000);
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
}
