/**
 * API keys and the `revision` header, checked like Klaviyo checks them: `Authorization: Klaviyo-API-Key <key>`,
 * each key with all scopes or a given set, and the revisions Klaviyo still serves.
 */
import { authenticationFailed, invalid, notAuthenticated, permissionDenied, revisionRetired, type ApiError } from './errors';
import { REVISION, type Operation } from './operations';

export interface ApiKey {
  key: string;
  /** null: every scope */
  scopes: readonly string[] | null;
}

const SCOPE = /^[a-z][a-z-]*:(read|write)$/;

/** Parses `KEY` (all scopes) or `KEY=scope1,scope2`. */
export function parseApiKey(spec: string): ApiKey {
  const eq = spec.indexOf('=');
  const key = eq < 0 ? spec : spec.slice(0, eq);
  if (!/^[A-Za-z0-9_-]{2,200}$/.test(key)) {
    throw new Error(`API key '${key.slice(0, 8)}…' must be 2-200 letters, digits, '_' or '-' (e.g. pk_sandbox)`);
  }
  if (eq < 0) return { key, scopes: null };
  const scopes = spec
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim());
  const bad = scopes.find((s) => !SCOPE.test(s));
  if (bad !== undefined)
    throw new Error(`scope '${bad}' of an --api-key is not of the form <resource>:read or <resource>:write (e.g. profiles:read)`);
  return { key, scopes };
}

/** A key for logs and banners: enough to tell keys apart, never the key itself. */
export function maskKey(key: string): string {
  return key.length <= 6 ? '*'.repeat(key.length) : `${key.slice(0, 4)}${'*'.repeat(Math.min(8, key.length - 4))}`;
}

/** The key the request authenticates with, after checking it holds every scope the operation needs. */
export function authenticate(
  header: string | undefined,
  keys: ReadonlyMap<string, ApiKey>,
  operation: Pick<Operation, 'id' | 'scopes'>,
): string {
  const m = /^Klaviyo-API-Key\s+(\S+)\s*$/i.exec(header?.trim() ?? '');
  if (!header?.trim() || !m) throw notAuthenticated();
  const key = keys.get(m[1]);
  if (!key) {
    if (/^[A-Za-z0-9]{6}$/.test(m[1])) {
      throw authenticationFailed(
        'This looks like a public API key (site id); the API needs a private API key (pk_...). Create one under Settings > API keys.',
      );
    }
    throw authenticationFailed('Incorrect authentication credentials: the API key is not known to this account.');
  }
  if (key.scopes) {
    const missing = operation.scopes.filter((s) => !key.scopes!.includes(s));
    if (missing.length > 0) throw permissionDenied(missing, operation.id);
  }
  return key.key;
}

/** Klaviyo's first date-versioned revision: nothing before it was ever served. */
export const FIRST_REVISION = '2022-10-17';
/** Klaviyo serves a revision for two years from its release (one stable, one deprecated), then retires it. */
export const REVISION_SUPPORT_YEARS = 2;

/** The day revision `date` (YYYY-MM-DD) retires. */
export function retirementOf(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() + REVISION_SUPPORT_YEARS);
  return d.toISOString().slice(0, 10);
}

/**
 * The `revision` header: required, `YYYY-MM-DD[.suffix]`. Served with this sandbox's data and shape (those of
 * REVISION): the revisions from FIRST_REVISION to REVISION that `asOf` has not retired, and REVISION itself always
 * (the sandbox never refuses the revision it implements). A retired one is refused with 410, as Klaviyo refuses it;
 * one newer than REVISION with 400, since the sandbox cannot answer in its shape.
 */
export function checkRevision(header: string | string[] | undefined, asOf: Date = new Date()): ApiError | null {
  const value = (Array.isArray(header) ? header.join(',') : header)?.trim();
  if (value === undefined || value === '') {
    return invalid('revision', `The revision header is required; send "revision: ${REVISION}".`);
  }
  const m = /^((\d{4})-(\d{2})-(\d{2}))(\.[a-z]+)?$/.exec(value);
  const valid = m && !Number.isNaN(Date.parse(`${m[1]}T00:00:00Z`)) && new Date(`${m[1]}T00:00:00Z`).getUTCDate() === Number(m[4]);
  if (!valid)
    return invalid(
      'revision',
      `The revision header '${value.slice(0, 40)}' is not a revision (YYYY-MM-DD, optionally with a suffix such as .pre).`,
    );
  const date = m[1];
  if (date === REVISION) return null;
  if (date < FIRST_REVISION)
    return invalid('revision', `There is no revision ${date}: Klaviyo's first is ${FIRST_REVISION}; send "revision: ${REVISION}".`);
  if (date > REVISION)
    return invalid(
      'revision',
      `The revision '${value.slice(0, 40)}' is newer than this sandbox, which implements ${REVISION}; send "revision: ${REVISION}" or older.`,
    );
  const retired = retirementOf(date);
  if (retired <= asOf.toISOString().slice(0, 10))
    return revisionRetired(
      `Revision ${date} was retired on ${retired} (Klaviyo serves a revision for ${REVISION_SUPPORT_YEARS} years); send "revision: ${REVISION}".`,
    );
  return null;
}
