/**
 * What README.md states about the code, checked against the code: the figures it gives must be the defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { defaultDeps, PARTITIONS_PER_PREPARE } from '../activities';

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

void test('README gives the page budget of an activity call that the worker uses', () => {
  const m = /An activity pages for up to (\d+) pages or (\d+) s/.exec(README);
  assert.ok(m, 'README states the budget of a page activity');
  const deps = defaultDeps({});
  assert.deepEqual({ pages: Number(m[1]), seconds: Number(m[2]) }, { pages: deps.maxPagesPerCall, seconds: deps.maxSecondsPerCall });
});

void test('every `npm run` script README names exists', () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const named = [...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
  assert.ok(named.length > 0);
  for (const script of named) assert.ok(script in scripts, `README names npm run ${script}`);
});

void test('README gives the batch of partitions a prepare hands the stream workflow', () => {
  const m = /receives them at most (\d+) at a time/.exec(README);
  assert.ok(m, 'README states the batch');
  assert.equal(Number(m[1]), PARTITIONS_PER_PREPARE);
});
