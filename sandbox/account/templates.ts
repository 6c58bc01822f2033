import type { Source } from './collection';
import { DrawnIdModel } from './drawn';
import { sortKey, Touches, type SortKeys } from './overlay';
import type { ShortIdPool } from './ids';
import { STREAM, rngFor } from './prng';
import { DAY, between, isoSeconds } from './time';
import type { Row, SortKey } from './types';
import { EDITOR_TYPES, SHOP_URL, TEMPLATE_KINDS } from './vocabulary';

const TEMPLATE_SORT_FIELDS = ['created', 'name', 'updated'] as const;

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Email templates with rendered HTML and a plain-text part; `advance` revises some of them. */
export class TemplateModel extends DrawnIdModel implements Source {
  readonly keyFields = TEMPLATE_SORT_FIELDS;
  private readonly touches = new Touches();
  private static readonly KEYS: SortKeys<TemplateModel> = {
    created: (m, i) => m.created(i),
    updated: (m, i) => m.updated(i),
    name: (m, i) => m.name(i),
  };

  constructor(seed: number, count: number, anchorSec: number, ids: ShortIdPool) {
    super(seed, STREAM.template, count, anchorSec, ids);
  }

  name(i: number): string {
    const kind = TEMPLATE_KINDS[i % TEMPLATE_KINDS.length];
    const round = Math.floor(i / TEMPLATE_KINDS.length);
    return round === 0 ? kind : `${kind} ${round + 1}`;
  }

  created(i: number): number {
    return between(this.start, this.end - DAY, rngFor(this.seed, STREAM.template, i).float());
  }

  updated(i: number): number {
    const created = this.created(i);
    return this.touches.sec(i) ?? between(created, this.end, Math.sqrt(rngFor(this.seed, STREAM.template, i, 2).float()));
  }

  /** Records an update by `advance`: `updated` moves to `sec` and the HTML and text gain a revision note. */
  touch(i: number, sec: number): void {
    this.touches.touch(i, sec);
  }

  key(i: number, field: string): SortKey {
    return sortKey('templates', TemplateModel.KEYS, this, i, field);
  }

  row(i: number): Row {
    const r = rngFor(this.seed, STREAM.template, i, 3);
    const name = this.name(i);
    const editor = r.pick(EDITOR_TYPES);
    const headline = r.pick(['Hello {{ first_name|default:"there" }}', 'New this week', 'Just for you', 'Don’t miss out']);
    const rev = this.touches.rev(i);
    const revision = rev === 0 ? '' : ` (revision ${rev + 1})`;
    const body = `We picked a few things we think you will like${revision}.`;
    const html =
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(name)}</title></head>` +
      `<body style="margin:0;font-family:Helvetica,Arial,sans-serif"><table role="presentation" width="100%"><tr><td>` +
      `<h1>${escapeHtml(headline)}</h1><p>${escapeHtml(body)}</p>` +
      `<a href="${SHOP_URL}/collections/all?utm_source=klaviyo">Shop now</a>` +
      `<p style="font-size:11px">{% unsubscribe %}</p></td></tr></table></body></html>`;
    return {
      type: 'template',
      id: this.ids[i],
      attributes: {
        name,
        editor_type: editor,
        html,
        text: r.chance(0.6) ? `${headline}\n\n${body}\n\nShop now: ${SHOP_URL}/collections/all` : null,
        amp: null,
        created: isoSeconds(this.created(i)),
        updated: isoSeconds(this.updated(i)),
      },
      hidden: { id: this.ids[i] },
    };
  }
}
