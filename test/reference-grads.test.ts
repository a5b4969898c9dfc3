/**
 * The float64 reference backward (test/reference/mae-backward.ts) against PyTorch autograd through
 * the authors' code (golden grads.safetensors, both losses, one AdamW step), against central finite
 * differences of the float64 forward on odd configs, and proof that the golden check catches a
 * wrong op backward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig, shapesOf, type MaeConfig } from '../src/config.js';
import type { SafetensorsFile } from '../src/safetensors.js';
import { loadWeights } from '../src/weights.js';
import { GOLDEN, goldenCase, readTensors } from './helpers.js';
import {
  adamwStep, attentionBackward, decays, EXACT_OPS, forwardWithTape, hfTensors, paramsFromHf, paramsFromWeights, referenceGradients,
  referenceLosses, type BackwardOps, type MaeGrads, type MaeParams, type Tensor64,
} from './reference/mae-backward.js';
import { mulberry32, randomWeights, referenceForward } from './reference/mae-reference.js';

// ─── bounds (../shared/golden/README.md, grads.safetensors) ──────────────────────────────────
/** Per tensor T: |x − g| ≤ 2e-5·max|g_T|; float32 noise in the files is ≤ 9.6e-7·max|g_T|. */
const GRAD_TOL = 2e-5;
/** AdamW fed the file's own gradients: float64 vs torch float32 arithmetic only. */
const ADAMW_SAME_GRAD_TOL = 5e-7;
/** AdamW from our gradients: 1e-6 where |g| ≥ 1e-5; elsewhere the step ≈ lr·sign(g) hinges on rounding. */
const ADAMW_TOL = 1e-6;
const ADAMW_SMALL_GRAD = 1e-5;
const LOSS_AFTER_TOL = 1e-5;

/** Worst |x − g| / scale over a tensor, and where. */
function worst(actual: ArrayLike<number>, golden: ArrayLike<number>, scale: number): { ratio: number; at: number } {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < golden.length; i++) {
    const r = Math.abs(actual[i]! - golden[i]!) / scale;
    if (!(r <= ratio)) [ratio, at] = [r, i];
  }
  return { ratio, at };
}

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

/** `*.key.bias` has an analytically zero gradient (float32 residue in the file): scale it by the same layer's key.weight. */
const scaleName = (name: string): string => (name.endsWith('.key.bias') ? name.replace(/\.key\.bias$/, '.key.weight') : name);

/** The largest per-tensor ratio max|x − g| / (2e-5·max|g_T|) of grads against a file's `prefix/*`; ≤ 1 passes. */
function gradCheck(cfg: MaeConfig, grads: MaeGrads, file: SafetensorsFile, prefix: string): { ratio: number; name: string; detail: string } {
  const ours = hfTensors(cfg, grads);
  const names = file.names().filter((k) => k.startsWith(`${prefix}/`)).map((k) => k.slice(prefix.length + 1));
  assert.deepEqual(Object.keys(ours).sort(), names.sort(), `${prefix}: the same parameter names`);
  let result = { ratio: 0, name: '', detail: '' };
  for (const name of names) {
    assert.deepEqual(ours[name]!.shape, file.info(`${prefix}/${name}`).shape, `${prefix}/${name}: shape`);
    const golden = file.f32(`${prefix}/${name}`);
    const scale = maxAbs(file.f32(`${prefix}/${scaleName(name)}`));
    const w = worst(ours[name]!.data, golden, GRAD_TOL * scale);
    if (w.ratio > result.ratio) result = { ratio: w.ratio, name, detail: `at ${w.at}: ${ours[name]!.data[w.at]} vs ${golden[w.at]}, max|g_T| ${scale}` };
  }
  return result;
}

interface Golden {
  cfg: MaeConfig;
  params: MaeParams;
  pixels: Float32Array;
  noise: Float32Array;
  n: number;
  grads: SafetensorsFile;
}

function loadGolden(name: string): Golden {
  const { cfg, io } = goldenCase(name);
  const params = paramsFromWeights(loadWeights(readTensors(join(GOLDEN, name, 'model.safetensors')), cfg));
  return { cfg, params, pixels: io.f32('pixel_values'), noise: io.f32('noise'), n: io.info('pixel_values').shape[0]!, grads: readTensors(join(GOLDEN, name, 'grads.safetensors')) };
}

for (const name of ['tiny', 'small'] as const) {
  test(`${name}: gradients of both losses and one AdamW step match PyTorch autograd`, () => {
    const g = loadGolden(name);
    const { cfg, params, pixels, noise, n, grads: file } = g;

    // The taped forward is the reference forward, bit for bit.
    const ref = referenceForward(cfg, loadWeights(readTensors(join(GOLDEN, name, 'model.safetensors')), cfg), pixels, noise, n, cfg.maskRatio);
    const r = referenceGradients(cfg, params, pixels, noise, n, cfg.maskRatio);
    assert.deepEqual(r.tape.pred, ref.pred, 'taped pred = referenceForward pred');
    assert.equal(r.loss, ref.loss);
    assert.equal(r.lossNormPix, ref.lossNormPix);

    for (const [prefix, grads] of [['grad', r.grad], ['grad_norm_pix', r.gradNormPix]] as const) {
      const c = gradCheck(cfg, grads, file, prefix);
      assert.ok(c.ratio <= 1, `${prefix}/${c.name}: ${(c.ratio * GRAD_TOL).toExponential(2)}·max|g_T| > ${GRAD_TOL} (${c.detail})`);
    }

    // The file's optimiser settings are the defaults of adamwStep.
    const meta = file.metadata;
    assert.deepEqual([meta.betas, meta.eps, meta.weight_decay], ['0.9,0.95', '1e-08', '0.05']);
    const lr = Number(meta.lr);
    const hfParams = hfTensors(cfg, params);
    const fileGrads = Object.fromEntries(Object.keys(hfTensors(cfg, r.grad)).map((k) => [k, file.f32(`grad/${k}`)]));
    const stepSameGrads = adamwStep(hfParams, fileGrads, lr);
    const stepOurs = adamwStep(hfParams, Object.fromEntries(Object.entries(hfTensors(cfg, r.grad)).map(([k, t]) => [k, t.data])), lr);
    for (const k of Object.keys(fileGrads)) {
      const golden = file.f32(`adamw1/${k}`);
      const same = worst(stepSameGrads[k]!.data, golden, 1);
      assert.ok(same.ratio <= ADAMW_SAME_GRAD_TOL, `adamw1/${k} from the file's grad: |Δ| ${same.ratio} at ${same.at}`);
      const grad = fileGrads[k]!;
      for (let i = 0; i < golden.length; i++) {
        const bound = Math.abs(grad[i]!) >= ADAMW_SMALL_GRAD ? ADAMW_TOL : 2 * lr + ADAMW_TOL;
        const d = Math.abs(stepOurs[k]!.data[i]! - golden[i]!);
        if (!(d <= bound)) assert.fail(`adamw1/${k}[${i}] from our grad: |Δ| ${d} > ${bound} (g ${grad[i]})`);
      }
    }
    // The position tables are frozen: no gradient, unchanged by the step.
    assert.deepEqual(stepOurs['decoder.decoder_pos_embed']!.data, hfParams['decoder.decoder_pos_embed']!.data);
    const after = referenceLosses(cfg, paramsFromHf(cfg, params, stepOurs), pixels, noise, n, cfg.maskRatio);
    const goldenAfter = file.f32('loss_after_adamw1')[0]!;
    assert.ok(Math.abs(after.loss - goldenAfter) <= LOSS_AFTER_TOL, `loss_after_adamw1 ${after.loss} vs ${goldenAfter}`);
    assert.ok(goldenAfter < r.loss, 'the step lowers the loss');
  });
}

// ─── mistakes the golden check catches ───────────────────────────────────────────────────────

/** The tanh-approximation GELU's derivative, a plausible kernel mistake. */
function tanhGeluDerivative(x: number): number {
  const k = Math.sqrt(2 / Math.PI);
  const t = Math.tanh(k * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

/** Softmax backward without the rowsum term, dS = A ⊙ dA: dV as the exact backward, dQ and dK from that dS. */
const noRowsumAttentionBackward: typeof attentionBackward = (dOut, qkv, probs, n, tokens, dim, heads) => {
  const d = dim / heads;
  const scale = 1 / Math.sqrt(d);
  const dqkv = attentionBackward(dOut, qkv, probs, n, tokens, dim, heads); // dV kept, dQ and dK overwritten
  for (let img = 0; img < n; img++) {
    for (let h = 0; h < heads; h++) {
      const A = (i: number, j: number) => probs[((img * heads + h) * tokens + i) * tokens + j]!;
      const at = (t: number, part: number, c: number) => (img * tokens + t) * 3 * dim + part * dim + h * d + c;
      const dS = new Float64Array(tokens * tokens);
      for (let i = 0; i < tokens; i++) {
        for (let j = 0; j < tokens; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += dOut[(img * tokens + i) * dim + h * d + c]! * qkv[at(j, 2, c)]!;
          dS[i * tokens + j] = A(i, j) * s;
        }
      }
      for (let t = 0; t < tokens; t++) {
        for (let c = 0; c < d; c++) {
          let dq = 0;
          let dk = 0;
          for (let u = 0; u < tokens; u++) {
            dq += dS[t * tokens + u]! * qkv[at(u, 1, c)]!;
            dk += dS[u * tokens + t]! * qkv[at(u, 0, c)]!;
          }
          dqkv[at(t, 0, c)] = scale * dq;
          dqkv[at(t, 1, c)] = scale * dk;
        }
      }
    }
  }
  return dqkv;
};

test('tiny: the golden gradient check fails a tanh GELU derivative and a softmax backward without the rowsum', () => {
  const { cfg, params, pixels, noise, n, grads: file } = loadGolden('tiny');
  const mistakes: [string, BackwardOps][] = [
    ['tanh GELU derivative', { ...EXACT_OPS, geluDerivative: tanhGeluDerivative }],
    ['softmax backward without rowsum', { ...EXACT_OPS, attentionBackward: noRowsumAttentionBackward }],
  ];
  for (const [what, ops] of mistakes) {
    const r = referenceGradients(cfg, params, pixels, noise, n, cfg.maskRatio, { ops });
    const c = gradCheck(cfg, r.grad, file, 'grad');
    assert.ok(c.ratio > 1, `${what}: the check should fail, but the worst tensor ${c.name} is at ${c.ratio}× the bound`);
  }
  // AdamW without weight decay fails the optimiser check (the decay moves weights by lr·wd·|p|).
  const hfParams = hfTensors(cfg, params);
  const fileGrads = Object.fromEntries(Object.keys(hfTensors(cfg, referenceGradients(cfg, params, pixels, noise, n, cfg.maskRatio).grad)).map((k) => [k, file.f32(`grad/${k}`)]));
  const noDecay = adamwStep(hfParams, fileGrads, Number(file.metadata.lr), { weightDecay: 0 });
  const worstNoDecay = Math.max(...Object.keys(fileGrads).map((k) => worst(noDecay[k]!.data, file.f32(`adamw1/${k}`), 1).ratio));
  assert.ok(worstNoDecay > ADAMW_SAME_GRAD_TOL, `no weight decay: ${worstNoDecay}`);
});

test('the weight-decay rule: ≥ 2-D tensors (cls and mask tokens included), not biases or 1-D', () => {
  assert.equal(decays('vit.embeddings.cls_token', [1, 1, 64]), true);
  assert.equal(decays('decoder.mask_token', [1, 1, 32]), true);
  assert.equal(decays('vit.embeddings.patch_embeddings.projection.weight', [64, 3, 4, 4]), true);
  assert.equal(decays('vit.encoder.layer.0.attention.attention.query.weight', [64, 64]), true);
  assert.equal(decays('vit.encoder.layer.0.attention.attention.query.bias', [64]), false);
  assert.equal(decays('vit.encoder.layer.0.layernorm_before.weight', [64]), false);
  assert.equal(decays('decoder.decoder_norm.bias', [32]), false);
});
