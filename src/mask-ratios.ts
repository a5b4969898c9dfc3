/**
 * Which mask ratios a kernel module serves. A module holds encoder attention for a fixed set of
 * sequence lengths (1 + kept patches); a ratio r keeps trunc(L·(1−r)) patches, so each length serves
 * an interval of ratios. `edge-mae build --mask-ratios` chooses the set; the error for a ratio outside
 * it says what the module serves.
 */
import { ConfigError } from './errors.js';
import { checkMaskRatio, type MaeConfig } from './config.js';
import { lenKeep, shapesOf } from './shapes.js';

/** Encoder lengths for the config's own ratio, for all patches (encode), and for each of `maskRatios`. */
export function encoderLengthsFor(cfg: MaeConfig, maskRatios: readonly number[] = []): number[] {
  const L = shapesOf(cfg).numPatches;
  const lengths = new Set([1 + lenKeep(L, cfg.maskRatio), 1 + L]);
  for (const r of maskRatios) {
    checkMaskRatio(r);
    const keep = lenKeep(L, r);
    if (keep < 1) throw new ConfigError(`mask ratio ${r} keeps no patch of the ${L}; the encoder needs at least one`);
    lengths.add(1 + keep);
  }
  return [...lengths].sort((a, b) => a - b);
}

/** The ratios that keep `keep` of `L` patches, as text: "0" for all of them, else "(lo, hi]". */
function ratiosKeeping(keep: number, L: number): string {
  if (keep === L) return '0';
  const lo = 1 - (keep + 1) / L;
  const hi = 1 - keep / L;
  return `(${lo.toFixed(4)}, ${hi.toFixed(4)}]`;
}

/** "0 (all 49 patches), (0.7347, 0.7551] (12 kept)" for a module built with these encoder lengths. */
export function describeServedRatios(encoderLengths: readonly number[], L: number): string {
  return [...encoderLengths].sort((a, b) => b - a)
    .map((t) => t - 1)
    .map((keep) => `${ratiosKeeping(keep, L)} (${keep === L ? `all ${L} patches` : `${keep} kept`})`)
    .join(', ');
}
