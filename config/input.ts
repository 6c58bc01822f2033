/**
 * Hostile input, read safely: the one YAML reader of replication files, env.yaml and connection values, and the one
 * way their contents are echoed in an error message.
 *
 * `parseYamlSafely` bounds what the `yaml` package would otherwise let through: a text over MAX_YAML_CHARS, control
 * characters (NUL, ESC: a binary or corrupt file), more than MAX_YAML_TOKENS tokens (time), nesting deeper than
 * MAX_YAML_DEPTH (the composer recurses, so 100,000 `[` overflowed the stack), aliases that expand past
 * MAX_ALIAS_COUNT (a "billion laughs"). Duplicate keys are found here in one pass (the package's own check compares
 * each key with every earlier one: quadratic, 85 s for 40,000 keys). Every problem has its line and column where
 * there is one.
 *
 * `echo` is how a value from the input appears in a message: quoted, control characters escaped, cut to a bounded
 * length, secret-looking parts (`pk_...` keys, URL passwords) masked.
 *
 * No Node built-ins here: replication.ts, which workflow bundles load, uses it.
 */
import { Composer, LineCounter, Lexer, Parser, isAlias, isMap, isScalar, isSeq, visit, type Document } from 'yaml';

/** characters; a replication file or env.yaml is a few KB, and Temporal refuses a config over 2 MB anyway */
export const MAX_YAML_CHARS = 4 * 1024 * 1024;
/**
 * lexer tokens (a key, an indicator, a space, a line break: about 5 per `key:` line); the demo's file has 125, and at
 * this bound a file parses and checks in under a second, where 4 MB of one-word keys took seconds more
 */
export const MAX_YAML_TOKENS = 250_000;
/** nesting levels of mappings and sequences; a replication file has 5 */
export const MAX_YAML_DEPTH = 64;
/** alias resolutions (the `yaml` package's maxAliasCount, stated here): enough for `<<: *base` merges */
export const MAX_ALIAS_COUNT = 100;
/** YAML problems listed in one message; the rest are counted */
export const MAX_LISTED_PROBLEMS = 10;

export interface YamlProblem {
  /** 1-based; absent when the problem has no one place (a too-long text, an alias bomb without aliases found) */
  line?: number;
  col?: number;
  /** the yaml package's code, or ours: TOO_LARGE, CONTROL_CHARACTER, TOO_MANY_TOKENS, TOO_DEEP, DUPLICATE_KEY, ALIAS_COUNT */
  code: string;
  /** one sentence, bounded, never quoting the input beyond `echo` */
  message: string;
}

export class YamlInputError extends Error {
  constructor(
    readonly problems: YamlProblem[],
    /** the text's lines, for excerpts */
    readonly text: string,
  ) {
    super(problems.map((p) => p.message).join('; '));
    this.name = 'YamlInputError';
  }
}

// the YAML 1.2 printable set excludes these C0 controls and DEL (tab, LF and CR are allowed)
const CONTROL = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/;

/** Parses one YAML document into plain JS, within the limits above; throws a YamlInputError listing the problems. */
export function parseYamlSafely(text: string, opts: { merge?: boolean } = {}): unknown {
  if (text.length > MAX_YAML_CHARS) {
    throw new YamlInputError(
      [
        {
          code: 'TOO_LARGE',
          message: `is ${formatSize(text.length)} characters long; YAML input is at most ${formatSize(MAX_YAML_CHARS)}`,
        },
      ],
      '',
    );
  }
  const control = CONTROL.exec(text);
  if (control) {
    const { line, col } = positionOf(text, control.index);
    const code = control[0].charCodeAt(0);
    const what = code === 0 ? 'a NUL byte' : 'a control character';
    throw new YamlInputError(
      [
        {
          line,
          col,
          code: 'CONTROL_CHARACTER',
          message: `${what} (U+${hex(code)}): YAML text has none; is this a binary or corrupt file?`,
        },
      ],
      text,
    );
  }

  const lineCounter = new LineCounter();
  const parser = new Parser(lineCounter.addNewLine);
  const lexer = new Lexer();
  lineCounter.addNewLine(0); // as Parser.parse does: the first line starts at 0
  let tooDeep: number | undefined;
  let tooMany: number | undefined;
  let lexemes = 0;
  // the parser keeps a stack of open collections: past the limit, nothing reaches the (recursive) composer
  function* tokens() {
    for (const lexeme of lexer.lex(text)) {
      yield* parser.next(lexeme);
      if (parser.stack.length > MAX_YAML_DEPTH + 2) {
        tooDeep = parser.offset;
        return;
      }
      if (++lexemes > MAX_YAML_TOKENS) {
        tooMany = parser.offset;
        return;
      }
    }
    yield* parser.end();
  }
  const composer = new Composer({ merge: opts.merge ?? false, uniqueKeys: false, prettyErrors: false });
  let doc: Document.Parsed | undefined;
  const problems: YamlProblem[] = [];
  const at = (offset: number) => lineCounter.linePos(offset);
  for (const d of composer.compose(tokens(), true, text.length)) {
    if (!doc) doc = d;
    else {
      problems.push({ ...at(d.range[0]), code: 'MULTIPLE_DOCS', message: 'a second document (---): a file holds one' });
      break;
    }
  }
  if (tooDeep !== undefined) {
    throw new YamlInputError(
      [{ ...at(tooDeep), code: 'TOO_DEEP', message: `nested more than ${MAX_YAML_DEPTH} levels deep; no setting goes that deep` }],
      text,
    );
  }
  if (tooMany !== undefined) {
    throw new YamlInputError(
      [
        {
          ...at(tooMany),
          code: 'TOO_MANY_TOKENS',
          message: `holds more than ${MAX_YAML_TOKENS.toLocaleString('en-US')} YAML tokens by here (a replication file or env.yaml has a few hundred): is this the right file?`,
        },
      ],
      text,
    );
  }
  for (const e of doc!.errors) problems.unshift({ ...at(e.pos[0]), code: e.code, message: bound(e.message.replace(/\s*\n[\s\S]*$/, '')) });
  if (problems.length === 0) problems.push(...duplicateKeys(doc!, at, opts.merge ?? false));
  if (problems.length > 0) throw new YamlInputError(problems, text);

  try {
    return doc!.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (!(err instanceof ReferenceError || err instanceof RangeError)) throw err;
    let first: { line: number; col: number } | undefined;
    visit(doc!, {
      Alias(_, node) {
        first = node.range ? at(node.range[0]) : undefined;
        return visit.BREAK;
      },
    });
    throw new YamlInputError(
      [
        {
          ...first,
          code: 'ALIAS_COUNT',
          message: `its aliases (*name) expand to too much (over ${MAX_ALIAS_COUNT} resolutions, as in a "billion laughs"): write the values out`,
        },
      ],
      text,
    );
  }
}

/** Keys repeated in one mapping, each reported at its second place; one pass over each mapping, no recursion. */
function duplicateKeys(doc: Document.Parsed, at: (offset: number) => { line: number; col: number }, merge: boolean): YamlProblem[] {
  const problems: YamlProblem[] = [];
  const pending: unknown[] = [doc.contents];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isSeq(node)) {
      pending.push(...node.items);
    } else if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        pending.push(pair.key, pair.value);
        const key = pair.key;
        if (!isScalar(key) && !isAlias(key)) continue;
        const name = isScalar(key) ? String(key.value) : `*${key.source}`;
        if (merge && name === '<<') continue;
        const offset = key.range?.[0] ?? 0;
        const first = seen.get(name);
        if (first === undefined) seen.set(name, offset);
        else
          problems.push({
            ...at(offset),
            code: 'DUPLICATE_KEY',
            message: `Map keys must be unique: ${echo(name)} is already on line ${at(first).line}; keep one`,
          });
      }
    }
  }
  return problems;
}

/**
 * `file:line:col: message` per problem (at most MAX_LISTED_PROBLEMS, then how many more), each with an excerpt of its
 * line (a window around the column, never the whole line) unless `quiet` (the text may hold secrets).
 */
export function formatYamlProblems(err: YamlInputError, source: string, opts: { quiet?: boolean } = {}): string[] {
  const lines = opts.quiet ? [] : err.text.split('\n');
  const listed = err.problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => {
    const where = p.line === undefined ? source : `${source}:${p.line}:${p.col}`;
    const line = p.line === undefined ? undefined : lines[p.line - 1];
    // a replication file holds names, not secrets, but a URL or key put where a name goes is not repeated
    return `${where}: ${p.message}${line === undefined ? '' : excerpt(line.replace(/\r$/, ''), p.col ?? 1)}`;
  });
  const more = err.problems.length - listed.length;
  if (more > 0) listed.push(`... and ${more} more`);
  return listed;
}

const EXCERPT_WIDTH = 80;

function excerpt(raw: string, col: number): string {
  const line = maskSecrets(raw);
  // the caret stays under its character when masking shortened what comes before it
  col = Math.min(maskSecrets(raw.slice(0, col - 1)).length + 1, line.length + 1);
  const start = Math.max(0, Math.min(col - 1 - EXCERPT_WIDTH / 2, line.length - EXCERPT_WIDTH));
  let shown = line.slice(start, start + EXCERPT_WIDTH).replace(/[\x00-\x1F\x7F]/g, ' ');
  let caret = col - 1 - start;
  if (start > 0) {
    shown = `…${shown}`;
    caret += 1;
  }
  if (start + EXCERPT_WIDTH < line.length) shown += '…';
  return `\n      ${shown}\n      ${' '.repeat(Math.max(0, caret))}^`;
}

// ---------------------------------------------------------------------------------------------------------------
// Echoing input in messages

/** the longest stretch of input a message repeats */
export const MAX_ECHO = 64;

/** Secret-looking parts of a value: a private key, a URL's password. */
export function maskSecrets(text: string): string {
  return text.replace(/pk_[A-Za-z0-9_-]{4,}/g, 'pk_***').replace(/(\/\/[^/:@\s]*):[^@/\s]*@/g, '$1:***@');
}

/** A value from the input as a message shows it: JSON-quoted (control characters escaped), cut, secrets masked. */
export function echo(value: unknown, max = MAX_ECHO): string {
  const text = maskSecrets(typeof value === 'string' ? value : String(value));
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  const quoted = JSON.stringify(cut);
  return text.length > max ? `${quoted} (${formatSize(text.length)} characters)` : quoted;
}

/** A key as a message path shows it: bare when it is a plain name, else echoed. */
export function echoKey(key: string): string {
  return /^[A-Za-z0-9_*-]{1,64}$/.test(key) && maskSecrets(key) === key ? key : echo(key);
}

/** Keys for "unknown keys a, b, c": each echoed, at most `max` listed. */
export function listKeys(keys: string[], max = 10): string {
  const listed = keys.slice(0, max).map(echoKey).join(', ');
  return keys.length > max ? `${listed} and ${formatSize(keys.length - max)} more` : listed;
}

/** Shortens a sentence from a library to a bounded length. */
export function bound(message: string, max = 200): string {
  const masked = maskSecrets(message);
  return masked.length > max ? `${masked.slice(0, max)}…` : masked;
}

function positionOf(text: string, index: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: index - lineStart + 1 };
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, '0');
}

function formatSize(n: number): string {
  return n.toLocaleString('en-US');
}
