import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { describe, optionError } from '../core/index.js';
import { fileWithin } from './paths.js';

/** The largest label file read: a label a line, far more than any model's classes need. */
const MAX_LABEL_FILE_BYTES = 16 * 2 ** 20;

/** A model's class label files, read. */
export interface ClassLabelFiles {
  /** Each output's class labels, by class index; undefined when config.json names no file. */
  readonly lists: Readonly<Record<string, readonly string[]>> | undefined;
  /** A digest of the files' text ('' without any), so that a changed file reloads the model. */
  readonly digest: string;
}

/**
 * Reads the label files config.json's `classLabels` names (an output's name → a file in the
 * model's directory), as Triton reads an output's `label_filename`: one label per line, its line
 * number the class index; a last line ending in a newline adds no class, an empty line is a class
 * with no label, and a line's `\r` before its `\n` is dropped (Triton keeps it in the label).
 * @throws TypeError starting with the config file and naming the field, for a file outside the model's directory, one that is not there, or one that holds more than {@link MAX_LABEL_FILE_BYTES}: the config's mistakes.
 * @throws Error starting with the config file and naming the field, with no option code, for a file that is there and cannot be read (no permission, a directory or a FIFO in its place): the server's files are at fault, not the config.
 */
export async function readClassLabels(dir: string, files: Readonly<Record<string, string>> | undefined, configFile: string): Promise<ClassLabelFiles> {
  if (files === undefined) return { lists: undefined, digest: '' };
  const hash = createHash('sha256');
  const lists: Record<string, readonly string[]> = {};
  for (const [output, name] of Object.entries(files)) {
    const file = await fileWithin(dir, name, `${configFile}: Expected \`classLabels.${output}\``);
    const text = await readLabelFile(file, configFile, `\`classLabels.${output}\` ${describe(name)}`);
    hash.update(`${output}\0${text}\0`);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    lists[output] = lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  }
  return { lists, digest: hash.digest('hex') };
}

/** The file system's answers for a name that leads to nothing: the config names a file that is not there. */
const NOT_THERE = new Set(['ENOENT', 'ENOTDIR']);

/**
 * The text of a label file, checked before it is read: a directory or a FIFO is no label file, and
 * a model file named by mistake would otherwise be read as labels, and hashed, at every scan.
 */
async function readLabelFile(file: string, configFile: string, field: string): Promise<string> {
  const cannotRead = (error: unknown) => {
    const message = `${configFile}: Cannot read ${field}: ${(error as Error).message}`;
    return Promise.reject(NOT_THERE.has((error as NodeJS.ErrnoException).code!) ? optionError(message, TypeError, { cause: error }) : new Error(message, { cause: error }));
  };
  const info = await stat(file).catch(cannotRead);
  if (!info.isFile()) throw new Error(`${configFile}: Cannot read ${field}: it is ${info.isDirectory() ? 'a directory, not a file' : 'not a regular file'}`);
  if (info.size > MAX_LABEL_FILE_BYTES) throw optionError(`${configFile}: Expected ${field} to be a label file of at most ${MAX_LABEL_FILE_BYTES} bytes, got ${info.size}`);
  return readFile(file, 'utf8').catch(cannotRead);
}
