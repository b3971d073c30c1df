import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelNotFoundError } from '../core/index.js';
import { fileWithin, isModelName, isWithin, modelDir, VERSION_NAME } from './paths.js';

/** One version directory as found on disk. */
export interface VersionOnDisk {
  readonly version: string;
  /** The version's directory. */
  readonly dir: string;
  /** The model file's path (it may not exist yet). */
  readonly modelPath: string;
  /** True when the model file exists. */
  readonly hasModel: boolean;
  /**
   * Where the model file lies, and the sizes and modification times of every file in the directory:
   * changes when any file does, or when the version moves (a copy keeping the times, then a swap).
   */
  readonly fingerprint: string;
  /** The model file's size in bytes (0 when missing). */
  readonly sizeBytes: number;
}

/** A model directory as found on disk. */
export interface ModelOnDisk {
  readonly name: string;
  readonly dir: string;
  readonly configFile: string;
  readonly configText: string;
}

/** The names of the model directories under `root` that hold a `config.json`, sorted. */
export async function listModels(root: string): Promise<string[]> {
  return (await listModelDirs(root)).models;
}

/**
 * The model directories under `root`, sorted: `models` hold a `config.json`; `configless` hold
 * none but look like a Triton model (a `config.pbtxt`, or a version directory named by digits,
 * which Triton's auto-complete would serve), so that they are reported rather than passed by.
 */
export async function listModelDirs(root: string): Promise<{ models: string[]; configless: string[] }> {
  const entries = await readdir(root, { withFileTypes: true });
  const models: string[] = [];
  const configless: string[] = [];
  for (const entry of entries) {
    if (!isModelName(entry.name) || !(entry.isDirectory() || entry.isSymbolicLink())) continue;
    try {
      const dir = await modelDir(root, entry.name);
      if (await isFile(path.join(dir, 'config.json'))) models.push(entry.name);
      else if ((await isFile(path.join(dir, 'config.pbtxt'))) || (await hasVersionDir(dir))) configless.push(entry.name);
    } catch {
      // Not a model directory (a link outside the root, unreadable): not listed.
    }
  }
  return { models: models.sort(), configless: configless.sort() };
}

const isFile = (file: string): Promise<boolean> => stat(file).then((info) => info.isFile(), () => false);

async function hasVersionDir(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.some((e) => VERSION_NAME.test(e.name) && (e.isDirectory() || e.isSymbolicLink()));
}

/** The file system's errors for a `config.json` that is not there to read. */
const NOT_A_CONFIG = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/**
 * Reads a model's directory and its `config.json`.
 * @throws ModelNotFoundError for a name that is not a model directory inside the root, a file, or one with no config.json file (a Triton model's config.pbtxt is named); the file system's error when config.json cannot be read.
 */
export async function readModel(root: string, name: string): Promise<ModelOnDisk> {
  const dir = await modelDir(root, name);
  const configFile = path.join(dir, 'config.json');
  try {
    return { name, dir, configFile, configText: await readFile(configFile, 'utf8') };
  } catch (error) {
    // No such file, a name that is a file (ENOTDIR), a config.json that is a directory: no model, and no server path quoted.
    if (!NOT_A_CONFIG.has((error as NodeJS.ErrnoException).code!)) throw error;
    const triton = await isFile(path.join(dir, 'config.pbtxt'));
    const hint = triton ? " (its config.pbtxt is Triton's, which servable does not read: see docs/registry.md)" : '';
    throw new ModelNotFoundError(`Model '${name}' has no config.json in the repository${hint}`);
  }
}

/** The version directories of a model (named by digits), each with its model file's state. */
export async function listVersions(dir: string, modelFile: string, root: string): Promise<VersionOnDisk[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const versions: VersionOnDisk[] = [];
  for (const entry of entries) {
    if (!VERSION_NAME.test(entry.name) || !(entry.isDirectory() || entry.isSymbolicLink())) continue;
    const versionDir = path.join(dir, entry.name);
    let modelPath: string;
    try {
      modelPath = await fileWithin(versionDir, modelFile, `Expected \`modelFile\``);
      if (!isWithin(root, modelPath)) continue;
    } catch {
      continue;
    }
    const files = await readdir(versionDir, { withFileTypes: true }).catch(() => []);
    const parts: string[] = [modelPath];
    let sizeBytes = 0;
    let hasModel = false;
    for (const file of files.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const info = await stat(path.join(versionDir, file.name)).catch(() => undefined);
      if (!info) continue;
      parts.push(`${file.name}:${info.size}:${info.mtimeMs}`);
      if (file.name === modelFile) {
        hasModel = info.isFile();
        sizeBytes = info.size;
      }
    }
    versions.push({ version: entry.name, dir: versionDir, modelPath, hasModel, fingerprint: parts.join('|'), sizeBytes });
  }
  return versions;
}

/** How deep {@link digestFiles} reads into a version's subdirectories. */
const DIGEST_DEPTH = 8;

/**
 * A digest of the names and bytes of the files under `dir` (its subdirectories to a depth of 8,
 * each directory read once however many links lead to it, so a link back up reads nothing again):
 * what tells a version whose files were rewritten as they were (a Kubernetes volume update gives
 * every file a new modification time) from one whose bytes changed.
 */
export async function digestFiles(dir: string): Promise<string> {
  const hash = createHash('sha256');
  await digestInto(hash, dir, '', 0, new Set());
  return hash.digest('hex');
}

async function digestInto(hash: ReturnType<typeof createHash>, dir: string, prefix: string, depth: number, seen: Set<string>): Promise<void> {
  const real = await realpath(dir);
  if (seen.has(real)) return;
  seen.add(real);
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      hash.update(`${prefix}${name}/\0`);
      if (depth < DIGEST_DEPTH) await digestInto(hash, file, `${prefix}${name}/`, depth + 1, seen);
    } else if (info?.isFile()) {
      hash.update(`${prefix}${name}\0${info.size}\0`);
      for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    }
  }
}
