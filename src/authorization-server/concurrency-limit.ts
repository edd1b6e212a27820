/** Most calls that may wait for a place; past it a call fails at once (memory stays bounded under a flood). */
const MAX_WAITING = 4096;

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout;
}

/**
 * At most `max` calls in flight; the others wait in arrival order until a place frees or their deadline passes. A
 * call whose deadline passes while it waits is never started: its client already has its answer, and an AS that comes
 * back must not receive a burst of requests nobody waits for.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting = new Set<Waiter>();

  constructor(private readonly max: number) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Runs `task` once a place is free before `deadline` (epoch ms); else rejects with `expired()` without running it. */
  run<T>(task: () => Promise<T>, deadline: number, expired: () => Error): Promise<T> {
    if (this.active < this.max) return this.start(task);
    if (this.waiting.size >= MAX_WAITING || deadline <= Date.now()) return Promise.reject(expired());
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          this.start(task).then(resolve, reject);
        },
        timer: setTimeout(() => {
          this.waiting.delete(waiter);
          reject(expired());
        }, deadline - Date.now()),
      };
      this.waiting.add(waiter);
    });
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    this.active++;
    let promise: Promise<T>;
    try {
      promise = task();
    } catch (error) {
      promise = Promise.reject(error);
    }
    return promise.finally(() => this.release());
  }

  private release(): void {
    this.active--;
    const next = this.waiting.values().next();
    if (next.done) return;
    this.waiting.delete(next.value);
    next.value.start();
  }
}
