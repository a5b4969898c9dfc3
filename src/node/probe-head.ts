/** Probe heads from files (Node): a head file, or a model folder's probe-head.safetensors when it has one. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ProbeHead, PROBE_HEAD_FILE, parseProbeHead } from '../probe/head.js';
import { readBytes } from './regular-file.js';

/** A head file is small (K·D floats): anything past this is refused unread. */
export const MAX_PROBE_HEAD_BYTES = 256 * 2 ** 20;

export function loadProbeHead(path: string): ProbeHead {
  return parseProbeHead(readBytes(path, 'probe head', MAX_PROBE_HEAD_BYTES), path);
}

/** The model folder's probe-head.safetensors, or undefined when it has none (e.g. for createHandler's `head`). */
export function findProbeHead(modelDir: string): ProbeHead | undefined {
  const path = join(modelDir, PROBE_HEAD_FILE);
  return existsSync(path) ? loadProbeHead(path) : undefined;
}
