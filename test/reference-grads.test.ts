/**
 * The float64 reference backward (test/reference/mae-backward.ts) against PyTorch autograd through
 * the authors' code (golden grads.safetensors, both losses, one AdamW step), against central finite
 * differences of the float64 forward on odd configs, and proof that the golden check catches a
 * wrong op backward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { shapesOf, type MaeConfig } from '../src/config.js';
import type { SafetensorsFile } from '../src/safetensors.js';
import { loadWeights } from '../src/weights.js';
import { oddConfig, oddInputs } from './support/odd-inputs.js';
import { GOLDEN, goldenCase, readTensors } from './helpers.js';
import {
  adamwStep, attentionBackward, decays, EXACT_OPS, hfTensors, paramsFromHf, paramsFromWeights, referenceGradients,
  referenceLosses, type BackwardOps, type MaeGrads, type MaeParams,
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
    assert.ok(after.loss < r.loss, 'the step lowers the loss');
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
  const fileGrads = Object.fromEntries(file.names().filter((k) => k.startsWith('grad/')).map((k) => [k.slice('grad/'.length), file.f32(k)]));
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

// ─── finite differences on odd configs ───────────────────────────────────────────────────────


/** 1–3 channels, 9 and 25 patches, MLP widths 37/22/30/19/50/45, head widths 5 and 6, no qkv bias once. */
const ODD_CASES = [
  {
    what: 'C=1, 15 px / patch 5 (L = 9, keep 3), encoder 20/2 layers/4 heads (d = 5) mlp 37, decoder 12/1/2 (d = 6) mlp 22, N = 2',
    n: 2,
    cfg: oddConfig({
      image_size: 15, patch_size: 5, num_channels: 1, hidden_size: 20, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 37,
      decoder_hidden_size: 12, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 2, decoder_intermediate_size: 22, mask_ratio: 0.6,
    }),
  },
  {
    what: 'C=3, 10 px / patch 2 (L = 25, keep 6), encoder 12/1/2 (d = 6) mlp 30, decoder 20/2/4 (d = 5) mlp 19, no qkv bias, N = 3',
    n: 3,
    cfg: oddConfig({
      image_size: 10, patch_size: 2, num_channels: 3, hidden_size: 12, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 30,
      decoder_hidden_size: 20, decoder_num_hidden_layers: 2, decoder_num_attention_heads: 4, decoder_intermediate_size: 19, mask_ratio: 0.75, qkv_bias: false,
    }),
  },
  {
    what: 'C=2, 9 px / patch 3 (L = 9, keep 4), encoder 24/1/4 (d = 6) mlp 50, decoder 20/1/4 (d = 5) mlp 45, N = 2',
    n: 2,
    cfg: oddConfig({
      image_size: 9, patch_size: 3, num_channels: 2, hidden_size: 24, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 50,
      decoder_hidden_size: 20, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 4, decoder_intermediate_size: 45, mask_ratio: 0.5,
    }),
  },
];


/** Entries to probe in a tensor of `size`: its largest-gradient entry and `count` seeded others. */
function probeIndices(grad: ArrayLike<number>, count: number, uniform: () => number): number[] {
  let top = 0;
  for (let i = 1; i < grad.length; i++) if (Math.abs(grad[i]!) > Math.abs(grad[top]!)) top = i;
  const picks = new Set([top]);
  while (picks.size < Math.min(grad.length, 1 + count)) picks.add(Math.floor(uniform() * grad.length));
  return [...picks];
}

/** Central-difference step in float64. */
const FD_STEP = 1e-5;
/**
 * Central differences err by h²·|f'''|/6 (truncation) plus about ε·|f|/h (float64 rounding of the
 * loss). Measured worst |fd − g| / max|g_T| over the cases below: h = 1e-4: 1.5e-7 (truncation,
 * ∝ h²); h = 1e-6: 1.2e-7 (rounding, ∝ 1/h); h = 1e-5: 1.6e-8, both terms ~1e-8. The bound 1e-6 is
 * 60× that, and 400× below the smallest single mistake of the golden README's table (a tanh-form
 * GELU derivative, 3.8e-4·max|g_T|); the last test shows that mistake fails it.
 */
const FD_TOL = 1e-6;

/**
 * The worst |fd − g| / max|g_T| over probed entries of every gradient tensor (both losses), with
 * central differences of the float64 forward. `params` is perturbed in place and restored.
 */
function finiteDifferenceCheck(cfg: MaeConfig, params: MaeParams, pixels: Float32Array, noise: Float32Array, n: number, allPatches: boolean, grad: MaeGrads, gradNormPix: MaeGrads, seed: number): { ratio: number; detail: string } {
  const views = hfTensors(cfg, params);
  const uniform = mulberry32(seed);
  let result = { ratio: 0, detail: '' };
  for (const [label, grads] of [['loss', hfTensors(cfg, grad)], ['loss_norm_pix', hfTensors(cfg, gradNormPix)]] as const) {
    for (const [name, g] of Object.entries(grads)) {
      const scale = maxAbs(grads[scaleName(name)]!.data);
      const v = views[name]!.data;
      for (const i of probeIndices(g.data, 3, uniform)) {
        const p0 = v[i]!;
        const up = p0 + FD_STEP;
        const down = p0 - FD_STEP;
        v[i] = up;
        const plus = referenceLosses(cfg, params, pixels, noise, n, cfg.maskRatio, allPatches);
        v[i] = down;
        const minus = referenceLosses(cfg, params, pixels, noise, n, cfg.maskRatio, allPatches);
        v[i] = p0;
        const f = label === 'loss' ? [plus.loss, minus.loss] : [plus.lossNormPix, minus.lossNormPix];
        const fd = (f[0]! - f[1]!) / (up - down); // the step actually taken
        const ratio = Math.abs(fd - g.data[i]!) / scale;
        if (ratio > result.ratio) result = { ratio, detail: `${label} ${name}[${i}]: finite difference ${fd}, backward ${g.data[i]}, max|g_T| ${scale}` };
      }
    }
  }
  return result;
}

function oddCase(k: number) {
  const { cfg, n } = ODD_CASES[k]!;
  const weights = randomWeights(cfg, 11 + k);
  return { cfg, n, weights, params: paramsFromWeights(weights), ...oddInputs(cfg, n, 101 + k) };
}

for (const [k, c] of ODD_CASES.entries()) {
  for (const allPatches of [false, true]) {
    test(`finite differences, ${allPatches ? 'loss on all patches' : 'masked loss'}: ${c.what}`, () => {
      const { cfg, n, weights, params, pixels, noise } = oddCase(k);
      const r = referenceGradients(cfg, params, pixels, noise, n, cfg.maskRatio, { allPatches });
      if (!allPatches) {
        const ref = referenceForward(cfg, weights, pixels, noise, n, cfg.maskRatio);
        assert.deepEqual(r.tape.pred, ref.pred, 'taped pred = referenceForward pred');
        assert.deepEqual([r.loss, r.lossNormPix], [ref.loss, ref.lossNormPix]);
      }
      const fd = finiteDifferenceCheck(cfg, params, pixels, noise, n, allPatches, r.grad, r.gradNormPix, 7 + k);
      assert.ok(fd.ratio <= FD_TOL, `${fd.detail}: |Δ| = ${fd.ratio.toExponential(2)}·max|g_T| > ${FD_TOL}`);
    });
  }
}

test('finite differences fail a tanh-form GELU derivative', () => {
  const { cfg, n, params, pixels, noise } = oddCase(0);
  const r = referenceGradients(cfg, params, pixels, noise, n, cfg.maskRatio, { ops: { ...EXACT_OPS, geluDerivative: tanhGeluDerivative } });
  const fd = finiteDifferenceCheck(cfg, params, pixels, noise, n, false, r.grad, r.gradNormPix, 7);
  assert.ok(fd.ratio > FD_TOL, `the check should fail, worst ${fd.ratio.toExponential(2)}`);
});
