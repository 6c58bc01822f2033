import { readInputFile } from '../../config/files';

/** The text of a config file, or an error that names the file and what is wrong with it (config/files.ts). */
export function readConfigFile(file: string): string {
  return readInputFile(file, 'a replication YAML (see README, "Replicating your account into Postgres")');
}
