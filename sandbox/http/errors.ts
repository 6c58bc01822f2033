/**
 * JSON:API error answers shaped like Klaviyo's: `{"errors":[{id, status, code, title, detail, source?}]}`. Klaviyo
 * adds the integer `status` to each item (not in the spec's ClientError schema, which allows extra members).
 */
import { randomUUID } from 'node:crypto';

export interface ErrorSource {
  parameter?: string;
  pointer?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly source?: ErrorSource,
    /** extra response headers, e.g. Retry-After on a 429 */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  body(): string {
    const item: Record<string, unknown> = {
      id: randomUUID(),
      status: this.status,
      code: this.code,
      title: this.title,
      detail: this.detail,
    };
    if (this.source) item.source = this.source;
    return JSON.stringify({ errors: [item] });
  }
}

/** A request parameter Klaviyo would reject: 400 `invalid`, naming the parameter in `source.parameter`. */
export function invalid(parameter: string | undefined, detail: string): ApiError {
  return new ApiError(400, 'invalid', 'Invalid input.', detail, parameter === undefined ? undefined : { parameter });
}

/** A revision Klaviyo no longer serves: 410 Gone, as Klaviyo answers retired API versions. */
export function revisionRetired(detail: string): ApiError {
  return new ApiError(410, 'gone', 'Gone.', detail, { parameter: 'revision' });
}

export function notFound(detail: string): ApiError {
  return new ApiError(404, 'not_found', 'Not found.', detail);
}

export function methodNotAllowed(method: string, allow: string, what: string): ApiError {
  return new ApiError(
    405,
    'method_not_allowed',
    'Method not allowed.',
    `Method "${method}" is not allowed on ${what}; use ${allow}.`,
    undefined,
    { allow },
  );
}

export function notAuthenticated(): ApiError {
  return new ApiError(
    401,
    'not_authenticated',
    'Authentication credentials were not provided.',
    'Missing or invalid authorization scheme. Send the header "Authorization: Klaviyo-API-Key <private key>".',
  );
}

export function authenticationFailed(detail = 'Incorrect authentication credentials.'): ApiError {
  return new ApiError(401, 'authentication_failed', 'Incorrect authentication credentials.', detail);
}

export function permissionDenied(missing: string[], operationId: string): ApiError {
  return new ApiError(
    403,
    'permission_denied',
    'You do not have permission to perform this action.',
    `This API key is missing the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that ${operationId} requires.`,
  );
}

export function throttled(retryAfterSeconds: number): ApiError {
  const unit = retryAfterSeconds === 1 ? 'second' : 'seconds';
  return new ApiError(
    429,
    'throttled',
    'Request was throttled.',
    `Request was throttled. Expected available in ${retryAfterSeconds} ${unit}.`,
    { pointer: '/data/' },
    { 'retry-after': String(retryAfterSeconds) },
  );
}

export function serverError(status = 500, detail = 'A server error occurred.'): ApiError {
  return status === 503
    ? new ApiError(503, 'service_unavailable', 'Service unavailable.', detail)
    : new ApiError(status, 'error', 'A server error occurred.', detail);
}

/** The answer to an injected fault: Klaviyo's 429 shape for 429, a ServerError for 5xx, a ClientError otherwise. */
export function injectedFault(status: number): ApiError {
  if (status === 429) return throttled(1);
  const detail = `Injected fault: the sandbox answered ${status} on purpose (see POST /__sandbox/faults).`;
  if (status >= 500) return serverError(status, detail);
  return new ApiError(status, 'injected_fault', 'Injected fault.', detail);
}
