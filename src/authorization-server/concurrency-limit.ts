/** Most calls that may wait for a place; past it a call fails at once (memory stays bounded under a flood). */
const MAX_WAITING = 4096;

interface Waiter {
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
  start(): void;
  expire(): void;
}

/**
 * At most `max` calls in flight; the others wait in arrival order until a place frees or their deadline passes. A
 * call whose deadline passes while it waits is never started: its client already has its answer, and an AS that comes
 * back must not receive a burst of requests nobody waits for. Nor is a call started with less than `minimumMs` left:
 * it could not finish, and would only add to the load of an AS that is already slow.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting = new Set<Waiter>();

  constructor(
    private readonly max: number,
    private readonly minimumMs = 0,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Runs `task` once a place is free before `deadline` (epoch ms); else rejects with `expired()` without running it. */
  run<T>(task: () => Promise<T>, deadline: number, expired: () => Error): Promise<T> {
    if (this.active < this.max) return this.start(task);
    if (this.waiting.size >= MAX_WAITING || deadline - Date.now() < this.minimumMs) return Promise.reject(expired());
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        deadline,
        timer: setTimeout(() => {
          this.waiting.delete(waiter);
          reject(expired());
        }, deadline - Date.now()),
        start: () => this.start(task).then(resolve, reject),
        expire: () => reject(expired()),
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

  /** The freed place goes to the oldest waiter that still has time; those that do not are answered at once. */
  private release(): void {
    this.active--;
    for (const waiter of this.waiting) {
      this.waiting.delete(waiter);
      clearTimeout(waiter.timer);
      if (waiter.deadline - Date.now() < this.minimumMs) {
        waiter.expire();
        continue;
      }
      waiter.start();
      return;
    }
  }
}
