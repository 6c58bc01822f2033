/**
 * Klaviyo resources as a page brings them, for the writer's tests on each database (db.test.ts: Postgres and
 * SQLite; mysql.test.ts: MariaDB), and what those tests leave out of the rows they compare.
 */
import type { KlaviyoResource, Row } from '../../lib/db/columns';

export function profile(id: string, updated: string, extra: Record<string, unknown> = {}): KlaviyoResource {
  return {
    type: 'profile',
    id,
    attributes: {
      email: `${id}@example.com`,
      first_name: id.toUpperCase(),
      created: '2024-01-01T00:00:00+00:00',
      updated,
      location: { city: 'Boston', latitude: 42.36 },
      properties: { plan: 'gold', tags: ['a', 'b'] },
      ...extra,
    },
  };
}

/** an event of metric M1 by profile `P-<id>`, attributed to `X` (a relationship the rows keep only with the option) */
export function event(id: string, datetime: string): KlaviyoResource {
  return {
    type: 'event',
    id,
    attributes: { timestamp: Math.floor(Date.parse(datetime) / 1000), datetime, uuid: `uuid-${id}`, event_properties: { value: 9.5 } },
    relationships: {
      metric: { data: { type: 'metric', id: 'M1' } },
      profile: { data: { type: 'profile', id: `P-${id}` } },
      attributions: { data: [{ type: 'attribution', id: 'X' }] },
    },
  };
}

/** a list or segment member as the membership listing serves it */
export function member(id: string, joined: string): KlaviyoResource {
  return { type: 'profile', id, attributes: { email: `${id}@example.com`, joined_group_at: joined } };
}

export const item = (id: string, price: number): KlaviyoResource => ({
  type: 'catalog-item',
  id,
  attributes: { title: `Item ${id}`, price, published: true, images: [`https://img/${id}.png`] },
});

export const withoutSyncedAt = (rows: Row[]): Row[] => rows.map(({ _synced_at: _ignored, ...rest }) => rest);
export const ids = (rows: Row[]): unknown[] => rows.map((r) => r.id);
