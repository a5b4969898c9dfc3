/**
 * Mutation fuzz of the image decoders. Valid PNGs and JPEGs (the bundled samples, the test
 * fixtures, and generated interlaced, palette, 16-bit and 1-bit PNGs, which the fixtures lack) are
 * mutated with a seeded PRNG (bit flips, special bytes, insertions, deletions, truncation, chunk
 * and segment duplication, length-field changes; PNG CRCs are mostly recomputed so mutations
 * reach past the CRC check) and decoded with the server's limits. Every outcome must be a decoded
 * image whose header size (imageSize) is the decoded size, or an EdgeMaeError; anything else, or
 * a case slower than 1 s, is a failure: it is printed with its seed and case and its input
 * written to test-output/.
 *
 * Run: node dist/scripts/fuzz-images.js [--count N] [--seed S]
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zlibSync } from 'fflate';
import { EdgeMaeError } from '../src/errors.js';
import { uniform } from '../src/random.js';
import { crc32, decodeImage, sniffImageFormat } from '../src/image/decode.js';
import { imageSize } from '../src/image/image-size.js';
import { DEFAULT_SAMPLES_DIR, PACKAGE_ROOT } from '../src/node/paths.js';
import { DEFAULT_LIMITS } from '../src/serve/handler.js';

/** A case slower than this is a failure. */
export const SLOW_MS = 1000;

export interface FuzzOptions {
  count: number;
  seed: number;
  /** Where failing inputs are written (default test-output/ in the package). */
  outDir?: string;
  log?: (line: string) => void;
}

export interface FuzzCase {
  index: number;
  source: string;
  mutations: string[];
  ms: number;
}

export interface FuzzReport {
  cases: number;
  decoded: number;
  refused: number;
  failures: (FuzzCase & { problem: string; file: string })[];
  slowest: FuzzCase;
  seconds: number;
}

type Rng = () => number;

/** mulberry32 (src/random.ts), uniform in [0, 1). */
const mulberry32: (seed: number) => Rng = uniform;

const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const u32be = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
const readU32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const body = concat([Uint8Array.from(type, (c) => c.charCodeAt(0)), data]);
  return concat([u32be(data.length), body, u32be(crc32(body))]);
}

/** A valid PNG of random filtered rows: any bytes after a filter byte of 0–4 decode. */
function generatedPng(rng: Rng, width: number, height: number, colorType: number, depth: number, interlace: number): Uint8Array {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const passes = interlace ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  const rows: number[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const pw = width > x0! ? Math.ceil((width - x0!) / dx!) : 0;
    const ph = height > y0! ? Math.ceil((height - y0!) / dy!) : 0;
    if (pw === 0) continue;
    for (let y = 0; y < ph; y++) {
      rows.push(int(rng, 5));
      for (let i = 0; i < Math.ceil((pw * channels * depth) / 8); i++) rows.push(int(rng, 256));
    }
  }
  const ihdr = concat([u32be(width), u32be(height), Uint8Array.of(depth, colorType, 0, 0, interlace)]);
  const chunks = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), pngChunk('IHDR', ihdr)];
  if (colorType === 3) {
    chunks.push(pngChunk('PLTE', Uint8Array.from({ length: 3 << depth }, () => int(rng, 256))));
    chunks.push(pngChunk('tRNS', Uint8Array.from({ length: 1 << (depth - 1) }, () => int(rng, 256))));
  }
  chunks.push(pngChunk('IDAT', zlibSync(Uint8Array.from(rows))), pngChunk('IEND', new Uint8Array(0)));
  return concat(chunks);
}

/** The inputs to mutate, by name. */
export function fuzzSources(): { name: string; bytes: Uint8Array }[] {
  const sources: { name: string; bytes: Uint8Array }[] = [];
  const dirs = [DEFAULT_SAMPLES_DIR, join(PACKAGE_ROOT, 'test', 'fixtures', 'preprocess'), join(PACKAGE_ROOT, 'test', 'fixtures', 'jpeg')];
  for (const dir of dirs) {
    for (const f of readdirSync(dir).sort()) {
      if (/\.(png|jpe?g)$/i.test(f)) sources.push({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) });
    }
  }
  const rng = mulberry32(1);
  sources.push(
    { name: 'generated-rgb-interlaced-13x11.png', bytes: generatedPng(rng, 13, 11, 2, 8, 1) },
    { name: 'generated-palette4-trns-interlaced-9x7.png', bytes: generatedPng(rng, 9, 7, 3, 4, 1) },
    { name: 'generated-gray16-interlaced-7x5.png', bytes: generatedPng(rng, 7, 5, 0, 16, 1) },
    { name: 'generated-rgba16-6x4.png', bytes: generatedPng(rng, 6, 4, 6, 16, 0) },
    { name: 'generated-gray1-17x3.png', bytes: generatedPng(rng, 17, 3, 0, 1, 0) },
  );
  return sources;
}

/** [start, end) of each PNG chunk (length, type, data, CRC) as its length fields lay them out. */
function pngChunks(b: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 8; at + 12 <= b.length;) {
    const end = at + 12 + readU32(b, at);
    if (end > b.length) break;
    out.push([at, end]);
    at = end;
  }
  return out;
}

/** [start, end) of each JPEG segment: from its marker to the next marker (a scan keeps its entropy data). */
function jpegSegments(b: Uint8Array): [number, number][] {
  const starts: number[] = [];
  for (let i = 2; i + 1 < b.length; i++) {
    const m = b[i + 1]!;
    if (b[i] === 0xff && m !== 0 && m !== 0xff && !(m >= 0xd0 && m <= 0xd7)) starts.push(i);
  }
  return starts.map((s, k) => [s, starts[k + 1] ?? b.length]);
}

function recomputeCrcs(b: Uint8Array): void {
  for (const [start, end] of pngChunks(b)) b.set(u32be(crc32(b, start + 4, end - 4)), end - 4);
}

const SPECIAL = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** One random mutation of `b`; returns the new bytes and what was done. */
function mutate(rng: Rng, b: Uint8Array, format: 'png' | 'jpeg'): [Uint8Array, string] {
  // An earlier mutation may have truncated the input to nothing: there is no byte left to change.
  if (b.length === 0) return [b.slice(), 'empty'];
  const at = int(rng, b.length);
  const units = format === 'png' ? pngChunks(b) : jpegSegments(b);
  switch (int(rng, 8)) {
    case 0: {
      const out = b.slice();
      const n = 1 + int(rng, 8);
      for (let i = 0; i < n; i++) out[int(rng, b.length)]! ^= 1 << int(rng, 8);
      return [out, `flip ${n} bits`];
    }
    case 1: {
      const out = b.slice();
      out[at] = pick(rng, SPECIAL);
      return [out, `byte ${at} = 0x${out[at]!.toString(16)}`];
    }
    case 2: {
      const ins = Uint8Array.from({ length: 1 + int(rng, 16) }, () => (rng() < 0.3 ? 0xff : int(rng, 256)));
      return [concat([b.subarray(0, at), ins, b.subarray(at)]), `insert ${ins.length} at ${at}`];
    }
    case 3: {
      const n = 1 + int(rng, 64);
      return [concat([b.subarray(0, at), b.subarray(at + n)]), `delete ${n} at ${at}`];
    }
    case 4:
      return [b.slice(0, at), `truncate at ${at}`];
    case 5: {
      if (units.length === 0) return [b.slice(), 'no unit to duplicate'];
      const [s, e] = pick(rng, units);
      const times = rng() < 0.2 ? 1 + int(rng, 50) : 1;
      const copies = concat(new Array<Uint8Array>(times).fill(b.subarray(s, e)));
      const [where] = pick(rng, units);
      return [concat([b.subarray(0, where), copies, b.subarray(where)]), `duplicate ${format === 'png' ? 'chunk' : 'segment'} at ${s} ×${times}`];
    }
    default: {
      // Length fields: a PNG chunk's 4 bytes, a JPEG segment's 2.
      if (units.length === 0) return [b.slice(), 'no length field'];
      const [s] = pick(rng, units);
      const out = b.slice();
      if (format === 'png') {
        const old = readU32(b, s);
        const v = pick(rng, [0, 1, old + 1, old - 1, old + int(rng, 64) - 32, 0x7fffffff, 0x80000000, int(rng, 2 ** 32)]) >>> 0;
        out.set(u32be(v), s);
        return [out, `chunk length at ${s}: ${old} → ${v}`];
      }
      if (s + 4 > b.length) return [out, 'segment without a length'];
      const old = (b[s + 2]! << 8) | b[s + 3]!;
      const v = pick(rng, [0, 1, 2, old + 1, old - 1, old + int(rng, 64) - 32, 0xffff, int(rng, 65536)]) & 0xffff;
      out[s + 2] = v >> 8;
      out[s + 3] = v & 255;
      return [out, `segment length at ${s}: ${old} → ${v}`];
    }
  }
}

export function fuzzImages(opts: FuzzOptions): FuzzReport {
  const log = opts.log ?? (() => {});
  const outDir = opts.outDir ?? join(PACKAGE_ROOT, 'test-output');
  const limits = { maxSide: DEFAULT_LIMITS.maxImageSide };
  const sources = fuzzSources();
  const report: FuzzReport = { cases: 0, decoded: 0, refused: 0, failures: [], slowest: { index: -1, source: '', mutations: [], ms: 0 }, seconds: 0 };
  const t0 = performance.now();
  for (let index = 0; index < opts.count; index++) {
    // Each case has its own PRNG, so a case can be replayed from (seed, index) alone.
    const rng = mulberry32(Math.imul(opts.seed >>> 0, 0x9e3779b1) ^ index);
    const src = pick(rng, sources);
    const format = sniffImageFormat(src.bytes)!;
    let bytes = src.bytes;
    const mutations: string[] = [];
    for (let k = 1 + int(rng, 3); k > 0; k--) {
      const [next, what] = mutate(rng, bytes, format);
      bytes = next;
      mutations.push(what);
    }
    if (format === 'png' && rng() < 0.8) {
      bytes = bytes.slice();
      recomputeCrcs(bytes);
      mutations.push('CRCs recomputed');
    }
    let problem: string | undefined;
    const start = performance.now();
    try {
      const img = decodeImage(bytes, src.name, limits);
      const size = imageSize(bytes);
      if (!size || size.width !== img.width || size.height !== img.height) {
        problem = `decoded ${img.width}×${img.height} but imageSize says ${size ? `${size.width}×${size.height}` : 'nothing'}`;
      }
      report.decoded++;
    } catch (e) {
      if (e instanceof EdgeMaeError) report.refused++;
      else problem = `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    }
    const ms = performance.now() - start;
    report.cases++;
    const c: FuzzCase = { index, source: src.name, mutations, ms };
    if (ms > report.slowest.ms) report.slowest = c;
    if (!problem && ms > SLOW_MS) problem = `took ${ms.toFixed(0)} ms`;
    if (problem) {
      mkdirSync(outDir, { recursive: true });
      const file = join(outDir, `fuzz-${opts.seed}-${index}.${format === 'png' ? 'png' : 'jpg'}`);
      writeFileSync(file, bytes);
      report.failures.push({ ...c, problem, file });
      log(`FAIL seed ${opts.seed} case ${index} (${src.name}: ${mutations.join(', ')}): ${problem} → ${file}`);
    }
    if ((index + 1) % 5000 === 0) log(`${index + 1} cases, ${report.failures.length} failures, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

function main(argv: string[]): number {
  const arg = (flag: string, dflt: number): number => {
    const i = argv.indexOf(flag);
    if (i < 0) return dflt;
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer, got '${argv[i + 1] ?? ''}'`);
    return v;
  };
  const count = arg('--count', 30_000);
  const seed = arg('--seed', 1);
  const r = fuzzImages({ count, seed, log: (line) => console.log(line) });
  const s = r.slowest;
  console.log(
    `fuzz-images: ${r.cases} cases (seed ${seed}) in ${r.seconds.toFixed(1)} s: ${r.decoded} decoded, ${r.refused} refused with typed errors, ` +
      `${r.failures.length} failures; slowest ${s.ms.toFixed(1)} ms (case ${s.index}: ${s.source}, ${s.mutations.join(', ')})`,
  );
  return r.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
