/**
 * How many of a stream's partitions are worth keeping in flight, learnt from what its page activities report.
 * Activities that wait for rate-limit tokens hold worker slots and do nothing: a stream limited to 700 requests/min
 * (profiles) with 48 activities in flight keeps ~40 of them waiting, and on one worker (64 slots) the events stream
 * beside it then gets half the slots it could use. So each page activity's result says how much of its time it
 * waited for tokens (PagesResult.timing); while the waits are large the stream keeps in flight about what the rate
 * keeps busy, with headroom (Little's law: busy = in flight × the share of time not waiting), and while they are small
 * it grows back to its maximum. Deterministic: it sees only activity results, which replay from history.
 */
import type { PageTiming } from './types';

/** in flight per activity kept busy: waiting about half as long as working keeps the limiter's tokens all taken */
export const FITTED_HEADROOM = 1.5;
/** the fewest in flight, so that a stream coming out of a long wait (a steady window spent) ramps up in a few calls */
export const FITTED_MIN = 4;
/** weight of the newest result in the running share of time not waiting */
const SMOOTHING = 0.2;

export class FittedConcurrency {
  private busyShare = 1;
  private fitted: number;

  constructor(private readonly max: number) {
    this.fitted = max;
  }

  /** the partitions to keep in flight now */
  get limit(): number {
    return this.fitted;
  }

  /** One page activity's result, reported while `inFlight` activities of the stream (this one included) ran. */
  observe(timing: PageTiming | undefined, inFlight: number): void {
    if (!timing || !(timing.activityMs > 0)) return;
    const share = Math.min(1, Math.max(0, (timing.activityMs - timing.waitMs) / timing.activityMs));
    this.busyShare += SMOOTHING * (share - this.busyShare);
    const useful = Math.ceil(inFlight * this.busyShare * FITTED_HEADROOM) + 2;
    // waiting little: room to grow (never shrinks for lack of work); waiting long: down to what the rate keeps busy
    this.fitted =
      this.busyShare * FITTED_HEADROOM >= 1
        ? Math.min(this.max, Math.max(this.fitted, useful))
        : Math.min(this.max, Math.max(FITTED_MIN, useful));
  }
}
