import type { Source } from './collection';
import * as ids from './ids';
import { sortKey, Touches, type SortKeys } from './overlay';
import * as prng from './prng';
import type { Rng } from './prng';
import * as time from './time';
import type { Row, SortKey } from './types';
import * as vocabulary from './vocabulary';
import type { Place } from './vocabulary';

/*
 * Copies of the imported bindings: tsx compiles every read of an import into getter calls that V8 does not inline
 * (10-25 ns a read), and a profile row reads them a hundred times.
 */
const { ulid } = ids;
const { STREAM, hash32, rngFor, unit } = prng;
const { DAY, HISTORY_DAYS, between, isoDate, isoSeconds } = time;
const V = { ...vocabulary };

/** Membership questions the profile rows need answered (lists and segments live in groups.ts). */
export interface ProfileGroupLinks {
  listIds(): readonly string[];
  listsOf(profile: number): string[];
  segmentsOf(profile: number): string[];
}

/** The identity's draws, without building strings: enough for the email sort key. */
interface Draws {
  f: number;
  l: number;
  place: Place;
  hasEmail: boolean;
  hasPhone: boolean;
  style: number;
  domain: string;
}

interface Identity {
  first: string;
  last: string;
  email: string | null;
  phone: string | null;
  place: Place;
}

interface Suppressions {
  global: { reason: (typeof V.SUPPRESSION_REASONS)[number]; timestamp: number } | null;
  list: { list_id: string; reason: string; timestamp: number } | null;
}

const PROFILE_SORT_FIELDS = [
  'created',
  'email',
  'subscriptions.email.marketing.list_suppressions.timestamp',
  'subscriptions.email.marketing.suppression.timestamp',
  'updated',
] as const;

const fold = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
const FIRST_ASCII = V.FIRST_NAMES.map(fold);
const LAST_ASCII = V.LAST_NAMES.map(fold);
const PLACE_CUMULATIVE: number[] = [];
for (const w of V.PLACE_WEIGHTS) PLACE_CUMULATIVE.push((PLACE_CUMULATIVE[PLACE_CUMULATIVE.length - 1] ?? 0) + w);
/** Multiplier coprime with every phone number range, so (index * it) mod range is a bijection: unique numbers. */
const PHONE_STRIDE = 7919;

const APARTMENT_LETTERS = ['A', 'B', 'C', ''];
const NEWSLETTER_FREQUENCIES = ['daily', 'weekly', 'monthly'];
const NEWSLETTER_FORMATS = ['html', 'text'];
/** Repeats weight the draw. */
const EMAIL_CONSENTS = ['SUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED', 'NEVER_SUBSCRIBED', 'UNSUBSCRIBED'];
const SMS_CONSENTS = ['SUBSCRIBED', 'SUBSCRIBED', 'UNSUBSCRIBED', 'NEVER_SUBSCRIBED'];
const CHANNEL_AFFINITIES = ['email', 'sms', 'push'];

/** Up to ±0.1 degree, to four decimals. */
function jitter(r: Rng): number {
  return Math.round((r.float() - 0.5) * 0.2 * 10000) / 10000;
}

function identifiers(type: string, ids: readonly string[]): Array<{ type: string; id: string }> {
  const out = new Array<{ type: string; id: string }>(ids.length);
  for (let k = 0; k < ids.length; k++) out[k] = { type, id: ids[k] };
  return out;
}

function pickPlace(r: Rng): Place {
  const x = r.float() * PLACE_CUMULATIVE[PLACE_CUMULATIVE.length - 1];
  let k = 0;
  while (PLACE_CUMULATIVE[k] <= x) k++;
  return V.PLACES[k];
}

/**
 * Profiles, in creation order: slot i's `created` grows with i, and its id is a ULID of that instant, so ids
 * sort by creation too (as Klaviyo's do).
 */
export class ProfileModel implements Source {
  readonly keyFields = PROFILE_SORT_FIELDS;
  private readonly idCache: Array<string | undefined>;
  /** Slot -> (updated, number of times updated) written by `advance`. */
  private readonly touches = new Touches();
  private static readonly KEYS: SortKeys<ProfileModel> = {
    created: (m, i) => m.created(i),
    updated: (m, i) => m.updated(i),
    email: (m, i) => m.email(i),
    'subscriptions.email.marketing.suppression.timestamp': (m, i) => m.suppressions(i).global?.timestamp ?? null,
    'subscriptions.email.marketing.list_suppressions.timestamp': (m, i) => m.suppressions(i).list?.timestamp ?? null,
  };
  private readonly start: number;
  private readonly span: number;
  private readonly end: number;

  constructor(
    private readonly seed: number,
    private readonly total: number,
    anchorSec: number,
    private readonly groups: ProfileGroupLinks,
  ) {
    this.idCache = new Array<string | undefined>(total);
    this.end = anchorSec - 1;
    this.start = anchorSec - (HISTORY_DAYS + 5) * DAY;
    this.span = this.end - this.start;
  }

  slots(): number {
    return this.total;
  }

  /** Epoch seconds; non-decreasing in i. Sign-ups accelerate over time (density grows towards the anchor). */
  created(i: number): number {
    const u = (i + unit(this.seed, STREAM.profileCreated, i)) / this.total;
    return this.start + Math.floor(this.span * u ** 0.8);
  }

  /** How many profiles exist at `sec` (created at or before it). */
  countCreatedBy(sec: number): number {
    let lo = 0;
    let hi = this.total;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.created(mid) <= sec) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  id(i: number): string {
    let id = this.idCache[i];
    if (id === undefined) {
      const r = rngFor(this.seed, STREAM.profileId, i);
      id = ulid(this.created(i) * 1000 + r.int(1000), r);
      this.idCache[i] = id;
    }
    return id;
  }

  updated(i: number): number {
    const created = this.created(i);
    return this.touches.sec(i) ?? created + Math.floor((this.end - created) * Math.sqrt(unit(this.seed, STREAM.profileUpdated, i)));
  }

  /** Records an update by `advance`: `updated` moves to `sec` and a visible attribute changes with it. */
  touch(i: number, sec: number): void {
    this.touches.touch(i, sec);
  }

  key(i: number, field: string): SortKey {
    return sortKey('profiles', ProfileModel.KEYS, this, i, field);
  }

  private draws(i: number): Draws {
    const r = rngFor(this.seed, STREAM.profileIdentity, i);
    const f = r.int(V.FIRST_NAMES.length);
    const l = r.int(V.LAST_NAMES.length);
    const place = pickPlace(r);
    const hasEmail = r.chance(0.96);
    const hasPhone = !hasEmail || r.chance(0.6);
    return { f, l, place, hasEmail, hasPhone, style: r.int(4), domain: r.pick(V.EMAIL_DOMAINS) };
  }

  email(i: number, d: Draws = this.draws(i)): string | null {
    if (!d.hasEmail) return null;
    const fa = FIRST_ASCII[d.f];
    const la = LAST_ASCII[d.l];
    // The slot number in the local part keeps emails unique, as Klaviyo requires.
    const n = i + 1;
    const local =
      d.style === 0 ? `${fa}.${la}${n}` : d.style === 1 ? `${fa}${la}${n}` : d.style === 2 ? `${fa[0]}${la}${n}` : `${fa}_${la}.${n}`;
    return `${local}@${d.domain}`;
  }

  private identity(i: number, d: Draws): Identity {
    return {
      first: V.FIRST_NAMES[d.f],
      last: V.LAST_NAMES[d.l],
      email: this.email(i, d),
      phone: d.hasPhone ? this.phone(i, d.place) : null,
      place: d.place,
    };
  }

  private phone(i: number, place: Place): string {
    const plan = V.PHONE_PLANS[place.code];
    const northAmerican = place.code === 'US' || place.code === 'CA';
    // North American subscriber numbers cannot start with 0 or 1.
    const low = northAmerican ? 2 * 10 ** (plan.digits - 1) : 0;
    const range = 10 ** plan.digits - low;
    const n = low + ((i * PHONE_STRIDE + (hash32(this.seed, STREAM.profileIdentity, 0, 1) % range)) % range);
    return `${plan.prefix}${northAmerican ? place.area : ''}${String(n).padStart(plan.digits, '0')}`;
  }

  private suppressions(i: number, d: Draws = this.draws(i), created = this.created(i)): Suppressions {
    if (!d.hasEmail) return { global: null, list: null };
    const r = rngFor(this.seed, STREAM.profileSuppression, i);
    const lists = this.groups.listIds();
    const global = r.chance(0.06) ? { reason: r.pick(V.SUPPRESSION_REASONS), timestamp: between(created, this.end, r.float()) } : null;
    const list =
      lists.length > 0 && r.chance(0.04)
        ? { list_id: r.pick(lists), reason: 'USER_SUPPRESSED', timestamp: between(created, this.end, r.float()) }
        : null;
    return { global, list };
  }

  /** Whether profile `i` is suppressed from all email marketing (a global exclusion; it has an email then). */
  globallySuppressed(i: number): boolean {
    return this.suppressions(i).global !== null;
  }

  row(i: number): Row {
    const d = this.draws(i);
    const who = this.identity(i, d);
    const created = this.created(i);
    const updated = this.updated(i);
    const id = this.id(i);
    const r = rngFor(this.seed, STREAM.profileDetails, i);
    const supp = this.suppressions(i, d, created);
    const rev = this.touches.rev(i);
    const attributes: Record<string, unknown> = {
      email: who.email,
      phone_number: who.phone,
      external_id: r.chance(0.3) ? `cust_${(100000 + i * 7).toString()}` : null,
      first_name: r.chance(0.93) ? who.first : null,
      last_name: r.chance(0.9) ? who.last : null,
      organization: r.chance(0.15) ? r.pick(V.ORGANIZATIONS) : null,
      locale: r.chance(0.8) ? r.pick(V.LOCALES[who.place.code]) : null,
      title: r.chance(0.12) ? r.pick(V.JOB_TITLES) : null,
      image: r.chance(0.1) ? `https://images.example.com/avatars/${r.between(1, 5000)}.jpg` : null,
      created: isoSeconds(created),
      updated: isoSeconds(updated),
      last_event_date: r.chance(0.85) ? isoSeconds(between(created, this.end, r.float())) : null,
      location: this.location(r, who.place),
      properties: this.properties(r, i, created, rev),
      subscriptions: this.subscriptions(i, who, created, supp),
      predictive_analytics: this.predictive(i),
    };
    return {
      type: 'profile',
      id,
      attributes,
      relationships: {
        lists: identifiers('list', this.groups.listsOf(i)),
        segments: identifiers('segment', this.groups.segmentsOf(i)),
        'push-tokens': [],
      },
      // The suppression filters name fields inside arrays; a profile holds at most one of each, so they are scalars.
      hidden: {
        id,
        'subscriptions.email.marketing.suppression.reason': supp.global?.reason ?? null,
        'subscriptions.email.marketing.suppression.timestamp': supp.global ? isoSeconds(supp.global.timestamp) : null,
        'subscriptions.email.marketing.list_suppressions.list_id': supp.list?.list_id ?? null,
        'subscriptions.email.marketing.list_suppressions.reason': supp.list?.reason ?? null,
        'subscriptions.email.marketing.list_suppressions.timestamp': supp.list ? isoSeconds(supp.list.timestamp) : null,
      },
    };
  }

  private location(r: Rng, place: Place): Record<string, unknown> {
    if (r.chance(0.08)) {
      return {
        address1: null,
        address2: null,
        city: null,
        country: null,
        latitude: null,
        longitude: null,
        region: null,
        zip: null,
        timezone: null,
        ip: null,
      };
    }
    return {
      address1: r.chance(0.7) ? `${r.between(1, 2400)} ${r.pick(place.streets)}` : null,
      address2: r.chance(0.2) ? `Apt ${r.between(1, 40)}${r.pick(APARTMENT_LETTERS)}` : null,
      city: place.city,
      country: place.country,
      latitude: Math.round((place.latitude + jitter(r)) * 10000) / 10000,
      longitude: Math.round((place.longitude + jitter(r)) * 10000) / 10000,
      region: place.region,
      zip: place.zip,
      timezone: place.timezone,
      ip: r.chance(0.75) ? `${r.between(11, 223)}.${r.int(256)}.${r.int(256)}.${r.between(1, 254)}` : null,
    };
  }

  private properties(r: Rng, i: number, created: number, rev: number): Record<string, unknown> {
    const props: Record<string, unknown> = { $source: r.pick(V.PROFILE_SOURCES) };
    if (r.chance(0.6)) props['Accepts Marketing'] = r.chance(0.7);
    props.loyalty_points = r.int(80) * 25 + rev * 50;
    if (r.chance(0.55)) props.loyalty_tier = r.pick(V.LOYALTY_TIERS);
    if (r.chance(0.4)) {
      props.preferences = {
        size: r.pick(V.SIZES),
        interests: r.sample(V.INTERESTS, r.between(1, 3)),
        newsletter: { frequency: r.pick(NEWSLETTER_FREQUENCIES), format: r.pick(NEWSLETTER_FORMATS) },
      };
    }
    if (r.chance(0.3)) {
      props.birthday = isoDate(created - (18 * 365 + r.int(45 * 365)) * DAY);
    }
    if (r.chance(0.25)) props['Shopify Tags'] = r.sample(V.SHOPIFY_TAGS, r.between(1, 2));
    if (r.chance(0.15)) props.referral_code = `REF-${(i + 1).toString(36).toUpperCase()}`;
    return props;
  }

  /** A datetime between the profile's creation and the end of history. */
  private stamp(r: Rng, created: number): string {
    return isoSeconds(between(created, this.end, r.float()));
  }

  private subscriptions(i: number, who: Identity, created: number, supp: Suppressions): Record<string, unknown> {
    const r = rngFor(this.seed, STREAM.profileSubscriptions, i);
    let emailMarketing: Record<string, unknown>;
    if (who.email === null) {
      emailMarketing = {
        can_receive_email_marketing: false,
        consent: 'NEVER_SUBSCRIBED',
        consent_timestamp: null,
        last_updated: null,
        method: null,
        method_detail: '',
        custom_method_detail: null,
        double_optin: null,
        suppression: [],
        list_suppressions: [],
      };
    } else {
      const consent = supp.global?.reason === 'UNSUBSCRIBE' ? 'UNSUBSCRIBED' : r.pick(EMAIL_CONSENTS);
      const touched = consent !== 'NEVER_SUBSCRIBED';
      const at = touched ? this.stamp(r, created) : null;
      emailMarketing = {
        can_receive_email_marketing: supp.global === null && consent !== 'UNSUBSCRIBED',
        consent,
        consent_timestamp: at,
        last_updated: at,
        method: touched ? r.pick(V.EMAIL_METHODS) : null,
        method_detail: touched && r.chance(0.5) ? 'shop.example.com/signup' : '',
        custom_method_detail: touched && r.chance(0.1) ? 'spring marketing drive' : null,
        double_optin: touched ? r.chance(0.3) : null,
        suppression: supp.global ? [{ reason: supp.global.reason, timestamp: isoSeconds(supp.global.timestamp) }] : [],
        list_suppressions: supp.list
          ? [{ list_id: supp.list.list_id, reason: supp.list.reason, timestamp: isoSeconds(supp.list.timestamp) }]
          : [],
      };
    }
    let sms: Record<string, unknown>;
    if (who.phone === null) {
      sms = {
        marketing: {
          can_receive_sms_marketing: false,
          consent: 'NEVER_SUBSCRIBED',
          consent_timestamp: null,
          method: null,
          method_detail: '',
          last_updated: null,
        },
        transactional: null,
      };
    } else {
      const consent = r.pick(SMS_CONSENTS);
      const at = consent === 'NEVER_SUBSCRIBED' ? null : this.stamp(r, created);
      sms = {
        marketing: {
          can_receive_sms_marketing: consent === 'SUBSCRIBED',
          consent,
          consent_timestamp: at,
          method: at ? r.pick(V.SMS_METHODS) : null,
          method_detail: at && r.chance(0.4) ? 'JOIN' : '',
          last_updated: at,
        },
        transactional: r.chance(0.5)
          ? {
              can_receive_sms_transactional: true,
              consent: 'SUBSCRIBED',
              consent_timestamp: this.stamp(r, created),
              method: 'CHECKOUT',
              method_detail: '',
              last_updated: null,
            }
          : null,
      };
    }
    const pushConsent = r.chance(0.12) ? 'SUBSCRIBED' : r.chance(0.1) ? 'UNSUBSCRIBED' : 'NEVER_SUBSCRIBED';
    const whatsapp =
      who.phone !== null && r.chance(0.05)
        ? {
            marketing: {
              consent: 'SUBSCRIBED',
              consent_timestamp: this.stamp(r, created),
              last_updated: null,
              created_timestamp: isoSeconds(created),
              metadata: null,
              can_receive: true,
              valid_until: null,
              phone_number: who.phone,
            },
            transactional: null,
            conversational: null,
          }
        : null;
    return {
      email: { marketing: emailMarketing },
      sms,
      mobile_push: {
        marketing: {
          can_receive_push_marketing: pushConsent === 'SUBSCRIBED',
          consent: pushConsent,
          consent_timestamp: pushConsent === 'NEVER_SUBSCRIBED' ? null : this.stamp(r, created),
        },
      },
      whatsapp,
    };
  }

  private predictive(i: number): Record<string, unknown> {
    const r = rngFor(this.seed, STREAM.profilePredictive, i);
    if (r.chance(0.3)) {
      return {
        historic_clv: null,
        predicted_clv: null,
        total_clv: null,
        historic_number_of_orders: null,
        predicted_number_of_orders: null,
        average_days_between_orders: null,
        average_order_value: null,
        churn_probability: null,
        expected_date_of_next_order: null,
        ranked_channel_affinity: null,
      };
    }
    const orders = r.chance(0.35) ? 0 : r.between(1, 14);
    const aov = orders > 0 ? r.money(18, 180) : 0;
    const historic = Math.round(orders * aov * 100) / 100;
    const predicted = r.money(0, 160);
    const first = r.int(3);
    const affinity = [CHANNEL_AFFINITIES[first]];
    for (let k = 0; k < 3; k++) if (k !== first) affinity.push(CHANNEL_AFFINITIES[k]);
    return {
      historic_clv: historic,
      predicted_clv: predicted,
      total_clv: Math.round((historic + predicted) * 100) / 100,
      historic_number_of_orders: orders,
      predicted_number_of_orders: Math.round(r.float() * 300) / 100,
      average_days_between_orders: orders > 1 ? r.between(14, 240) : null,
      average_order_value: aov,
      churn_probability: Math.round(r.float() * 100) / 100,
      expected_date_of_next_order: orders > 0 ? isoSeconds(this.end + r.between(1, 120) * DAY) : null,
      ranked_channel_affinity: r.chance(0.5) ? affinity.reverse() : affinity,
    };
  }
}
