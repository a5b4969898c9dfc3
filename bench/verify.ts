/**
 * Before anything is timed: do the three engines compute the same function? On the golden cases
 * (test/fixtures/golden/{tiny,small}: the authors' PyTorch outputs for given weights, pixels and
 * noise), the tfjs model (tfjs-mae.ts) and the ONNX model (onnx-graph.ts on onnxruntime-web) must
 * reproduce the reference `pred` within 1e-4 (max |x − ref|), with the reference's own ids_keep /
 * ids_restore / mask; latent, latent_all (encoder on all patches) and both losses are reported
 * too, and edge-mae (MaeModel, both SIMD variants) is run on the same inputs for comparison.
 *
 * Run alone: `node dist/bench/verify.js` (exit status 1 when a check fails).
 */
import v8 from 'node:v8';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config.js';
import { MaeModel } from '../src/node/index.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { loadWeights } from '../src/weights.js';
import { type Tf, initOrt, initTfjs } from './engines.js';
import { maeModel } from './onnx-graph.js';
import { OrtMae } from './ort-mae.js';
import { TfjsMae } from './tfjs-mae.js';
import { log, sectionMain } from './timing.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GOLDEN_DIR = join(ROOT, 'test', 'fixtures', 'golden');
/** The bound the tfjs and ONNX models must meet on `pred` before they are timed. */
export const PRED_TOL = 1e-4;

export interface Errors { maxAbs: number; maxScaled: number }

export function compare(actual: ArrayLike<number>, ref: ArrayLike<number>): Errors {
  if (actual.length !== ref.length) return { maxAbs: Infinity, maxScaled: Infinity };
  let maxAbs = 0, maxScaled = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(actual[i] - ref[i]);
    if (!(e <= maxAbs)) maxAbs = Number.isNaN(e) ? Infinity : e;
    const s = e / (1 + Math.abs(ref[i]));
    if (!(s <= maxScaled)) maxScaled = Number.isNaN(s) ? Infinity : s;
  }
  return { maxAbs, maxScaled };
}

export interface EngineCheck {
  pred: Errors;
  latent: Errors;
  latentAll: Errors;
  loss: number;
  lossNormPix: number;
  /** pred within PRED_TOL. */
  pass: boolean;
}

export interface VerifyResult {
  tolerance: number;
  cases: Record<string, Record<string, EngineCheck>>;
  /** tfjs and ONNX pass on every case. */
  pass: boolean;
  /**
   * Why tfjs-mae.ts transposes its weights at load: max |Δ| of tfjs-wasm's fused matMul against
   * matMul + add, with transposeB and a bias (wrong in 4.22), and without transposeB.
   */
  tfjsFusedMatMulTransposeBBias: { withTransposeB: number; withoutTransposeB: number };
}

type Engine = {
  /** Image n of the case: its pixels, the reference's masking indices and mask. */
  forward: (n: number, px: Float32Array, keep: Int32Array, restore: Int32Array, mask: Float32Array) => Promise<{ latent: Float32Array; pred: Float32Array; loss: number; lossNormPix: number }>;
  encode: (px: Float32Array) => Promise<Float32Array>;
  dispose: () => Promise<void> | void;
};

export async function runVerify(cases: readonly string[] = ['tiny', 'small']): Promise<VerifyResult> {
  const { tf } = await initTfjs(1);
  const { ort } = await initOrt(1);
  const out: VerifyResult = { tolerance: PRED_TOL, cases: {}, pass: true, tfjsFusedMatMulTransposeBBias: fusedProbe(tf) };
  log(`tfjs fused matMul + bias, |Δ| vs matMul + add: with transposeB ${out.tfjsFusedMatMulTransposeBBias.withTransposeB.toExponential(2)}, without ${out.tfjsFusedMatMulTransposeBBias.withoutTransposeB.toExponential(2)}`);
  for (const name of cases) {
    const dir = join(GOLDEN_DIR, name);
    const cfg = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), name);
    const weights = loadWeights(SafetensorsFile.parse(new Uint8Array(readFileSync(join(dir, 'model.safetensors')))), cfg);
    const io = SafetensorsFile.parse(new Uint8Array(readFileSync(join(dir, 'io.safetensors'))));
    const [N, L] = io.info('noise').shape;
    const keep = io.info('ids_keep').shape[1];
    const per = cfg.numChannels * cfg.imageSize * cfg.imageSize;
    const pixels = io.f32('pixel_values'), noise = io.f32('noise'), mask = io.f32('mask');
    const idsKeep = Int32Array.from(io.i64('ids_keep'), Number), idsRestore = Int32Array.from(io.i64('ids_restore'), Number);

    const tfjs = new TfjsMae(tf, cfg, weights);
    const onnx = await OrtMae.create(ort, cfg, { forward: maeModel(cfg, weights, { keep }), encoder: maeModel(cfg, weights, { keep: L, encoderOnly: true }) });
    const engines: Record<string, Engine> = {
      'tfjs-wasm': { forward: async (_n, ...a) => tfjs.forward(...a), encode: async (px) => tfjs.encode(px), dispose: () => tfjs.dispose() },
      'ort-web': { forward: (_n, ...a) => onnx.forward(...a), encode: (px) => onnx.encode(px), dispose: () => onnx.release() },
    };
    for (const simd of ['simd128', 'relaxed'] as const) {
      const model = await MaeModel.load({ model: dir, simd });
      // edge-mae masks from the noise itself (its own argsort), as in the golden tests.
      engines[`edge-mae-${simd}`] = {
        forward: (n, px) => model.forward(px, { batch: 1, noise: noise.subarray(n * L, (n + 1) * L) }),
        encode: (px) => model.encode(px, { batch: 1 }),
        dispose: () => model.dispose(),
      };
    }

    const checks: Record<string, EngineCheck> = {};
    for (const [engine, e] of Object.entries(engines)) {
      const pred = new Float32Array(io.f32('pred').length), latent = new Float32Array(io.f32('latent').length), latentAll = new Float32Array(io.f32('latent_all').length);
      let lossNum = 0, lossNormNum = 0, den = 0;
      for (let n = 0; n < N; n++) {
        const px = pixels.subarray(n * per, (n + 1) * per);
        const m = mask.subarray(n * L, (n + 1) * L);
        const r = await e.forward(n, px, idsKeep.subarray(n * keep, (n + 1) * keep), idsRestore.subarray(n * L, (n + 1) * L), m);
        pred.set(r.pred, n * r.pred.length);
        latent.set(r.latent, n * r.latent.length);
        const all = await e.encode(px);
        latentAll.set(all, n * all.length);
        // The reference's losses pool the batch: Σ mask·mse / Σ mask.
        const removed = m.reduce((a, b) => a + b, 0);
        lossNum += r.loss * removed; lossNormNum += r.lossNormPix * removed; den += removed;
      }
      const p = compare(pred, io.f32('pred'));
      checks[engine] = {
        pred: p,
        latent: compare(latent, io.f32('latent')),
        latentAll: compare(latentAll, io.f32('latent_all')),
        loss: Math.abs(lossNum / den - io.f32('loss')[0]),
        lossNormPix: Math.abs(lossNormNum / den - io.f32('loss_norm_pix')[0]),
        pass: p.maxAbs <= PRED_TOL,
      };
      await e.dispose();
      log(`verify ${name} ${engine}: pred max|Δ| ${p.maxAbs.toExponential(2)}, latent ${checks[engine].latent.maxAbs.toExponential(2)}, latent_all ${checks[engine].latentAll.maxAbs.toExponential(2)}, loss ${checks[engine].loss.toExponential(2)} → ${checks[engine].pass ? 'ok' : 'FAIL'}`);
      if (!checks[engine].pass && !engine.startsWith('edge-mae')) out.pass = false;
    }
    out.cases[name] = checks;
  }
  return out;
}

function fusedProbe(tf: Tf): VerifyResult['tfjsFusedMatMulTransposeBBias'] {
  return tf.tidy(() => {
    const a = tf.tensor2d(Float32Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i)), [5, 8]);
    const w = tf.tensor2d(Float32Array.from({ length: 6 * 8 }, (_, i) => Math.cos(i)), [6, 8]); // [out, in]
    const b = tf.tensor1d(Float32Array.from({ length: 6 }, (_, i) => i - 2.5));
    const ref = tf.add(tf.matMul(a, w, false, true), b);
    const diff = (y: ReturnType<Tf['fused']['matMul']>): number => tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0];
    return {
      withTransposeB: diff(tf.fused.matMul({ a, b: w, transposeB: true, bias: b })),
      withoutTransposeB: diff(tf.fused.matMul({ a, b: tf.transpose(w), bias: b })),
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await sectionMain('verify', async () => {
    const r = await runVerify();
    if (!r.pass) process.exitCode = 1;
    return r;
  });
}
