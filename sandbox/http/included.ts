/**
 * The `included` member of compound documents. Included resources come from `account.lookup`; campaign messages,
 * flow actions and attributions, which the synthetic account names in relationships but does not model, are derived from the id and
 * the row that links to them as minimal resources valid under the spec's schema, so `include=` returns what the
 * relationship data points at.
 */
import type { Account, Row } from '../account/types';
import type { EventAttribution } from '../account/events';
import { campaignMessageRow } from '../account/campaigns';
import type { Operation } from './operations';
import { identifiers } from './documents';

/** A small deterministic number from an id, to vary synthesized values without randomness. */
function hashOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function timeAttr(row: Row, ...names: string[]): string | null {
  for (const n of names) if (typeof row.attributes[n] === 'string') return row.attributes[n] as string;
  return null;
}

/** An order's attribution, from what the event row keeps of it: no attributes, its links in relationships. */
function attribution(id: string, owner: Row): Row | undefined {
  const a = (owner.hidden?.attributions as EventAttribution[] | undefined)?.find((x) => x.id === id);
  if (!a) return undefined;
  return {
    type: 'attribution',
    id,
    attributes: {},
    relationships: {
      event: { type: 'event', id: owner.id },
      campaign: { type: 'campaign', id: a.campaignId },
      'campaign-message': { type: 'campaign-message', id: a.campaignMessageId },
    },
  };
}

/**
 * The relationships an included resource is written with, by type: an attribution is nothing but its links (the
 * spec's AttributionResponseObjectResource); the other included types are written without relationships.
 */
export const INCLUDED_RELATIONSHIPS: Readonly<Record<string, Operation['relationships']>> = {
  attribution: {
    event: { kind: 'one', type: 'event' },
    campaign: { kind: 'one', type: 'campaign' },
    'campaign-message': { kind: 'one', type: 'campaign-message' },
  },
};

function synthesize(type: string, id: string, owner: Row): Row | undefined {
  if (type === 'campaign-message') return campaignMessageRow(id, owner);
  if (type === 'attribution') return attribution(id, owner);
  if (type !== 'flow-action') return undefined;
  const created = timeAttr(owner, 'created') ?? timeAttr(owner, 'updated');
  return {
    type,
    id,
    attributes: {
      action_type: ['SEND_EMAIL', 'TIME_DELAY', 'SEND_SMS', 'CONDITIONAL_SPLIT'][hashOf(id) % 4],
      status: typeof owner.attributes.status === 'string' ? owner.attributes.status : 'live',
      created,
      updated: timeAttr(owner, 'updated') ?? created,
      settings: {},
    },
  };
}

/** The included resources for `rows` under the requested relationships, each once, in first-seen order. */
export function includedFor(rows: readonly Row[], include: ReadonlySet<string>, account: Account): Row[] {
  const out: Row[] = [];
  if (include.size === 0) return out;
  const seen = new Set<string>();
  for (const row of rows) {
    for (const name of include) {
      for (const ref of identifiers(row, name)) {
        const key = `${ref.type}\u0000${ref.id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const target = account.lookup(ref.type, ref.id) ?? synthesize(ref.type, ref.id, row);
        if (target) out.push(target);
      }
    }
  }
  return out;
}
