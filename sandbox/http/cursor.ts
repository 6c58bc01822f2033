/**
 * Opaque `page[cursor]` values for keyset pagination. A cursor remembers the last (sort key, id) served, so the next
 * page starts strictly after it even if rows were added or removed meanwhile. It also carries the operation, parent
 * id, sort and filter it was issued for, and a checksum, so a tampered cursor or one reused on another query is
 * refused with a 400 instead of silently serving the wrong rows.
 */
import { createHash } from 'node:crypto';
import type { SortKey } from '../account/types';
import { invalid } from './errors';

export interface CursorState {
  operationId: string;
  /** the list or segment id of a membership listing */
  parentId: string | null;
  /** the effective sort, e.g. `-updated`; null for the default order (by id) */
  sort: string | null;
  /** the filter text exactly as received ('' for none) */
  filter: string;
  key: SortKey;
  id: string;
}

const VERSION = 1;
// A fixed salt, not a secret: the checksum detects edits and typos, it does not authenticate anyone.
const SALT = 'klaviyo-sync-sandbox-cursor';
const MAX_LENGTH = 4096;

function checksum(payload: string): string {
  return createHash('sha256').update(SALT).update(payload).digest('base64url').slice(0, 12);
}

function filterDigest(filter: string): string {
  return createHash('sha256').update(filter).digest('base64url').slice(0, 16);
}

export function encodeCursor(state: CursorState): string {
  const payload = Buffer.from(
    JSON.stringify([VERSION, state.operationId, state.parentId, state.sort, filterDigest(state.filter), state.key, state.id]),
  ).toString('base64url');
  return payload + checksum(payload);
}

const BAD = 'page[cursor]';
const FOLLOW = 'Follow links.next exactly as returned, or leave page[cursor] out to start from the first page.';

/** The position a cursor resumes after, once it is known to belong to this very query. */
export function decodeCursor(text: string, expected: Omit<CursorState, 'key' | 'id'>): { key: SortKey; id: string } {
  if (text.length < 13 || text.length > MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw invalid(BAD, `The page[cursor] value is not a cursor this server issued. ${FOLLOW}`);
  }
  const payload = text.slice(0, -12);
  if (checksum(payload) !== text.slice(-12)) throw invalid(BAD, `The page[cursor] value is corrupted (checksum mismatch). ${FOLLOW}`);
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid(BAD, `The page[cursor] value is corrupted. ${FOLLOW}`);
  }
  if (!Array.isArray(parts) || parts.length !== 7 || parts[0] !== VERSION)
    throw invalid(BAD, `The page[cursor] value is from an unknown cursor version. ${FOLLOW}`);
  const [, operationId, parentId, sort, digest, key, id] = parts as [number, string, string | null, string | null, string, SortKey, string];
  if (operationId !== expected.operationId || parentId !== expected.parentId) {
    throw invalid(
      BAD,
      `The page[cursor] value was issued for another endpoint (${operationId}${parentId ? ` of ${parentId}` : ''}). ${FOLLOW}`,
    );
  }
  if (sort !== expected.sort) {
    throw invalid(BAD, `The page[cursor] value was issued for sort ${sort ?? '(default)'}, not ${expected.sort ?? '(default)'}. ${FOLLOW}`);
  }
  if (digest !== filterDigest(expected.filter)) throw invalid(BAD, `The page[cursor] value was issued for a different filter. ${FOLLOW}`);
  if (typeof id !== 'string' || (key !== null && !['string', 'number', 'boolean'].includes(typeof key))) {
    throw invalid(BAD, `The page[cursor] value is corrupted. ${FOLLOW}`);
  }
  return { key, id };
}
