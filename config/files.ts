/**
 * Reading the files a user names (a replication YAML, an env.yaml): bounded in size before anything is read, and
 * decoded as UTF-8 strictly, so an invalid byte is reported at its line and column instead of turning into U+FFFD.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { MAX_YAML_CHARS } from './input';

/** bytes: a YAML file no larger than the parser takes (MAX_YAML_CHARS characters) */
export const MAX_INPUT_FILE_BYTES = MAX_YAML_CHARS;

export class InputFileError extends Error {
  override name = 'InputFileError';
}

/** The text of `file` (a BOM dropped), or an InputFileError naming the file and what is wrong with it. */
export function readInputFile(file: string, what = 'a YAML file'): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new InputFileError(describeError(file, err, what));
  }
  let buffer: Buffer;
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new InputFileError(`${file} is a directory: give the path of ${what}`);
    if (stat.size > MAX_INPUT_FILE_BYTES) {
      throw new InputFileError(
        `${file} is ${megabytes(stat.size)} MB; ${what} is at most ${megabytes(MAX_INPUT_FILE_BYTES)} MB (a replication file is a few KB): is it the right file?`,
      );
    }
    buffer = fs.readFileSync(fd);
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    throw new InputFileError(describeError(file, err, what));
  } finally {
    fs.closeSync(fd);
  }
  // a file that grew since fstat, or a device that reports no size
  if (buffer.length > MAX_INPUT_FILE_BYTES) {
    throw new InputFileError(`${file} is over ${megabytes(MAX_INPUT_FILE_BYTES)} MB; ${what} is at most that`);
  }
  if (!isUtf8(buffer)) {
    const { line, col, byte } = firstInvalidUtf8(buffer);
    throw new InputFileError(
      `${file}:${line}:${col}: not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')}): save the file as UTF-8`,
    );
  }
  const text = buffer.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The line and column (in characters) of the first byte that is not UTF-8, and that byte. */
function firstInvalidUtf8(buffer: Buffer): { line: number; col: number; byte: number } {
  let i = 0;
  while (i < buffer.length) {
    const c = buffer[i];
    const continuation = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (continuation < 0) break;
    // isUtf8 on the one character also refuses overlong forms and surrogates
    if (continuation > 0 && (i + continuation >= buffer.length || !isUtf8(buffer.subarray(i, i + continuation + 1)))) break;
    i += continuation + 1;
  }
  const before = buffer.subarray(0, i);
  const lineStart = before.lastIndexOf(0x0a) + 1;
  let line = 1;
  for (let at = before.indexOf(0x0a); at !== -1; at = before.indexOf(0x0a, at + 1)) line++;
  return { line, col: before.subarray(lineStart).toString('utf8').length + 1, byte: buffer[i] ?? 0 };
}

function describeError(file: string, err: unknown, what: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${file} does not exist: give the path of ${what}`;
  if (code === 'EACCES') return `${file} cannot be read (permission denied): give a file you can read`;
  if (code === 'EISDIR') return `${file} is a directory: give the path of ${what}`;
  return `cannot read ${file}: ${(err as Error).message}`;
}

function megabytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
