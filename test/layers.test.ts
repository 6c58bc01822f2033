/**
 * The layers of README "How it works", checked on every import of the product's code: a module imports only from
 * its own layer or a lower one. Parsed with TypeScript itself (imports, `export ... from`, `require`, `import()`),
 * so `import type` is told apart: workflow code may name the activities' types, never load their code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..');

/** Bottom to top: a module may import its own layer and those before it. */
export const LAYERS = ['streams', 'lib', 'config', 'workflows', 'activities', 'worker', 'client'] as const;
type Layer = (typeof LAYERS)[number] | 'sandbox';

/** the sandbox is its own workspace package: the product imports it by name, through its public entry points only */
const SANDBOX_PACKAGE = '@klaviyo-sync/sandbox';
const SANDBOX_ENTRY_POINTS = [SANDBOX_PACKAGE, `${SANDBOX_PACKAGE}/cli`];
/** what workflow code may load (not only name as a type): deterministic modules without Node built-ins or I/O */
const WORKFLOW_VALUE_IMPORTS = [/^streams\//, /^workflows\//, /^lib\/retry-policy\.ts$/];

function layerOf(file: string): Layer | undefined {
  const top = file.split('/')[0];
  if (top === 'sandbox') return 'sandbox';
  return (LAYERS as readonly string[]).includes(top) ? (top as Layer) : undefined;
}

interface Import {
  specifier: string;
  typeOnly: boolean;
  line: number;
}

export function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: Import[] = [];
  const add = (lit: ts.Expression, typeOnly: boolean) => {
    if (ts.isStringLiteralLike(lit))
      found.push({ specifier: lit.text, typeOnly, line: sf.getLineAndCharacterOfPosition(lit.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name &&
            !!c.namedBindings &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      const isResolve =
        ts.isPropertyAccessExpression(callee) &&
        ts.isIdentifier(callee.expression) &&
        callee.expression.text === 'require' &&
        callee.name.text === 'resolve';
      if (isRequire || isResolve || callee.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The repository path a relative specifier names (`x`, `x.ts`, `x.json` or `x/index.ts`). */
function resolveRelative(from: string, specifier: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const c of [base, `${base}.ts`, `${base}/index.ts`]) {
    if (fs.existsSync(path.join(ROOT, c)) && fs.statSync(path.join(ROOT, c)).isFile()) return c;
  }
  return base;
}

/** Why this import breaks the layers, or undefined. */
export function violation(from: string, imp: Import): string | undefined {
  const source = layerOf(from);
  if (!source) return undefined;
  if (!imp.specifier.startsWith('.')) {
    if (source === 'lib' && imp.specifier.startsWith('@temporalio/'))
      return 'lib/ is plain libraries: no Temporal (map to Temporal failures in worker/)';
    if (imp.specifier === SANDBOX_PACKAGE || imp.specifier.startsWith(`${SANDBOX_PACKAGE}/`)) {
      if (source === 'sandbox') return 'the sandbox imports its own modules by relative path';
      return SANDBOX_ENTRY_POINTS.includes(imp.specifier)
        ? undefined
        : `only the sandbox's public entry points (${SANDBOX_ENTRY_POINTS.join(', ')}) may be imported`;
    }
    return undefined;
  }
  const target = resolveRelative(from, imp.specifier);
  const targetLayer = layerOf(target);
  if (target.startsWith('..')) return 'imports from outside the repository';
  if (source === 'sandbox') return targetLayer === 'sandbox' ? undefined : 'the sandbox is independent of the product';
  if (targetLayer === 'sandbox') return `the sandbox is a package of its own: import it by name (${SANDBOX_ENTRY_POINTS.join(', ')})`;
  if (!targetLayer) return target === 'package.json' ? undefined : `${target} belongs to no layer`;
  if (source === 'workflows') {
    if (imp.typeOnly)
      return LAYERS.indexOf(targetLayer as (typeof LAYERS)[number]) <= LAYERS.indexOf('activities')
        ? undefined
        : `workflows/ may name types of ${targetLayer}/ only up to activities/`;
    return WORKFLOW_VALUE_IMPORTS.some((re) => re.test(target))
      ? undefined
      : 'workflow code may load only streams/, workflows/ and lib/retry-policy.ts (import type for the rest)';
  }
  const up = LAYERS.indexOf(targetLayer as (typeof LAYERS)[number]) > LAYERS.indexOf(source as (typeof LAYERS)[number]);
  return up
    ? `an upward import: ${source}/ may import only ${LAYERS.slice(0, LAYERS.indexOf(source as (typeof LAYERS)[number]) + 1).join(', ')}`
    : undefined;
}

function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (/\.ts$/.test(e.name)) out.push(rel);
    }
  };
  for (const dir of [...LAYERS, 'sandbox']) walk(dir);
  return out;
}

void test('every import of the product goes to its own layer or a lower one', () => {
  const files = productFiles();
  assert.ok(files.length > 50);
  const problems: string[] = [];
  for (const file of files) {
    for (const imp of importsOf(file, fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const why = violation(file, imp);
      if (why) problems.push(`${file}:${imp.line} imports '${imp.specifier}': ${why}`);
    }
  }
  assert.deepEqual(problems, []);
});

void test('the check sees an upward import, a workflow loading activity code and a sandbox internal', () => {
  const check = (file: string, text: string) => importsOf(file, text).map((imp) => violation(file, imp));
  assert.match(String(check('activities/index.ts', `import { TASK_QUEUE } from '../client/temporal';`)[0]), /upward/);
  assert.match(String(check('lib/klaviyo/client.ts', `import { Context } from '@temporalio/activity';`)[0]), /no Temporal/);
  assert.match(String(check('workflows/replicate.ts', `import { createActivities } from '../activities';`)[0]), /may load only/);
  assert.equal(check('workflows/activities.ts', `import type { Activities } from '../activities';`)[0], undefined);
  assert.match(String(check('client/commands/demo.ts', `const a = require('../../sandbox/account');`)[0]), /package of its own/);
  assert.match(String(check('client/commands/demo.ts', `import { startSandbox } from '../../sandbox';`)[0]), /import it by name/);
  assert.match(
    String(check('client/commands/demo.ts', `import { advance } from '@klaviyo-sync/sandbox/account/account';`)[0]),
    /public entry points/,
  );
  assert.equal(check('client/commands/demo.ts', `import { startSandbox } from '@klaviyo-sync/sandbox';`)[0], undefined);
  assert.match(String(check('sandbox/http/admin.ts', `import { version } from '../../package.json';`)[0]), /independent/);
  assert.match(String(check('sandbox/http/api.ts', `import { STREAMS } from '../../streams/streams';`)[0]), /independent/);
});
