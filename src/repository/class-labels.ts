import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe } from '../core/index.js';
import { fileWithin } from './paths.js';

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
 * @throws TypeError starting with the config file and naming the field, for a file outside the model's directory or one that cannot be read.
 */
export async function readClassLabels(dir: string, files: Readonly<Record<string, string>> | undefined, configFile: string): Promise<ClassLabelFiles> {
  if (files === undefined) return { lists: undefined, digest: '' };
  const hash = createHash('sha256');
  const lists: Record<string, readonly string[]> = {};
  for (const [output, name] of Object.entries(files)) {
    const file = await fileWithin(dir, name, `${configFile}: Expected \`classLabels.${output}\``);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new TypeError(`${configFile}: Cannot read \`classLabels.${output}\` ${describe(name)}: ${(error as Error).message}`, { cause: error });
    }
    hash.update(`${output}\0${text}\0`);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    lists[output] = lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  }
  return { lists, digest: hash.digest('hex') };
}
