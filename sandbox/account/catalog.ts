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
  /** The first category number, seed-dependent like the SKUs */
  private readonly firstCategory: number;

  constructor(
    private readonly seed: number,
    private readonly total: number,
    anchorSec: number,
  ) {
    this.firstSku = 10001 + (hash32(seed, STREAM.catalog, 0, 0x5c0) % 80000);
    this.firstCategory = 101 + (hash32(seed, STREAM.catalog, 0, 0xca7) % 9000);
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
      relationships: this.variants ? { variants: this.variants.idsOf(i).map((v) => ({ type: 'catalog-variant', id: v })) } : undefined,
      hidden: { ids: id, 'category.id': this.categoryId(p.categoryIndex) },
    };
  }

  /** Set by CatalogVariants: item rows then name their variants (`include=variants`). */
  variants: CatalogVariants | undefined;

  /** `CATEGORY-<n>`: the external id of the catalog category at `index` of PRODUCT_CATEGORIES */
  categoryExternalId(index: number): string {
    return `CATEGORY-${this.firstCategory + index}`;
  }

  categoryId(index: number): string {
    return `$custom:::$default:::${this.categoryExternalId(index)}`;
  }
}

/** The sizes an item comes in: its variants, the first `count` of these. */
const VARIANT_SIZES = ['S', 'M', 'L'] as const;

/**
 * The items' variants, 0 to 3 sizes each (`SKU-10001-M`), listed in item order, each created a few seconds after
 * its item. A variant lives as long as its item: `advance` deletes both (Collection.delete on each).
 */
export class CatalogVariants implements Source {
  readonly keyFields = CATALOG_SORT_FIELDS;
  /** first[i]: the slot of item i's first variant; first[n] is the number of variants */
  private readonly first: Uint32Array;

  constructor(
    private readonly catalog: CatalogModel,
    private readonly seed: number,
  ) {
    const n = catalog.slots();
    this.first = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) this.first[i + 1] = this.first[i] + rngFor(seed, STREAM.catalog, i, 3).int(VARIANT_SIZES.length + 1);
    catalog.variants = this;
  }

  slots(): number {
    return this.first[this.first.length - 1];
  }

  /** The item a variant slot belongs to (binary search over `first`). */
  itemOf(slot: number): number {
    let lo = 0;
    let hi = this.first.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.first[mid] <= slot) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The variant slots of item i. */
  slotsOf(i: number): number[] {
    return Array.from({ length: this.first[i + 1] - this.first[i] }, (_, k) => this.first[i] + k);
  }

  idsOf(i: number): string[] {
    return this.slotsOf(i).map((slot) => this.id(slot));
  }

  id(slot: number): string {
    const i = this.itemOf(slot);
    return `${this.catalog.id(i)}-${VARIANT_SIZES[slot - this.first[i]]}`;
  }

  slotOf(id: string): number | undefined {
    const m = /^(.*)-([SML])$/.exec(id);
    const i = m ? this.catalog.slotOf(m[1]) : undefined;
    if (i === undefined || i < 0 || i >= this.catalog.slots()) return undefined;
    const k = VARIANT_SIZES.indexOf(m![2] as (typeof VARIANT_SIZES)[number]);
    return k < this.first[i + 1] - this.first[i] ? this.first[i] + k : undefined;
  }

  key(slot: number, field: string): SortKey {
    if (field !== 'created') throw new Error(`catalog variants: no sort key '${field}'`);
    const i = this.itemOf(slot);
    return this.catalog.created(i) + (slot - this.first[i]) + 1;
  }

  row(slot: number): Row {
    const i = this.itemOf(slot);
    const k = slot - this.first[i];
    const item = this.catalog.row(i);
    const a = item.attributes as Record<string, unknown>;
    const r = rngFor(this.seed, STREAM.catalog, slot, 4);
    const created = Number(this.key(slot, 'created'));
    const size = VARIANT_SIZES[k];
    const id = this.id(slot);
    return {
      type: 'catalog-variant',
      id,
      attributes: {
        external_id: `${String(a.external_id)}-${size}`,
        title: `${String(a.title)} (${size})`,
        description: a.description,
        sku: `${String(a.external_id)}-${size}`,
        // 0: the variant may not be ordered when out of stock; 1: it may (Klaviyo's inventory_policy)
        inventory_policy: r.int(2),
        inventory_quantity: r.int(250),
        price: a.price,
        url: `${String(a.url)}?size=${size}`,
        image_full_url: a.image_full_url,
        image_thumbnail_url: a.image_thumbnail_url,
        images: a.images,
        custom_metadata: { size },
        published: a.published,
        created: isoSeconds(created),
        updated: isoSeconds(Math.max(created, Date.parse(String(a.updated)) / 1000)),
      },
      hidden: { ids: id, 'item.id': item.id },
    };
  }
}

/**
 * The catalog's categories, one per PRODUCT_CATEGORIES entry; every item is in the one of its product (the
 * items' `category.id` filter). Sorted by a creation time they do not show, as Klaviyo's `sort=created` does.
 */
export class CatalogCategories implements Source {
  readonly keyFields = CATALOG_SORT_FIELDS;
  private itemIds: string[][] | undefined;

  constructor(
    private readonly catalog: CatalogModel,
    private readonly anchorSec: number,
  ) {}

  slots(): number {
    return V.PRODUCT_CATEGORIES.length;
  }

  id(i: number): string {
    return this.catalog.categoryId(i);
  }

  key(i: number, field: string): SortKey {
    if (field !== 'created') throw new Error(`catalog categories: no sort key '${field}'`);
    return this.anchorSec - (HISTORY_DAYS + 60) * DAY + i * 3600;
  }

  /** Each category's item ids, for `filter=equals(item.id,...)`: computed once, on the first row asked for. */
  private items(i: number): string[] {
    if (!this.itemIds) {
      const byCategory: string[][] = V.PRODUCT_CATEGORIES.map(() => []);
      for (let k = 0; k < this.catalog.slots(); k++) byCategory[this.catalog.product(k).categoryIndex].push(this.catalog.id(k));
      this.itemIds = byCategory;
    }
    return this.itemIds[i];
  }

  row(i: number): Row {
    const created = Number(this.key(i, 'created'));
    return {
      type: 'catalog-category',
      id: this.id(i),
      attributes: {
        external_id: this.catalog.categoryExternalId(i),
        name: V.PRODUCT_CATEGORIES[i].name,
        updated: isoSeconds(created + 86_400),
      },
      hidden: { ids: this.id(i), 'item.id': this.items(i) },
    };
  }
}
