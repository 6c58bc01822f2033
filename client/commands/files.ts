import fs from 'node:fs';

/** The text of a config file, or an error that says which file is missing. */
export function readConfigFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(`${file} does not exist: give the path of a replication YAML (see README, "Replicating your account into Postgres")`);
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
}
