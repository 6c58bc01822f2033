/**
 * The workflow bundle a worker loads, built once per version of the workflow code and cached on disk, by a separate
 * short-lived process. Bundling (webpack) costs a worker about 120 MB of peak memory and 2-3 s at every start; done
 * in a child process, the worker's own memory stays that of the work it does (the benchmark's "peak RSS"), and a
 * fleet of workers of one version on one machine, or a test suite, bundles once.
 *
 * The cache key is a hash of every file the bundle can include (workflows/, streams/, lib/) and the Temporal SDK's
 * version and the bundler's own settings (build-workflow-bundle.ts), so a changed workflow can never run from a stale bundle. Written to a temporary name and renamed, so two
 * workers starting at once never read half a file.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '..');
/** the directories whose files workflow code may import (test/layers.test.ts holds workflows to them) */
const SOURCES = ['workflows', 'streams', 'lib'];

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/** An installed package's version, from its package.json (found from its entry point: not every package exports the file). */
function versionOf(pkg: string): string {
  for (let dir = path.dirname(require.resolve(pkg)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version: string };
    if (json.name === pkg) return json.version;
  }
  throw new Error(`no package.json of ${pkg}`);
}

/**
 * A hash of the workflow sources and the SDK version (with `tracing`, also of the OpenTelemetry packages the
 * tracing interceptors bundle): the bundle's identity.
 */
export function workflowSourceHash(tracing = false): string {
  const hash = createHash('sha256');
  hash.update(`@temporalio/workflow@${versionOf('@temporalio/workflow')}\n`);
  if (tracing) {
    for (const pkg of ['@temporalio/interceptors-opentelemetry', '@opentelemetry/api', '@opentelemetry/sdk-trace-base']) {
      hash.update(`${pkg}@${versionOf(pkg)}\n`);
    }
  }
  // and how it is bundled (its webpack settings)
  const files = [...SOURCES.flatMap((d) => filesUnder(path.join(ROOT, d))), path.join(__dirname, 'build-workflow-bundle.ts')];
  for (const file of files) {
    hash.update(`${path.relative(ROOT, file)}\n`);
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Where bundles are cached: `$KLAVIYO_SYNC_CACHE_DIR`, else `$XDG_CACHE_HOME/klaviyo-sync`, else the OS temp dir. */
export function bundleCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KLAVIYO_SYNC_CACHE_DIR) return env.KLAVIYO_SYNC_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'klaviyo-sync');
  return path.join(os.tmpdir(), `klaviyo-sync-cache-${os.userInfo().uid}`);
}

/**
 * The path of this version's bundle, built first (in a child `node` process) if the cache does not hold it. Returns
 * null when the child could not build it, so the worker falls back to bundling in-process (`workflowsPath`). With
 * `tracing`, the bundle with the OpenTelemetry workflow interceptors (worker/tracing.ts), cached under its own name.
 */
export async function cachedWorkflowBundle(env: NodeJS.ProcessEnv = process.env, tracing = false): Promise<string | null> {
  const dir = bundleCacheDir(env);
  const file = path.join(dir, `workflow-bundle-${tracing ? 'tracing-' : ''}${workflowSourceHash(tracing)}.js`);
  if (fs.existsSync(file)) return file;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'build-workflow-bundle.ts'), tmp, ...(tracing ? ['--tracing'] : [])],
      {
        cwd: ROOT,
        env: { ...env, NODE_OPTIONS: '' },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    fs.renameSync(tmp, file);
    return file;
  } catch {
    return null;
  }
}
