import type { Source } from './collection';
import { ulid } from './ids';
import { sortKey, type SortKeys } from './overlay';
import { Rng, STREAM, rngFor } from './prng';
import type { TagModel } from './tags';
import { DAY, HISTORY_DAYS, HOUR, between, isoDate, isoSeconds } from './time';
import type { Row, SortKey } from './types';
import { CAMPAIGN_THEMES, MONTHS } from './vocabulary';

export const CHANNELS = ['email', 'sms', 'mobile_push'] as const;
export type Channel = (typeof CHANNELS)[number];
const CAMPAIGN_SORT_FIELDS = ['created_at', 'name', 'scheduled_at', 'updated_at'] as const;

/** The timeline and status of one campaign: everything its sort keys need. */
interface Plan {
  channel: Channel;
  name: string;
  status: string;
  archived: boolean;
  created: number;
  scheduled: number | null;
  send: number | null;
  updated: number;
  strategy: Record<string, unknown>;
}

/** What events quote about the campaign a message came from. */
export interface CampaignInfo {
  name: string;
  subject: string;
  messageId: string;
}

/**
 * Campaigns of the three channels: slots [0, n) are email, [n, 2n) sms, [2n, 3n) mobile push. Each channel's
 * campaigns are spread over the history in slot order; recent ones are more often drafts or scheduled.
 */
export class CampaignModel implements Source {
  readonly keyFields = CAMPAIGN_SORT_FIELDS;
  private readonly start: number;
  private readonly end: number;
  private readonly anchor: number;

  constructor(
    private readonly seed: number,
    private readonly perChannel: number,
    anchorSec: number,
    /** Lists and segments a campaign can be sent to. */
    private readonly groupIds: readonly string[],
    private readonly tags: TagModel,
  ) {
    this.anchor = anchorSec;
    this.end = anchorSec - 1;
    this.start = anchorSec - HISTORY_DAYS * DAY;
  }

  slots(): number {
    return this.perChannel * CHANNELS.length;
  }

  channel(i: number): Channel {
    return CHANNELS[Math.floor(i / this.perChannel)];
  }

  /** Slot of the k-th campaign of a channel. */
  slotIn(channel: Channel, k: number): number {
    return CHANNELS.indexOf(channel) * this.perChannel + k;
  }

  private ids(i: number): { id: string; messages: string[] } {
    const r = rngFor(this.seed, STREAM.campaignId, i);
    const plan = this.plan(i);
    const ms = plan.created * 1000 + r.int(1000);
    const id = ulid(ms, r);
    const messages = [ulid(ms + 1, r)];
    if (plan.strategy.method === 'ab_test_campaign') messages.push(ulid(ms + 2, r));
    return { id, messages };
  }

  id(i: number): string {
    return this.ids(i).id;
  }

  info(i: number): CampaignInfo {
    const plan = this.plan(i);
    const theme = plan.name.replace(/^(SMS|Push): /, '');
    return {
      name: plan.name,
      subject: `${theme}: ${plan.channel === 'email' ? 'picked for you' : 'tap to shop'}`,
      messageId: this.ids(i).messages[0],
    };
  }

  private static readonly KEYS: SortKeys<CampaignModel> = {
    created_at: (m, i) => m.plan(i).created,
    updated_at: (m, i) => m.plan(i).updated,
    scheduled_at: (m, i) => m.plan(i).scheduled,
    name: (m, i) => m.plan(i).name,
  };

  key(i: number, field: string): SortKey {
    return sortKey('campaigns', CampaignModel.KEYS, this, i, field);
  }

  private plan(i: number): Plan {
    const r = rngFor(this.seed, STREAM.campaign, i);
    const channel = this.channel(i);
    const k = i % this.perChannel;
    const created = this.start + Math.floor(((this.end - 2 * DAY - this.start) * (k + r.float())) / this.perChannel);
    const recent = this.end - created < 14 * DAY;
    const status = this.status(r, channel, recent);
    const date = new Date(created * 1000);
    const theme = r.pick(CAMPAIGN_THEMES);
    const label = `${theme} – ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
    const name = channel === 'email' ? label : `${channel === 'sms' ? 'SMS' : 'Push'}: ${label}`;
    let scheduled: number | null = null;
    let send: number | null = null;
    if (status === 'Scheduled') {
      scheduled = between(created, this.end, r.float());
      send = this.anchor + r.between(1, 10) * DAY + r.int(24) * HOUR;
    } else if (status !== 'Draft') {
      send = Math.min(created + r.between(2, 120) * HOUR, this.end);
      scheduled = between(created, send, r.float());
    }
    const updated =
      send !== null && send <= this.end
        ? between(send, Math.min(send + 6 * HOUR, this.end), r.float())
        : between(scheduled ?? created, this.end, r.float());
    const archived = (status === 'Sent' || status === 'Draft' || status.startsWith('Cancelled')) && r.chance(0.15);
    return {
      channel,
      name,
      status,
      archived,
      created,
      scheduled,
      send,
      updated,
      strategy: this.strategy(r, channel, status, created, send),
    };
  }

  private status(r: Rng, channel: Channel, recent: boolean): string {
    const x = r.float();
    if (recent) return x < 0.35 ? 'Draft' : x < 0.65 ? 'Scheduled' : x < 0.7 ? 'Sending' : 'Sent';
    if (x < 0.75) return 'Sent';
    if (x < 0.83) return 'Draft';
    if (x < 0.88) return channel === 'email' ? 'Variations Sent' : 'Sent';
    if (x < 0.92) return 'Cancelled';
    if (x < 0.95) return 'Cancelled: No Recipients';
    if (x < 0.97) return 'Cancelled: Smart Sending';
    return 'Sent';
  }

  private strategy(r: Rng, channel: Channel, status: string, created: number, send: number | null): Record<string, unknown> {
    if (status === 'Variations Sent') return { method: 'ab_test_campaign' };
    const at = isoSeconds(send ?? created + 3 * DAY);
    const x = r.float();
    if (status === 'Draft') return x < 0.7 ? { method: 'static', datetime: at, options: null } : { method: 'immediate' };
    if (channel === 'email' && x < 0.1) return { method: 'smart_send_time', date: isoDate(send ?? created) };
    if (channel === 'email' && x < 0.2) return { method: 'throttled', datetime: at, throttle_percentage: r.pick([10, 20, 25, 33, 50]) };
    if (x < 0.35) return { method: 'immediate' };
    const local = r.chance(0.3);
    return {
      method: 'static',
      datetime: at,
      options: local ? { is_local: true, send_past_recipients_immediately: r.chance(0.5) } : { is_local: false },
    };
  }

  row(i: number): Row {
    const plan = this.plan(i);
    const { id, messages } = this.ids(i);
    const r = rngFor(this.seed, STREAM.campaign, i, 1);
    const groups = this.groupIds;
    const included = r.sample(groups, r.between(1, 2));
    const excluded = r.chance(0.4) ? r.sample(groups, 1).filter((g) => !included.includes(g)) : [];
    let tracking: Record<string, unknown> | null = null;
    if (plan.channel !== 'mobile_push') {
      const add = r.chance(0.6);
      const params = add
        ? [
            { type: 'dynamic', value: 'campaign_name', name: 'utm_campaign' },
            { type: 'static', value: 'klaviyo', name: 'utm_source' },
            { type: 'static', value: plan.channel, name: 'utm_medium' },
          ]
        : [];
      tracking = { add_tracking_params: add, custom_tracking_params: params };
      if (plan.channel === 'email') Object.assign(tracking, { is_tracking_clicks: true, is_tracking_opens: r.chance(0.9) });
    }
    return {
      type: 'campaign',
      id,
      attributes: {
        name: plan.name,
        status: plan.status,
        archived: plan.archived,
        audiences: { included, excluded },
        send_options: { use_smart_sending: r.chance(0.8) },
        tracking_options: tracking,
        send_strategy: plan.strategy,
        created_at: isoSeconds(plan.created),
        scheduled_at: plan.scheduled === null ? null : isoSeconds(plan.scheduled),
        updated_at: isoSeconds(plan.updated),
        send_time: plan.send === null ? null : isoSeconds(plan.send),
      },
      relationships: {
        'campaign-messages': messages.map((m) => ({ type: 'campaign-message', id: m })),
        tags: this.tags.liveSample(r, r.int(3)).map((t) => ({ type: 'tag', id: t })),
      },
      hidden: { id, 'messages.channel': plan.channel },
    };
  }
}

function timeAttr(row: Row, ...names: string[]): string | null {
  for (const n of names) if (typeof row.attributes[n] === 'string') return row.attributes[n] as string;
  return null;
}

/**
 * A message of a campaign, from the campaign's row: its channel's definition (email content from the campaign's
 * name, SMS and push bodies), send times and the campaign's own timestamps. The sandbox keeps no message state of
 * its own, so `GET /api/campaigns/{id}/campaign-messages` and `include=campaign-messages` give the same resource.
 */
export function campaignMessageRow(id: string, owner: Row): Row {
  const channel = String(owner.hidden?.['messages.channel'] ?? 'email');
  const name = typeof owner.attributes.name === 'string' ? owner.attributes.name : 'Campaign';
  const definition =
    channel === 'sms'
      ? {
          channel: 'sms',
          content: { body: `${name}: reply STOP to opt out`, media_url: null },
          render_options: { shorten_links: true, add_org_prefix: true, add_info_link: true, add_opt_out_language: false },
        }
      : channel === 'mobile_push'
        ? {
            channel: 'mobile_push',
            notification_type: 'standard',
            content: { title: name, body: `${name} is here`, dynamic_image: null },
            kv_pairs: null,
            options: null,
          }
        : {
            channel: 'email',
            label: name,
            content: {
              subject: name,
              preview_text: null,
              from_email: 'news@example.com',
              from_label: 'Example Store',
              reply_to_email: null,
              cc_email: null,
              bcc_email: null,
            },
          };
  const sendTime = timeAttr(owner, 'send_time', 'scheduled_at');
  return {
    type: 'campaign-message',
    id,
    attributes: {
      definition,
      send_times: sendTime ? [{ datetime: sendTime, is_local: false }] : [],
      created_at: timeAttr(owner, 'created_at'),
      updated_at: timeAttr(owner, 'updated_at'),
    },
    relationships: { campaign: { type: 'campaign', id: owner.id } },
  };
}

/** The messages of one campaign as a listing (`GET /api/campaigns/{id}/campaign-messages`): one or two, unsorted. */
export class CampaignMessages implements Source {
  readonly keyFields = [] as const;
  private readonly ids: Array<{ type: string; id: string }>;

  constructor(private readonly campaign: Row) {
    const data = campaign.relationships?.['campaign-messages'];
    this.ids = Array.isArray(data) ? data : [];
  }

  slots(): number {
    return this.ids.length;
  }

  id(i: number): string {
    return this.ids[i].id;
  }

  row(i: number): Row {
    return campaignMessageRow(this.ids[i].id, this.campaign);
  }

  key(): SortKey {
    return null;
  }
}
