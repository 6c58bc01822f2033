import type { CampaignModel, Channel } from './campaigns';
import type { CatalogModel, Product } from './catalog';
import type { Source } from './collection';
import type { ListModel } from './groups';
import * as ids from './ids';
import type { MetricModel } from './metrics';
import type { ProfileModel } from './profiles';
import * as prng from './prng';
import type { Rng } from './prng';
import * as time from './time';
import type { Row, SortKey } from './types';
import * as vocabulary from './vocabulary';

// Copies of the imported bindings, read per row: tsx turns each read of an import into uninlined getter calls.
const { base62, fromBase62, uuid1 } = ids;
const { STREAM, hash32, rngFor, unit } = prng;
const { DAY, HISTORY_DAYS, isoSeconds } = time;
const V = { ...vocabulary };

const EVENT_SORT_FIELDS = ['datetime', 'timestamp'] as const;

/** Share of the history's events that fall in its last RECENT_DAYS. */
const RECENT_SHARE = 0.13;
const RECENT_DAYS = 30;
/** Event ids: 6 base-62 digits of timestamp, then 7 of slot * ID_SPREAD + noise. */
const ID_WIDTHS = [6, 7];
/** Keeps the tail increasing with the slot and decodable without it reading like a counter; 62^7 / ID_SPREAD = 700 million slots. */
const ID_SPREAD = 5000;

/** Share of orders attributed to a campaign. */
const ATTRIBUTED_SHARE = 0.35;

/** An order's attribution: the campaign and campaign message it converted from. */
export interface EventAttribution {
  id: string;
  campaignId: string;
  campaignMessageId: string;
}

export interface EventLinks {
  profiles: ProfileModel;
  metrics: MetricModel;
  catalog: CatalogModel;
  campaigns: CampaignModel;
  campaignsPerChannel: number;
  lists: ListModel;
}

const GIFT_CARD: Product = {
  externalId: 'GIFT-CARD',
  title: 'Gift Card',
  material: 'Digital',
  price: 25,
  category: 'Gift Cards',
  categoryIndex: 0,
  url: `${V.SHOP_URL}/products/gift-card`,
  image: `${V.IMAGE_URL}/products/gift-card.jpg`,
};

/**
 * Events in time order: slot i's timestamp never decreases with i, and ids are (timestamp, slot) in fixed-width
 * base 62, so slot order is the default order, the `datetime` order and the `timestamp` order all at once.
 * `append` adds batches after the history (from `advance`), keeping that property.
 */
export class EventModel implements Source {
  readonly keyFields = EVENT_SORT_FIELDS;
  readonly inSlotOrder = ['id', ...EVENT_SORT_FIELDS];
  private readonly batches: Array<{ first: number; count: number; from: number; to: number }> = [];
  private total: number;
  private readonly start: number;
  private readonly recentStart: number;

  constructor(
    private readonly seed: number,
    private readonly base: number,
    anchorSec: number,
    private readonly links: EventLinks,
  ) {
    this.total = base;
    this.start = anchorSec - HISTORY_DAYS * DAY;
    this.recentStart = anchorSec - RECENT_DAYS * DAY;
  }

  slots(): number {
    return this.total;
  }

  /** Epoch seconds. Older history grows denser towards the present; the last 30 days hold RECENT_SHARE. */
  timestamp(i: number): number {
    if (i < this.base) {
      const u = (i + unit(this.seed, STREAM.eventTime, i)) / this.base;
      const old = 1 - RECENT_SHARE;
      if (u < old) return this.start + Math.floor((this.recentStart - this.start) * (u / old) ** (2 / 3));
      return this.recentStart + Math.floor(RECENT_DAYS * DAY * ((u - old) / RECENT_SHARE));
    }
    let lo = 0;
    let hi = this.batches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.batches[mid].first <= i) lo = mid;
      else hi = mid - 1;
    }
    const b = this.batches[lo];
    return b.from + Math.floor(((i - b.first) * (b.to - b.from + 1)) / b.count);
  }

  /** The newest event's timestamp, or null when there are none. */
  lastTimestamp(): number | null {
    return this.total > 0 ? this.timestamp(this.total - 1) : null;
  }

  /** Appends `count` events spread evenly over [from, to] (epoch seconds, from >= lastTimestamp()). */
  append(count: number, from: number, to: number): void {
    if (count <= 0) return;
    this.batches.push({ first: this.total, count, from, to });
    this.total += count;
  }

  id(i: number): string {
    return base62([this.timestamp(i), i * ID_SPREAD + (hash32(this.seed, STREAM.eventTime, i, 1) % ID_SPREAD)], ID_WIDTHS);
  }

  slotOf(id: string): number | undefined {
    if (id.length !== ID_WIDTHS[0] + ID_WIDTHS[1]) return undefined;
    const tail = fromBase62(id.slice(ID_WIDTHS[0]));
    return tail < 0 ? undefined : Math.floor(tail / ID_SPREAD);
  }

  key(i: number, field: string): SortKey {
    if (field === 'datetime' || field === 'timestamp') return this.timestamp(i);
    throw new Error(`events: no sort key '${field}'`);
  }

  /** The profile slot of event i (whose deletion deletes the event, as Klaviyo's does). */
  profileSlot(i: number): number {
    return this.profileOf(i, this.timestamp(i));
  }

  /** A profile that existed when the event happened. */
  private profileOf(i: number, ts: number): number {
    const { profiles } = this.links;
    const existing = Math.max(1, profiles.countCreatedBy(ts));
    return Math.floor(unit(this.seed, STREAM.eventBody, i, 1) * existing);
  }

  row(i: number): Row {
    const { profiles, metrics } = this.links;
    const ts = this.timestamp(i);
    const r = rngFor(this.seed, STREAM.eventBody, i);
    const metric = metrics.pick(r);
    const metricId = metrics.id(metric);
    const attributed = this.attributions(i, metric);
    const profileId = profiles.id(this.profileOf(i, ts));
    const id = this.id(i);
    return {
      type: 'event',
      id,
      attributes: {
        timestamp: ts,
        event_properties: this.properties(r, i, metric),
        datetime: isoSeconds(ts),
        uuid: uuid1(ts, rngFor(this.seed, STREAM.eventUuid, i)),
      },
      relationships: {
        metric: { type: 'metric', id: metricId },
        profile: { type: 'profile', id: profileId },
        attributions: attributed.map((a) => ({ type: 'attribution', id: a.id })),
      },
      hidden: { metric_id: metricId, profile_id: profileId, attributions: attributed },
    };
  }

  /**
   * The campaign a conversion is attributed to: a share of orders, to an email campaign's message (their own draws,
   * so the rest of the event is what it was without them). The attribution resource itself is built for `included`
   * from these (http/included.ts).
   */
  private attributions(i: number, metric: number): EventAttribution[] {
    const { campaigns, campaignsPerChannel, metrics } = this.links;
    if (metrics.kind(metric) !== 'order' || campaignsPerChannel === 0) return [];
    const r = rngFor(this.seed, STREAM.eventAttribution, i);
    if (!r.chance(ATTRIBUTED_SHARE)) return [];
    const slot = campaigns.slotIn('email', r.int(campaignsPerChannel));
    // Klaviyo's attribution ids are 32 hex digits
    const id = [1, 2, 3, 4].map((k) => hash32(this.seed, STREAM.eventAttribution, i, k).toString(16).padStart(8, '0')).join('');
    return [{ id, campaignId: campaigns.id(slot), campaignMessageId: campaigns.info(slot).messageId }];
  }

  private product(r: Rng): Product {
    const n = this.links.catalog.slots();
    return n === 0 ? GIFT_CARD : this.links.catalog.product(r.int(n));
  }

  private lineItems(r: Rng): { items: Array<Record<string, unknown>>; total: number } {
    const items = Array.from({ length: r.between(1, 4) }, () => {
      const p = this.product(r);
      const quantity = r.chance(0.8) ? 1 : r.between(2, 3);
      return {
        ProductID: p.externalId,
        SKU: p.externalId,
        ProductName: p.title,
        Quantity: quantity,
        ItemPrice: p.price,
        RowTotal: Math.round(p.price * quantity * 100) / 100,
        ProductURL: p.url,
        ImageURL: p.image,
        Categories: [p.category],
      };
    });
    const total = Math.round(items.reduce((sum, it) => sum + (it.RowTotal as number), 0) * 100) / 100;
    return { items, total };
  }

  private campaign(r: Rng, channel: Channel): Record<string, unknown> {
    const { campaigns, campaignsPerChannel } = this.links;
    if (campaignsPerChannel === 0) return { 'Flow Name': 'Welcome Series', $flow: 'flow' };
    const info = campaigns.info(campaigns.slotIn(channel, r.int(campaignsPerChannel)));
    return { 'Campaign Name': info.name, Subject: info.subject, $message: info.messageId };
  }

  private properties(r: Rng, i: number, metric: number): Record<string, unknown> {
    const { metrics, lists } = this.links;
    const orderId = String(100000 + i);
    switch (metrics.kind(metric)) {
      case 'order': {
        const { items, total } = this.lineItems(r);
        const discount = r.chance(0.25) ? Math.round(total * 0.1 * 100) / 100 : 0;
        const props: Record<string, unknown> = {
          OrderId: orderId,
          Items: items,
          ItemNames: items.map((it) => it.ProductName),
          Categories: [...new Set(items.flatMap((it) => it.Categories as string[]))],
          $value: Math.round((total - discount) * 100) / 100,
          $event_id: orderId,
        };
        if (discount > 0) Object.assign(props, { DiscountCode: r.pick(V.DISCOUNT_CODES), DiscountValue: discount });
        return props;
      }
      case 'ordered_product': {
        const p = this.product(r);
        const quantity = r.chance(0.8) ? 1 : r.between(2, 3);
        return {
          OrderId: orderId,
          ProductID: p.externalId,
          SKU: p.externalId,
          ProductName: p.title,
          Quantity: quantity,
          Categories: [p.category],
          ProductURL: p.url,
          ImageURL: p.image,
          $value: Math.round(p.price * quantity * 100) / 100,
          $event_id: `${orderId}-${p.externalId}`,
        };
      }
      case 'fulfilled': {
        const { items, total } = this.lineItems(r);
        return {
          OrderId: orderId,
          ItemNames: items.map((it) => it.ProductName),
          FulfillmentStatus: 'fulfilled',
          $value: total,
          $event_id: orderId,
        };
      }
      case 'product_view': {
        const p = this.product(r);
        return {
          ProductName: p.title,
          ProductID: p.externalId,
          SKU: p.externalId,
          Categories: [p.category],
          ImageURL: p.image,
          URL: p.url,
          Price: p.price,
        };
      }
      case 'cart': {
        const p = this.product(r);
        const quantity = r.chance(0.85) ? 1 : 2;
        return {
          $value: Math.round(p.price * quantity * 100) / 100,
          AddedItemProductName: p.title,
          AddedItemProductID: p.externalId,
          AddedItemSKU: p.externalId,
          AddedItemCategories: [p.category],
          AddedItemImageURL: p.image,
          AddedItemURL: p.url,
          AddedItemPrice: p.price,
          AddedItemQuantity: quantity,
          ItemNames: [p.title],
          CheckoutURL: `${V.SHOP_URL}/cart`,
        };
      }
      case 'checkout': {
        const { items, total } = this.lineItems(r);
        return {
          $value: total,
          $event_id: `checkout-${orderId}`,
          Items: items,
          ItemNames: items.map((it) => it.ProductName),
          CheckoutURL: `${V.SHOP_URL}/checkouts/${orderId}`,
        };
      }
      case 'site':
        return {
          $is_session_activity: true,
          $use_ip: true,
          page: `${V.SHOP_URL}${r.pick(['/', '/collections/all', '/pages/about', '/cart'])}`,
          os: r.pick(V.OPERATING_SYSTEMS),
          browser: r.pick(V.BROWSERS),
        };
      case 'email': {
        const props = { ...this.campaign(r, 'email'), 'Email Domain': r.pick(V.EMAIL_DOMAINS), 'Client Name': r.pick(V.EMAIL_CLIENTS) };
        if (metrics.name(metric) === 'Clicked Email') Object.assign(props, { URL: `${V.SHOP_URL}/collections/all?utm_source=klaviyo` });
        return props;
      }
      case 'sms':
        return { ...this.campaign(r, 'sms'), Carrier: r.pick(V.CARRIERS), 'Message Type': 'SMS' };
      case 'push':
        return { ...this.campaign(r, 'mobile_push'), 'Push Platform': r.pick(['ios', 'android']) };
      case 'list': {
        if (lists.slots() === 0) return { List: 'Newsletter' };
        const g = r.int(lists.slots());
        return { List: lists.name(g), $list: lists.id(g) };
      }
      case 'custom':
        return { Source: 'API', Points: r.between(1, 50) * 10, $event_id: `api-${orderId}` };
    }
  }
}
