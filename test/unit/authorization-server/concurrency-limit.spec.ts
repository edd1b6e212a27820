/**
 * ConcurrencyLimit: at most `max` calls in flight, the others wait in order until their deadline; a call that cannot
 * start in time never starts.
 */
import { afterEach, jest } from '@jest/globals';
import { ConcurrencyLimit } from '../../../src/authorization-server/concurrency-limit.js';

class Expired extends Error {}
const expired = (): Error => new Expired('expired');

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('ConcurrencyLimit', () => {
  it('runs up to max calls at once; the next waits for a free place, in arrival order', async () => {
    const limit = new ConcurrencyLimit(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      limit.run(
        async () => {
          started.push(i);
          await gate.promise;
          return i;
        },
        Date.now() + 10_000,
        expired,
      ),
    );
    expect(started).toEqual([0, 1]);
    expect(limit.inFlight).toBe(2);
    expect(limit.queued).toBe(2);
    gates[1]!.resolve();
    await runs[1];
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    gates[2]!.resolve();
    gates[3]!.resolve();
    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2, 3]);
    expect(limit.inFlight).toBe(0);
  });

  it('a waiter whose deadline passes is rejected and never started, even when a place frees later', async () => {
    jest.useFakeTimers();
    const limit = new ConcurrencyLimit(1);
    const gate = deferred();
    const first = limit.run(() => gate.promise, Date.now() + 10_000, expired);
    const task = jest.fn(async () => 'late');
    const second = limit.run(task, Date.now() + 100, expired);
    jest.advanceTimersByTime(100);
    await expect(second).rejects.toBeInstanceOf(Expired);
    expect(limit.queued).toBe(0);
    gate.resolve();
    await first;
    expect(task).not.toHaveBeenCalled();
  });

  it('a waiter with less than minimumMs left when a place frees is rejected, and the place goes to the next one', async () => {
    jest.useFakeTimers();
    const limit = new ConcurrencyLimit(1, 50);
    const gate = deferred();
    const first = limit.run(() => gate.promise, Date.now() + 10_000, expired);
    const short = jest.fn(async () => 'short');
    const long = jest.fn(async () => 'long');
    const shortRun = limit.run(short, Date.now() + 80, expired);
    const longRun = limit.run(long, Date.now() + 10_000, expired);
    jest.advanceTimersByTime(40);
    gate.resolve();
    await first;
    await expect(shortRun).rejects.toBeInstanceOf(Expired);
    await expect(longRun).resolves.toBe('long');
    expect(short).not.toHaveBeenCalled();
  });

  it('a call that arrives with less than minimumMs before its deadline and no free place is rejected at once', async () => {
    const limit = new ConcurrencyLimit(1, 50);
    const gate = deferred();
    void limit.run(() => gate.promise, Date.now() + 10_000, expired);
    await expect(limit.run(async () => 1, Date.now() + 10, expired)).rejects.toBeInstanceOf(Expired);
    expect(limit.queued).toBe(0);
    gate.resolve();
  });

  it('a task that throws synchronously frees its place', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(
      limit.run(
        () => {
          throw new Error('boom');
        },
        Date.now() + 1000,
        expired,
      ),
    ).rejects.toThrow('boom');
    expect(limit.inFlight).toBe(0);
    await expect(limit.run(async () => 'ok', Date.now() + 1000, expired)).resolves.toBe('ok');
  });
});
