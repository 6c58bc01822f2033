import type { Source } from './collection';
import { STREAM, hash32, rngFor } from './prng';
import { DAY, HISTORY_DAYS, between, isoSeconds } from './time';
import type { Row, SortKey } from './types';
import * as V from './vocabulary';

const CATALOG_SORT_FIELDS = ['created'] as const;

/** What events need to know about a product without generating its whole row. */
export interface Product {
  externalId: string;
  title: string;
  material: string;
  price: number;
  category: string;
  categoryIndex: number;
  url: string;
  image: string;
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Catalog items of the `$custom` integration's `$default` catalog, the only kind the API supports. */
export class CatalogModel implements Source {
  readonly keyFields = CATALOG_SORT_FIELDS;
  private readonly start: number;
  private readonly end: number;
  /** The first SKU number; it depends on the seed so that two accounts do not share catalog ids. */
  private readonly firstSku: number;

  constructor(
    private readonly seed: number,
    private readonly total: number,
    anchorSec: number,
  ) {
    this.firstSku = 10001 + (hash32(seed, STREAM.catalog, 0, 0x5c0) % 80000);
    this.end = anchorSec - 1;
    this.start = anchorSec - (HISTORY_DAYS + 30) * DAY;
  }

  slots(): number {
    return this.total;
  }

  id(i: number): string {
    return `$custom:::$default:::${this.externalId(i)}`;
  }

  private externalId(i: number): string {
    return `SKU-${this.firstSku + i}`;
  }

  slotOf(id: string): number | undefined {
    const m = /^\$custom:::\$default:::SKU-(\d+)$/.exec(id);
    return m ? Number(m[1]) - this.firstSku : undefined;
  }

  product(i: number): Product {
    const r = rngFor(this.seed, STREAM.catalog, i);
    const categoryIndex = r.int(V.PRODUCT_CATEGORIES.length);
    const category = V.PRODUCT_CATEGORIES[categoryIndex];
    const material = r.pick(V.PRODUCT_MATERIALS);
    const title = `${r.pick(V.PRODUCT_ADJECTIVES)} ${material} ${r.pick(category.products)}`;
    const externalId = this.externalId(i);
    const price = Math.round(r.between(8, 240) * 100 - (r.chance(0.6) ? 1 : 5)) / 100;
    const path = `${slug(title)}-${externalId.toLowerCase()}`;
    return {
      externalId,
      title,
      material,
      price,
      category: category.name,
      categoryIndex,
      url: `${V.SHOP_URL}/products/${path}`,
      image: `${V.IMAGE_URL}/products/${path}.jpg`,
    };
  }

  created(i: number): number {
    return between(this.start, this.end, rngFor(this.seed, STREAM.catalog, i, 1).float());
  }

  key(i: number, field: string): SortKey {
    if (field !== 'created') throw new Error(`catalog items: no sort key '${field}'`);
    return this.created(i);
  }

  row(i: number): Row {
    const p = this.product(i);
    const created = this.created(i);
    const r = rngFor(this.seed, STREAM.catalog, i, 2);
    const id = this.id(i);
    const base = p.image.replace(/\.jpg$/, '');
    const images = [p.image, ...Array.from({ length: r.int(3) }, (_, k) => `${base}-${k + 2}.jpg`)];
    const metadata: Record<string, unknown> = { 'Top Pick': r.chance(0.15), material: p.material };
    if (r.chance(0.3)) metadata.badges = r.sample(['new', 'bestseller', 'eco', 'limited'], r.between(1, 2));
    return {
      type: 'catalog-item',
      id,
      attributes: {
        external_id: p.externalId,
        title: p.title,
        description: `${p.title}. Part of our ${p.category.toLowerCase()} range, made to last and easy to care for.`,
        price: p.price,
        url: p.url,
        image_full_url: p.image,
        image_thumbnail_url: `${base}-thumb.jpg`,
        images,
        custom_metadata: metadata,
        published: r.chance(0.9),
        created: isoSeconds(created),
        updated: isoSeconds(between(created, this.end, r.float())),
      },
      hidden: { ids: id, 'category.id': `$custom:::$default:::CATEGORY-${p.categoryIndex + 1}` },
    };
  }
}
