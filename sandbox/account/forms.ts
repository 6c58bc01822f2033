import type { Source } from './collection';
import { DrawnIdModel } from './drawn';
import type { ShortIdPool } from './ids';
import { sortKey, Touches, type SortKeys } from './overlay';
import { STREAM, rngFor } from './prng';
import { DAY, between, isoSeconds } from './time';
import type { Row, SortKey } from './types';

const FORM_SORT_FIELDS = ['created_at', 'updated_at'] as const;

const FORM_KINDS = ['Newsletter Popup', 'Exit Intent', 'Spin to Win', 'Footer Signup', 'Back in Stock', 'SMS Flyout', 'Quiz'];

/** Sign-up forms (popups, flyouts, embeds), live or draft, some A/B tested; `advance` edits some of them. */
export class FormModel extends DrawnIdModel implements Source {
  readonly keyFields = FORM_SORT_FIELDS;
  private readonly touches = new Touches();
  private static readonly KEYS: SortKeys<FormModel> = {
    created_at: (m, i) => m.created(i),
    updated_at: (m, i) => m.updated(i),
  };

  constructor(seed: number, count: number, anchorSec: number, ids: ShortIdPool) {
    super(seed, STREAM.form, count, anchorSec, ids);
  }

  created(i: number): number {
    return between(this.start, this.end - DAY, rngFor(this.seed, STREAM.form, i).float());
  }

  updated(i: number): number {
    return this.touches.sec(i) ?? between(this.created(i), this.end, rngFor(this.seed, STREAM.form, i, 2).float());
  }

  /** Records an edit by `advance`: `updated_at` moves to `sec`. */
  touch(i: number, sec: number): void {
    this.touches.touch(i, sec);
  }

  key(i: number, field: string): SortKey {
    return sortKey('forms', FormModel.KEYS, this, i, field);
  }

  row(i: number): Row {
    const r = rngFor(this.seed, STREAM.form, i, 3);
    const kind = FORM_KINDS[i % FORM_KINDS.length];
    const round = Math.floor(i / FORM_KINDS.length);
    return {
      type: 'form',
      id: this.ids[i],
      attributes: {
        name: round === 0 ? kind : `${kind} ${round + 1}`,
        status: r.chance(0.75) ? 'live' : 'draft',
        ab_test: r.chance(0.2),
        created_at: isoSeconds(this.created(i)),
        updated_at: isoSeconds(this.updated(i)),
      },
      hidden: { id: this.ids[i] },
    };
  }
}
