/**
 * The one classification of klaviyo-sync's failures, after dust-tt/dust's connectors: code throws typed errors
 * (or lets drivers throw theirs), and one mapper (worker/failures.ts, at the activity boundary) turns any of them into
 * the Temporal failure that decides retries. No Temporal here: the worker's activity interceptor applies the mapper to
 * every activity; the CLI's pre-checks use the same classification with the same numbers (`withRetries`,
 * lib/retry-policy.ts).
 *
 * - user-fixable: retrying cannot help; a person must change the key, a connection, the config or the database.
 *   Fails at once, with a message that names the fix.
 * - protocol: Klaviyo (or whatever answers at the base URL) returned something we cannot use: fails at once,
 *   naming what came back.
 * - rate-limited: Klaviyo's 429; the next attempt waits `Retry-After`.
 * - transient: 5xx, network, database connection trouble; backs off exponentially.
 *
 * Messages never contain secrets: errors are built from scrubbed text only.
 */
import { nextRetrySeconds, RETRY_POLICY, type FailureKind } from './retry-policy';
import { classifyDatabaseError } from './db/errors';

export type { FailureKind } from './retry-policy';

export interface SyncErrorOptions {
  /** the failure type Temporal shows and `nonRetryableErrorTypes` matches, e.g. `KlaviyoAuthError` */
  type: string;
  /** facts for code that handles failures without parsing messages (Temporal's `details[0]`) */
  details?: object;
  /** already scrubbed of secrets */
  cause?: Error;
}

export abstract class SyncError extends Error {
  abstract readonly kind: FailureKind;
  readonly type: string;
  readonly details?: object;

  constructor(message: string, options: SyncErrorOptions) {
    super(message, options.cause ? { cause: options.cause } : undefined);
    this.type = options.type;
    // the type as the name too, so even a SyncError that escaped the mapper keeps its type in Temporal
    this.name = options.type;
    this.details = options.details;
  }

  get nonRetryable(): boolean {
    return this.kind === 'user-fixable' || this.kind === 'protocol';
  }
}

/** Retrying cannot help: a person must change something, and the message says what. */
export class UserFixableError extends SyncError {
  readonly kind = 'user-fixable';
}

/** An answer we cannot use (not JSON, an id that is not a string, a paging loop): fails at once, naming it. */
export class ProtocolError extends SyncError {
  readonly kind = 'protocol';
}

/** Worth another attempt after a backoff: 5xx, network trouble, a busy or restarting database. */
export class TransientError extends SyncError {
  readonly kind = 'transient';
}

/**
 * Klaviyo throttled us: the next attempt waits `retryAfterSeconds`, or, when the answer stated no wait, backs off
 * as a transient failure does.
 */
export class RateLimitedError extends SyncError {
  readonly kind = 'rate-limited';
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, retryAfterSeconds: number | undefined, options: SyncErrorOptions) {
    super(message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** What the mapper may name in messages: the connections the activity was given (names only, never secrets). */
export interface FailureContext {
  /** the database connection name (the replication's `target:`) */
  database?: string;
  /** the Klaviyo connection name (`source:`) */
  klaviyo?: string;
}

/** Errors of our own modules that retrying cannot fix, recognised by name to keep this module free of cycles. */
const USER_FIXABLE_NAMES = new Set(['ConfigError', 'ConnectionError', 'IdentifierError', 'RunStateError']);

/**
 * The class of any error, or undefined for one nothing here knows (left to Temporal's retry policy: retried, up to
 * the attempts of its activity).
 */
export function classify(err: unknown, ctx: FailureContext = {}): SyncError | undefined {
  if (err instanceof SyncError) return err;
  if (err instanceof Error && USER_FIXABLE_NAMES.has(err.name)) {
    return new UserFixableError(err.message, { type: err.name });
  }
  return classifyDatabaseError(err, ctx);
}

export interface RetryOptions {
  /** attempts, the first included (default: RETRY_POLICY.checkAttempts) */
  attempts?: number;
  /** told before each wait, e.g. to print "retrying in 2 s" */
  onRetry?: (err: SyncError, seconds: number, attempt: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` with the one policy, in process (for the CLI, where no Temporal retries it): rate-limited failures
 * wait `Retry-After`, transient ones back off, anything else is thrown at once.
 */
export async function withRetries<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? RETRY_POLICY.checkAttempts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = classify(err);
      const seconds = e
        ? nextRetrySeconds(e.kind, attempt, attempts, e instanceof RateLimitedError ? e.retryAfterSeconds : undefined)
        : null;
      if (!e || seconds === null) throw err;
      opts.onRetry?.(e, seconds, attempt);
      await (opts.sleep ?? realSleep)(seconds * 1000);
    }
  }
}
