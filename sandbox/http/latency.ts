/**
 * How long the sandbox takes to answer, so that nothing measured against it on localhost is flattered by an API that
 * answers in a millisecond. A model is a base per request, a cost per resource in `data`, and a jitter:
 *
 *   delay = (base + row × rows) × (1 + jitter × u),  u uniform in [-1, 1) from a PRNG seeded by the sandbox's seed
 *
 * Errors (4xx, 429, injected 5xx) have no rows, so they answer after the base alone. The delay is a timer, never a
 * busy wait: the body is built, then the answer waits, so many requests overlap like they do against a real API.
 *
 * Spec (CLI `--latency`, `startSandbox({ latency })`, POST /__sandbox/latency {"spec": ...}): `off` (the default),
 * `klaviyo`, or `base=<ms>,row=<ms>,jitter=<fraction>`, each field optional on top of `klaviyo`'s values.
 */
import { hash32, Rng, STREAM } from '../account/prng';

export interface LatencyModel {
  /** ms per request */
  base: number;
  /** ms per resource in the answer's `data` */
  row: number;
  /** the delay varies by up to this fraction either way, 0 to 1 */
  jitter: number;
}

export const LATENCY_OFF: LatencyModel = Object.freeze({ base: 0, row: 0, jitter: 0 });

/**
 * `klaviyo`: 150 ms + 0.75 ms per resource, ±25%. An events page of 200 takes about 300 ms, a profiles page of 100
 * about 225 ms, an error 150 ms. Our notes hold no measured latencies, so these are an estimate (sandbox/README.md
 * says why); change them with `--latency base=...,row=...,jitter=...`.
 */
export const LATENCY_KLAVIYO: LatencyModel = Object.freeze({ base: 150, row: 0.75, jitter: 0.25 });

const FIELDS: Record<keyof LatencyModel, { max: number; what: string }> = {
  base: { max: 60_000, what: 'a delay in ms from 0 to 60000' },
  row: { max: 1_000, what: 'a delay per row in ms from 0 to 1000' },
  jitter: { max: 1, what: 'a fraction from 0 to 1' },
};

const SYNTAX = 'off, klaviyo or base=<ms>,row=<ms>,jitter=<fraction> (e.g. base=150,row=0.75,jitter=0.25)';

/** A field's value: a number, or (`fromText`, the CLI form) its decimal text. */
function fieldValue(name: keyof LatencyModel, value: unknown, fromText: boolean): number {
  const n = fromText && typeof value === 'string' && /^\s*\d*\.?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !(n >= 0 && n <= FIELDS[name].max))
    throw new Error(`latency '${name}' must be ${FIELDS[name].what}, got ${JSON.stringify(value)}`);
  return n;
}

function isField(name: string): name is keyof LatencyModel {
  return Object.hasOwn(FIELDS, name);
}

/** Parses `off`, `klaviyo` or `base=150,row=0.75,jitter=0.25` (fields optional, on top of `klaviyo`). */
export function parseLatencySpec(text: string): LatencyModel {
  const spec = text.trim();
  if (spec === 'off') return { ...LATENCY_OFF };
  if (spec === 'klaviyo') return { ...LATENCY_KLAVIYO };
  const model = { ...LATENCY_KLAVIYO };
  const seen = new Set<string>();
  for (const part of spec.split(',').map((s) => s.trim())) {
    const [name, value] = part.split('=', 2);
    if (value === undefined || !isField(name)) throw new Error(`latency '${text}' is not ${SYNTAX}`);
    if (seen.has(name)) throw new Error(`latency '${text}' sets '${name}' twice`);
    seen.add(name);
    model[name] = fieldValue(name, value, true);
  }
  return model;
}

/** The model from a JSON body: `{"spec": "klaviyo"}` or `{"base": 200, "row": 0, "jitter": 0}` (fields on top of `klaviyo`). */
export function parseLatencyJson(body: Record<string, unknown>): LatencyModel {
  const names = Object.keys(body);
  if (names.length === 1 && typeof body.spec === 'string') return parseLatencySpec(body.spec);
  const model = { ...LATENCY_KLAVIYO };
  const bad = names.find((n) => !isField(n));
  if (names.length === 0 || bad !== undefined)
    throw new Error(`send {"spec": "${SYNTAX.replace(/ \(e\.g\..*$/, '')}"} or {"base": 150, "row": 0.75, "jitter": 0.25}`);
  for (const name of names as Array<keyof LatencyModel>) model[name] = fieldValue(name, body[name], false);
  return model;
}

/** The spec that parses back to `model`: `off`, `klaviyo` or the three fields. */
export function formatLatency(model: LatencyModel): string {
  const same = (m: LatencyModel) => m.base === model.base && m.row === model.row && m.jitter === model.jitter;
  if (same(LATENCY_OFF)) return 'off';
  if (same(LATENCY_KLAVIYO)) return 'klaviyo';
  return `base=${model.base},row=${model.row},jitter=${model.jitter}`;
}

/** The model in force and its seeded draws; one per server. */
export class Latency {
  private model: LatencyModel;
  private rng!: Rng;

  constructor(
    private readonly seed: number,
    model: LatencyModel = LATENCY_OFF,
  ) {
    this.model = model;
    this.set(model);
  }

  get current(): LatencyModel {
    return this.model;
  }

  /** Replaces the model and restarts the draws, so the same requests in the same order get the same delays. */
  set(model: LatencyModel): void {
    this.model = Object.freeze({ ...model });
    this.rng = new Rng(hash32(this.seed, STREAM.latency, 0));
  }

  /** The delay in ms for an answer holding `rows` resources (0 for an error). */
  delayFor(rows: number): number {
    const { base, row, jitter } = this.model;
    const nominal = base + row * rows;
    if (nominal === 0) return 0;
    return jitter === 0 ? nominal : nominal * (1 + jitter * (2 * this.rng.float() - 1));
  }

  /** Waits the delay for `rows` resources on a timer (none when the delay is 0); resolves to the ms waited. */
  wait(rows: number): Promise<number> {
    const ms = this.delayFor(rows);
    if (ms <= 0) return Promise.resolve(0);
    return new Promise((resolve) => setTimeout(() => resolve(ms), ms));
  }
}
