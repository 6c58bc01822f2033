import type { Collection, Source } from './collection';
import { uuid4 } from './ids';
import { Rng, STREAM, rngFor } from './prng';
import type { Row, SortKey } from './types';
import { TAG_GROUPS, TAG_WORDS } from './vocabulary';

const TAG_SORT_FIELDS = ['name'] as const;

/** Tags (UUID ids, unique names) in a few tag groups; the only thing other rows link to is the tag id. */
export class TagModel implements Source {
  readonly keyFields = TAG_SORT_FIELDS;
  private readonly ids: string[] = [];
  private readonly names: string[] = [];
  private readonly groupOf: number[] = [];
  private readonly groupIds: string[];
  /** Set once the collection exists, so links to deleted tags can be dropped. */
  private table: Collection | undefined;

  constructor(seed: number, count: number) {
    const groupRng = rngFor(seed, STREAM.tag, 0, 0x7a9);
    this.groupIds = TAG_GROUPS.map(() => uuid4(groupRng));
    const taken = new Set<string>();
    for (let i = 0; i < count; i++) {
      const r = rngFor(seed, STREAM.tag, i);
      this.ids.push(uuid4(r));
      const group = i < TAG_GROUPS.length ? i : r.int(TAG_GROUPS.length);
      let name = r.pick(TAG_WORDS[group]);
      if (group === 1 && r.chance(0.7)) name += ` ${r.pick(['2024', '2025'])}`;
      for (let k = 2; taken.has(name); k++) name = `${name.replace(/ #\d+$/, '')} #${k}`;
      taken.add(name);
      this.names.push(name);
      this.groupOf.push(group);
    }
  }

  attach(table: Collection): void {
    this.table = table;
  }

  slots(): number {
    return this.ids.length;
  }

  id(i: number): string {
    return this.ids[i];
  }

  key(i: number, field: string): SortKey {
    if (field !== 'name') throw new Error(`tags: no sort key '${field}'`);
    return this.names[i];
  }

  row(i: number): Row {
    return {
      type: 'tag',
      id: this.ids[i],
      attributes: { name: this.names[i] },
      relationships: { 'tag-group': { type: 'tag-group', id: this.groupIds[this.groupOf[i]] } },
    };
  }

  /** Up to n distinct live tag ids, drawn from r. */
  liveSample(r: Rng, n: number): string[] {
    const picked = r.sample(this.ids, n);
    return this.table ? picked.filter((id) => this.table?.slotOf(id) !== undefined) : picked;
  }

  groupCount(): number {
    return this.groupIds.length;
  }

  groupId(g: number): string {
    return this.groupIds[g];
  }

  /** A tag group resource, for `included`. */
  groupRow(id: string): Row | undefined {
    const g = this.groupIds.indexOf(id);
    if (g < 0) return undefined;
    const { name, exclusive, default: isDefault } = TAG_GROUPS[g];
    return { type: 'tag-group', id, attributes: { name, exclusive, default: isDefault } };
  }
}

/**
 * The account's tag groups, as `GET /api/tag-groups` lists them: the default group and the others of the
 * vocabulary, whether or not a tag is in them (Klaviyo lists empty groups too). They never change.
 */
export class TagGroupSource implements Source {
  readonly keyFields = ['name'] as const;

  constructor(private readonly tags: TagModel) {}

  slots(): number {
    return this.tags.groupCount();
  }

  id(i: number): string {
    return this.tags.groupId(i);
  }

  key(i: number, field: string): SortKey {
    if (field !== 'name') throw new Error(`tag groups: no sort key '${field}'`);
    return TAG_GROUPS[i].name;
  }

  row(i: number): Row {
    return this.tags.groupRow(this.tags.groupId(i))!;
  }
}
