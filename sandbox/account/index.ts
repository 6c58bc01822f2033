/**
 * The sandbox's synthetic Klaviyo account: deterministic data for the HTTP layer in sandbox/http/ to serve.
 *
 * Sort keys (`Table.key`): datetime fields are epoch seconds (numbers), so `<` orders them; event `timestamp` is
 * its own value (also epoch seconds); names and emails are strings; `null` (e.g. no suppression) sorts first.
 */
import { SyntheticAccount } from './account';
import type { Account, AccountOptions } from './types';

export { SIZE_PRESETS } from './presets';
export { STREAM_NAMES } from './types';
export type * from './types';

export function createAccount(options: AccountOptions): Account {
  return new SyntheticAccount(options);
}
