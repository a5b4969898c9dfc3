/** The cache key of a kernel module: what determines its kernels. Kept apart from ts-morph so a cache hit loads no generator. */
import { createHash } from 'node:crypto';
import { type MaeConfig, toHfJson } from '../src/config.js';

/** Bumped when the emitted code changes meaning in a way the source text alone would not show. */
export const GENERATOR_VERSION = 1;

/** Stable hash of the config's fields, the encoder lengths and the generator version. */
export function configHash(cfg: MaeConfig, encoderLengths: readonly number[]): string {
  const key = JSON.stringify({ config: toHfJson(cfg), encoderLengths, generator: GENERATOR_VERSION });
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
