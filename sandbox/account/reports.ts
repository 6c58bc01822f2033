/**
 * The numbers of the reporting API (campaign/flow values and series, segment series), as pure functions of the
 * account's seed, the report's subjects (a campaign message, a flow message, a segment) and the UTC hour.
 *
 * Model: every statistic is a sum of per-hour counts ("atoms"), each drawn from a PRNG seeded by (seed, subject,
 * hour) and, for conversions, the conversion metric too. A values report over a range sums the atoms of its hours; a
 * series report sums them per bucket, so a series' buckets add up exactly to the values report over the same range.
 * Rates are computed from the summed counts (never summed themselves), and Klaviyo's fractional form [0, 1].
 * Nothing here reads the events table: the atoms are as deterministic as the rest of the account, and far cheaper
 * than scanning events on every report; the connector's tests check exactness by calling these same functions
 * (`reportRows`), which is why they are exported rather than hidden behind the HTTP layer.
 *
 * When a subject has numbers: a sent campaign's message for the 24 hours from its send time; a live flow's message
 * from its creation on (a manual or draft flow sends nothing); a segment from its creation on. Nothing after `now`.
 */
import { hash32, rngFor } from './prng';
import type { Account } from './types';

export const HOUR_MS = 3_600_000;

/** PRNG streams of their own (see STREAM in prng.ts, whose numbers stop at 50). */
const REPORT_STREAM = { message: 60, conversion: 61, segment: 62 } as const;

/** Klaviyo's `send_channel` values in reports (the campaigns' `mobile_push` is `push-notification` here). */
const SEND_CHANNEL: Record<string, string> = { email: 'email', sms: 'sms', mobile_push: 'push-notification' };

export type ReportKind = 'campaign' | 'flow' | 'segment';

/** One grouping of a report and the hours (epoch hour numbers, [from, to)) in which it has numbers. */
export interface Subject {
  groupings: Record<string, string>;
  key: number;
  fromHour: number;
  /** exclusive; Infinity for "until now" */
  toHour: number;
}

/** FNV-1a, to turn string ids into PRNG coordinates. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function rowsOf(table: { slots(): number; row(i: number): unknown }): Array<{ id: string; attributes: Record<string, unknown> }> {
  const out = [];
  for (let i = 0; i < table.slots(); i++) {
    const row = table.row(i) as { id: string; attributes: Record<string, unknown> } | undefined;
    if (row) out.push(row);
  }
  return out;
}

const hourOf = (iso: unknown): number => Math.floor(Date.parse(String(iso)) / HOUR_MS);

/** The report's groupings (before any filter), in the account's order. */
export function subjects(account: Account, kind: ReportKind): Subject[] {
  const out: Subject[] = [];
  if (kind === 'campaign') {
    for (let i = 0; i < account.campaigns.slots(); i++) {
      const c = account.campaigns.row(i);
      const sent = c && (c.attributes.status === 'Sent' || c.attributes.status === 'Variations Sent') && c.attributes.send_time;
      if (!c || !sent) continue;
      const channel = SEND_CHANNEL[String(c.hidden?.['messages.channel'])];
      const from = hourOf(c.attributes.send_time);
      for (const m of rowsOf(account.campaignMessages(c.id)!)) {
        const groupings = { send_channel: channel, campaign_id: c.id, campaign_message_id: m.id };
        out.push({ groupings, key: hashString(`c:${m.id}`), fromHour: from, toHour: from + 24 });
      }
    }
  } else if (kind === 'flow') {
    for (const f of rowsOf(account.flows)) {
      if (f.attributes.status !== 'live') continue;
      for (const a of rowsOf(account.flowActions(f.id)!)) {
        for (const m of rowsOf(account.flowMessages(a.id)!)) {
          const groupings = { flow_id: f.id, send_channel: SEND_CHANNEL[String(m.attributes.channel)], flow_message_id: m.id };
          out.push({ groupings, key: hashString(`f:${m.id}`), fromHour: hourOf(m.attributes.created), toHour: Infinity });
        }
      }
    }
  } else {
    for (const s of rowsOf(account.segments)) {
      out.push({ groupings: { segment_id: s.id }, key: hashString(`s:${s.id}`), fromHour: hourOf(s.attributes.created), toHour: Infinity });
    }
  }
  return out;
}

/** The counts a message report sums; conversion_value in cents so that sums stay exact. */
export const MESSAGE_COUNTS = [
  'recipients',
  'delivered',
  'bounced',
  'failed',
  'opens',
  'opens_unique',
  'clicks',
  'clicks_unique',
  'unsubscribes',
  'unsubscribe_uniques',
  'spam_complaints',
  'conversions',
  'conversion_uniques',
  'conversion_value_cents',
] as const;
export type MessageCounts = Record<(typeof MESSAGE_COUNTS)[number], number>;

export function zeroCounts(): MessageCounts {
  return Object.fromEntries(MESSAGE_COUNTS.map((k) => [k, 0])) as MessageCounts;
}

/** Adds one message's atom at `hour` to `into`. A flow message sends in about one hour in eight. */
function addMessageAtom(seed: number, kind: ReportKind, s: Subject, hour: number, metric: number, into: MessageCounts): void {
  if (kind === 'flow' && hash32(seed, REPORT_STREAM.message, s.key, hour) % 8 !== 0) return;
  const r = rngFor(seed, REPORT_STREAM.message, s.key ^ 0x5bd1e995, hour);
  // a share of n, rounded at random so that small hourly counts still add up to the share over many hours; <= n
  const part = (n: number, f: number): number => Math.floor(n * f + r.float());
  const channel = s.groupings.send_channel;
  // a campaign sends most in its first hour, then tails off; a flow sends a handful per hour
  const recipients = kind === 'campaign' ? Math.floor(r.between(20, 400) / (1 + (hour - s.fromHour) * 0.6)) : r.between(1, 12);
  const bounced = channel === 'email' ? part(recipients, 0.02 * r.float()) : 0;
  const failed = channel === 'email' ? 0 : part(recipients, 0.015 * r.float());
  const delivered = recipients - bounced - failed;
  const opensUnique = channel === 'email' ? part(delivered, 0.15 + 0.35 * r.float()) : 0;
  const opens = opensUnique + part(opensUnique, 0.6 * r.float());
  const clicksUnique = part(channel === 'email' ? opensUnique : delivered, 0.03 + 0.2 * r.float());
  const clicks = clicksUnique + part(clicksUnique, 0.5 * r.float());
  const unsubscribeUniques = part(delivered, 0.01 * r.float());
  const unsubscribes = unsubscribeUniques + (unsubscribeUniques > 0 && r.chance(0.1) ? 1 : 0);
  const spam = channel === 'email' ? part(delivered, 0.002 * r.float()) : 0;
  // conversions draw from a stream of their own per metric: another conversion metric, other numbers
  const c = rngFor(seed, REPORT_STREAM.conversion, s.key ^ metric, hour);
  const conversionUniques = Math.floor(clicksUnique * (0.05 + 0.25 * c.float()) + c.float());
  const conversions = conversionUniques + Math.floor(conversionUniques * 0.3 * c.float() + c.float());
  into.recipients += recipients;
  into.delivered += delivered;
  into.bounced += bounced;
  into.failed += failed;
  into.opens += opens;
  into.opens_unique += opensUnique;
  into.clicks += clicks;
  into.clicks_unique += clicksUnique;
  into.unsubscribes += unsubscribes;
  into.unsubscribe_uniques += unsubscribeUniques;
  into.spam_complaints += spam;
  into.conversions += conversions;
  into.conversion_uniques += conversionUniques;
  into.conversion_value_cents += conversions * c.between(1500, 25000);
}

/** A message subject's summed counts over the hours [fromHour, toHour), clipped to its active hours. */
export function messageCounts(
  seed: number,
  kind: ReportKind,
  s: Subject,
  metric: number,
  fromHour: number,
  toHour: number,
  into: MessageCounts = zeroCounts(),
): MessageCounts {
  const to = Math.min(toHour, s.toHour);
  for (let h = Math.max(fromHour, s.fromHour); h < to; h++) addMessageAtom(seed, kind, s, h, metric, into);
  return into;
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);

/** A statistic of the spec's enum from summed counts. */
export function messageStatistic(name: string, c: MessageCounts): number {
  const value = c.conversion_value_cents / 100;
  switch (name) {
    case 'average_order_value':
      return ratio(value, c.conversions);
    case 'bounce_rate':
      return ratio(c.bounced, c.recipients);
    case 'bounced_or_failed':
      return c.bounced + c.failed;
    case 'bounced_or_failed_rate':
      return ratio(c.bounced + c.failed, c.recipients);
    case 'click_rate':
      return ratio(c.clicks_unique, c.delivered);
    case 'click_to_open_rate':
      return ratio(c.clicks_unique, c.opens_unique);
    case 'conversion_rate':
      return ratio(c.conversion_uniques, c.delivered);
    case 'conversion_value':
      return value;
    case 'delivery_rate':
      return ratio(c.delivered, c.recipients);
    case 'failed_rate':
      return ratio(c.failed, c.recipients);
    case 'open_rate':
      return ratio(c.opens_unique, c.delivered);
    case 'revenue_per_recipient':
      return ratio(value, c.delivered);
    case 'spam_complaint_rate':
      return ratio(c.spam_complaints, c.delivered);
    case 'unsubscribe_rate':
      return ratio(c.unsubscribe_uniques, c.delivered);
    default: {
      const n = (c as unknown as Record<string, number>)[name];
      if (n === undefined) throw new Error(`unknown message statistic ${name}`);
      return n;
    }
  }
}

/** A segment's members added and removed in one hour: removals never outnumber additions, so totals never go negative. */
function segmentAtom(seed: number, s: Subject, hour: number): { added: number; removed: number } {
  const h = hash32(seed, REPORT_STREAM.segment, s.key, hour);
  const added = h % 4 === 0 ? (h >>> 2) % 9 : 0;
  const removed = added === 0 ? 0 : ((h >>> 8) % (added + 1)) >> 1;
  return { added, removed };
}

export interface SegmentCounts {
  members_added: number;
  members_removed: number;
  net_members_changed: number;
  /** members at the end of the range */
  total_members: number;
}

/**
 * A segment's changes over each range of `ranges` (consecutive [from, to) hour ranges, ascending) and its size at
 * each range's end (every change since its creation): one walk from the creation, however many ranges.
 */
export function segmentCounts(seed: number, s: Subject, ranges: ReadonlyArray<readonly [number, number]>): SegmentCounts[] {
  let total = 0;
  let h = s.fromHour;
  const out: SegmentCounts[] = [];
  for (const [from, to] of ranges) {
    let added = 0;
    let removed = 0;
    for (; h < to; h++) {
      const a = segmentAtom(seed, s, h);
      total += a.added - a.removed;
      if (h >= from) {
        added += a.added;
        removed += a.removed;
      }
    }
    out.push({ members_added: added, members_removed: removed, net_members_changed: added - removed, total_members: total });
  }
  return out;
}
