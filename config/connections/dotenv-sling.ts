/**
 * Sling's project env file: `.env.sling` in the working directory, dotenv lines (`NAME=value`, quoted values may
 * span lines, `#` comments), read for connections as Sling reads it: a variable of the real environment wins over
 * the file's. Parsed by the dotenv package; never echoed (its values are secrets).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'dotenv';

export const DOTENV_SLING = '.env.sling';

/** The file's variables, or null when `cwd` has none. */
export function readDotenvSling(cwd: string): { file: string; vars: Record<string, string> } | null {
  const file = path.join(cwd, DOTENV_SLING);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return { file, vars: parse(text) };
}
