/**
 * Linear probing and classification: the L-BFGS solver against Newton's method written here
 * (3 classes in 2-D, separable and not), the multinomial gradient against finite differences,
 * seeded stratified splits, the protocol on a few hundred Fashion-MNIST images (accuracy far above
 * chance), the head's safetensors round trip, `classify` (CLI and POST /classify) returning the
 * probe's own predictions, and bad options answered in one line.
 *
 * Needs Debian's dataset-fashion-mnist for the image tests: under CI a missing dataset fails;
 * elsewhere those tests skip, saying why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { cubicMinimum, fitLogistic, lbfgs, softmaxObjective, strongWolfe } from '../src/probe/logistic.js';
import { seededPermutation, stratifiedSplit } from '../src/probe/split.js';
import { DEFAULT_L2_GRID, l2Key, runLinearProbe, type ProbeSet } from '../src/probe/probe.js';
import { type ProbeHead, PROBE_HEAD_FILE, encodeProbeHead, parseProbeHead, probePredictions, probeProbabilities } from '../src/probe/head.js';
import { createHandler } from '../src/serve/handler.js';
import { UsageError } from '../src/errors.js';
import { embed } from '../src/jobs/embed.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { encodePng } from '../src/image/encode-png.js';
import { fashionMnistImage } from '../src/data/fashion-mnist.js';
import { DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../src/node/fashion-mnist.js';
import { DEFAULT_MODEL_DIR } from '../src/node/paths.js';
import { runCli, tempDir } from './helpers.js';

const datasetMissing = !existsSync(join(DEFAULT_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) && !existsSync(join(DEFAULT_FASHION_MNIST_DIR, 'train-images-idx3-ubyte'));
const SKIP = datasetMissing && !process.env.CI ? 'dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)' : false;

// ---------------------------------------------------------------------------------------------
// The solver

/** Seeded standard normal draws (Box–Muller on a small LCG). */
function gaussians(seed: number): () => number {
  let s = seed >>> 0;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** 3 classes in 2-D around the given centres, `per` points each. */
function blobs(centres: [number, number][], spread: number, per: number, seed: number): { X: Float64Array; labels: Int32Array; n: number } {
  const g = gaussians(seed);
  const n = centres.length * per;
  const X = new Float64Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % centres.length;
    X[2 * i] = centres[c]![0] + spread * g();
    X[2 * i + 1] = centres[c]![1] + spread * g();
    labels[i] = c;
  }
  return { X, labels, n };
}

/** Solves A x = b (dense, partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/**
 * Newton's method for the same objective, written independently. The loss depends on bias
 * differences only and the bias is unpenalised, so b_{K−1} = 0 removes that flat direction; with
 * L2 0 the loss also depends only on differences of W's rows, and W_{K−1} = 0 is fixed too.
 * Exact Hessian: Σᵢ (diag p − p pᵀ) ⊗ [x;1][x;1]ᵀ / N, plus λ on W.
 */
function newton(X: Float64Array, labels: Int32Array, n: number, D: number, K: number, l2: number): { W: number[]; b: number[] } {
  // The free parameters: (class k, input j), j = D being the bias input.
  const free: [number, number][] = [];
  for (let k = 0; k < K; k++) for (let j = 0; j <= D; j++) if (k < K - 1 || (j < D && l2 > 0)) free.push([k, j]);
  const P = free.length;
  const theta = new Array<number>(P).fill(0);
  const value = (k: number, j: number): number => {
    const a = free.findIndex(([fk, fj]) => fk === k && fj === j);
    return a < 0 ? 0 : theta[a]!;
  };
  for (let it = 0; it < 100; it++) {
    const g = new Array<number>(P).fill(0);
    const H = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    for (let i = 0; i < n; i++) {
      const x = (j: number): number => (j < D ? X[i * D + j]! : 1);
      const z = Array.from({ length: K }, (_, k) => Array.from({ length: D + 1 }, (_, j) => value(k, j) * x(j)).reduce((a, v) => a + v, 0));
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const sum = e.reduce((a, v) => a + v, 0);
      const p = e.map((v) => v / sum);
      free.forEach(([k, j], a) => {
        g[a] += ((p[k]! - (labels[i] === k ? 1 : 0)) * x(j)) / n;
        free.forEach(([k2, j2], b) => {
          H[a]![b] += ((k === k2 ? p[k]! : 0) - p[k]! * p[k2]!) * x(j) * x(j2) / n;
        });
      });
    }
    free.forEach(([, j], a) => {
      if (j < D) { g[a] += l2 * theta[a]!; H[a]![a] += l2; }
    });
    const step = solve(H, g);
    for (let a = 0; a < P; a++) theta[a] -= step[a]!;
    if (Math.max(...g.map(Math.abs)) < 1e-13) break;
  }
  return {
    W: Array.from({ length: K * D }, (_, a) => value(Math.floor(a / D), a % D)),
    b: Array.from({ length: K }, (_, k) => value(k, D)),
  };
}

for (const [what, spread, l2] of [['overlapping classes, L2 1e-3', 1.2, 1e-3], ['overlapping classes, L2 0', 1.2, 0], ['separable classes, L2 1e-2', 0.15, 1e-2]] as const) {
  test(`L-BFGS reaches Newton's optimum: 3 classes in 2-D, ${what}`, () => {
    const { X, labels, n } = blobs([[0, 0], [2, 0.5], [0.7, 2]], spread, 40, 7);
    const D = 2;
    const K = 3;
    const data = { X, labels, n, dim: D, classes: K };
    // Below max|g| ~1e-9, f (≈ 0.5) changes by less than its float64 rounding, so the line search
    // may end there instead.
    const fit = fitLogistic(data, l2, { gradTol: 1e-9, changeTol: 0 });
    assert.ok(fit.stop === 'gradient' || (fit.stop === 'line-search' && fit.gradInf <= 2e-9), `stopped by ${fit.stop} after ${fit.iterations} iterations, max|g| ${fit.gradInf}`);
    const ref = newton(X, labels, n, D, K, l2);
    const scale = 1 + Math.max(...ref.W.map(Math.abs));
    // With L2 > 0, W itself; with L2 0 (W fixed up to a common row), differences to the last row.
    const w = (W: ArrayLike<number>, a: number): number => W[a]! - (l2 > 0 ? 0 : W[(K - 1) * D + (a % D)]!);
    for (let a = 0; a < K * D; a++) assert.ok(Math.abs(w(fit.weight, a) - w(ref.W, a)) < 1e-6 * scale, `W[${a}] ${fit.weight[a]} vs Newton ${ref.W[a]}`);
    // The bias is fixed up to a constant (unpenalised): compare differences to the last class.
    for (let k = 0; k < K - 1; k++) {
      const d = fit.bias[k]! - fit.bias[K - 1]!;
      assert.ok(Math.abs(d - ref.b[k]!) < 1e-6 * scale, `b${k} − b${K - 1}: ${d} vs Newton ${ref.b[k]}`);
    }
    // The gradient at the optimum, from the objective itself, is ~0; a small move raises f.
    const theta = Float64Array.from([...fit.weight, ...fit.bias]);
    const g = new Float64Array(theta.length);
    const fg = softmaxObjective(data, l2);
    const f = fg(theta, g);
    assert.ok(Math.max(...g.map(Math.abs)) <= 2e-9);
    for (let a = 0; a < theta.length; a++) {
      for (const h of [1e-3, -1e-3]) {
        const t = Float64Array.from(theta);
        t[a] += h;
        assert.ok(fg(t, new Float64Array(theta.length)) >= f, `moving θ[${a}] by ${h} lowers f`);
      }
    }
  });
}

test('the bias is not penalised: f = cross-entropy + (λ/2)‖W‖² at the fit, a zero bias gradient, the class-prior bias gap kept under a strong L2', () => {
  // Unbalanced classes: the optimal bias is far from 0, so a penalty on it would move it.
  const { X, labels, n } = blobs([[0, 0], [3, 3]], 1, 50, 3);
  for (let i = 0; i < n; i += 4) labels[i] = 1;
  const fit = fitLogistic({ X, labels, n, dim: 2, classes: 2 }, 1.0, { gradTol: 1e-9, changeTol: 0 });
  // ∂f/∂b_k = mean (p_k − 1[y = k]) = 0 exactly at the optimum iff the bias is unpenalised.
  const theta = Float64Array.from([...fit.weight, ...fit.bias]);
  const g = new Float64Array(theta.length);
  softmaxObjective({ X, labels, n, dim: 2, classes: 2 }, 1.0)(theta, g);
  assert.ok(Math.abs(g[4]!) < 2e-9 && Math.abs(g[5]!) < 2e-9, `bias gradient ${g[4]}, ${g[5]}`);
  // With L2 1 the weights are small but the bias gap large (the classes are 3:1 over the centres).
  assert.ok(Math.abs(fit.bias[0]! - fit.bias[1]!) > 0.3, `bias gap ${fit.bias[0]! - fit.bias[1]!}`);
  // And the penalty is (λ/2)‖W‖²: f at the optimum equals the cross-entropy plus that term.
  let ce = 0;
  for (let i = 0; i < n; i++) {
    const z = [0, 1].map((k) => fit.bias[k]! + fit.weight[2 * k]! * X[2 * i]! + fit.weight[2 * k + 1]! * X[2 * i + 1]!);
    ce += Math.log(Math.exp(z[0]!) + Math.exp(z[1]!)) - z[labels[i]!]!;
  }
  const w2 = fit.weight.reduce((a, v) => a + v * v, 0);
  assert.ok(Math.abs(fit.objective - (ce / n + 0.5 * w2)) < 1e-12);
});

test('softmax cross-entropy gradient matches central finite differences (4 classes, 5 features, L2 0.3)', () => {
  const g = gaussians(11);
  const N = 30;
  const D = 5;
  const K = 4;
  const X = Float64Array.from({ length: N * D }, () => g());
  const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % K);
  const fg = softmaxObjective({ X, labels, n: N, dim: D, classes: K }, 0.3);
  const theta = Float64Array.from({ length: K * D + K }, () => g());
  const grad = new Float64Array(theta.length);
  const f = fg(theta, grad);
  // f against the direct formula: −mean log softmax(z)_y + 0.15 ‖W‖².
  let direct = 0;
  for (let n = 0; n < N; n++) {
    const z = Array.from({ length: K }, (_, k) => theta[K * D + k]! + Array.from({ length: D }, (_, j) => theta[k * D + j]! * X[n * D + j]!).reduce((a, v) => a + v, 0));
    direct -= Math.log(Math.exp(z[labels[n]!]!) / z.reduce((a, v) => a + Math.exp(v), 0));
  }
  direct = direct / N + 0.15 * theta.subarray(0, K * D).reduce((a, v) => a + v * v, 0);
  assert.ok(Math.abs(f - direct) < 1e-12 * (1 + Math.abs(direct)), `f ${f} vs ${direct}`);
  let worst = 0;
  for (let a = 0; a < theta.length; a++) {
    const h = 1e-5;
    const tp = Float64Array.from(theta); tp[a] += h;
    const tm = Float64Array.from(theta); tm[a] -= h;
    const numeric = (fg(tp, new Float64Array(theta.length)) - fg(tm, new Float64Array(theta.length))) / (2 * h);
    worst = Math.max(worst, Math.abs(numeric - grad[a]!) / (1e-6 + Math.abs(numeric)));
  }
  assert.ok(worst < 1e-6, `worst relative gradient error ${worst}`);
});

test('L-BFGS minimises Rosenbrock; the line search meets the strong Wolfe conditions; cubic step', () => {
  const rosen = (x: Float64Array, g: Float64Array): number => {
    g[0] = -2 * (1 - x[0]!) - 400 * x[0]! * (x[1]! - x[0]! * x[0]!);
    g[1] = 200 * (x[1]! - x[0]! * x[0]!);
    return (1 - x[0]!) ** 2 + 100 * (x[1]! - x[0]! * x[0]!) ** 2;
  };
  const r = lbfgs(rosen, Float64Array.from([-1.2, 1]), { gradTol: 1e-9, changeTol: 0 });
  assert.equal(r.stop, 'gradient');
  assert.ok(Math.abs(r.x[0]! - 1) < 1e-7 && Math.abs(r.x[1]! - 1) < 1e-7, `x = ${r.x}`);
  assert.ok(r.iterations < 100, `${r.iterations} iterations`);

  const x = Float64Array.from([-1.2, 1]);
  const g0 = new Float64Array(2);
  const f0 = rosen(x, g0);
  const d = Float64Array.from(g0, (v) => -v);
  const gtd0 = g0[0]! * d[0]! + g0[1]! * d[1]!;
  const ls = strongWolfe(rosen, x, d, f0, g0, 1);
  assert.ok(ls.ok);
  const { t, f, gtd } = ls.point;
  assert.ok(f <= f0 + 1e-4 * t * gtd0, 'sufficient decrease');
  assert.ok(Math.abs(gtd) <= 0.9 * Math.abs(gtd0), 'curvature');
  // Too short a first step (0.1 towards the minimum at 10 of (x − 10)²) meets sufficient decrease
  // but not the curvature condition: the search must go on, to where |φ′| ≤ c2·|φ′(0)|.
  const quad = (x: Float64Array, g: Float64Array): number => { g[0] = 2 * (x[0]! - 10); return (x[0]! - 10) ** 2; };
  for (const c2 of [0.9, 0.1]) {
    const q = strongWolfe(quad, Float64Array.of(0), Float64Array.of(1), 100, Float64Array.of(-20), 0.1, { c2 });
    assert.ok(q.ok && Math.abs(q.point.gtd) <= c2 * 20 && q.point.f <= 100 - 1e-4 * q.point.t * 20, `c2 ${c2}: t ${q.point.t}, φ′ ${q.point.gtd}`);
  }
  // The cubic through f(x) = (x − 1)² + 3 sampled at 0 and 3 has its minimum at 1.
  assert.ok(Math.abs(cubicMinimum(0, 4, -2, 3, 7, 4, -10, 10) - 1) < 1e-12);
});

test('seeded splits: a permutation, stratified hold-out of round(fraction·n) per class, reproducible', () => {
  const p = seededPermutation(1000, 5);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(seededPermutation(1000, 5), p);
  assert.notDeepEqual(seededPermutation(1000, 6), p);
  const labels = Int32Array.from({ length: 6000 * 10 }, (_, i) => (i * 3) % 10);
  const s = stratifiedSplit(labels, 10, 1 / 12, 0);
  assert.equal(s.held.length, 5000);
  assert.equal(s.keep.length, 55000);
  const perClass = new Array<number>(10).fill(0);
  for (const i of s.held) perClass[labels[i]!]++;
  assert.deepEqual(perClass, new Array(10).fill(500));
  const held = new Set(s.held);
  assert.ok(s.keep.every((i) => !held.has(i)));
  assert.deepEqual(stratifiedSplit(labels, 10, 1 / 12, 0).held, s.held);
  // Small classes: at least one held out of 2, none of a class of 1.
  const small = stratifiedSplit(Int32Array.from([0, 0, 1, 2, 2, 2]), 3, 0.2, 1);
  assert.deepEqual([...small.held].map((i) => [0, 0, 1, 2, 2, 2][i]).sort(), [0, 2]);
  assert.equal(l2Key(1e-6), '1e-06');
  assert.equal(l2Key(1e-4), '0.0001');
  assert.equal(l2Key(0.1), '0.1');
});

// ---------------------------------------------------------------------------------------------
// On images

interface FmSubset { train: ProbeSet; test: ProbeSet; testIndices: number[] }

async function fmFeatures(model: MaeModel, pool: 'mean' | 'cls'): Promise<FmSubset> {
  const trainData = loadFashionMnist('train');
  const testData = loadFashionMnist('test');
  const set = async (d: typeof trainData, indices: number[]): Promise<ProbeSet> => {
    const per = 28 * 28;
    const pixels = new Float32Array(indices.length * per);
    indices.forEach((idx, i) => pixels.set(preprocessImage(fashionMnistImage(d.images, idx), model.preprocessor, 1), i * per));
    return { features: await embed(model, pixels, { batch: indices.length, pool }), labels: Int32Array.from(indices, (i) => d.labels.data[i]!), n: indices.length };
  };
  const testIndices = Array.from({ length: 100 }, (_, i) => i);
  return { train: await set(trainData, Array.from({ length: 300 }, (_, i) => i)), test: await set(testData, testIndices), testIndices };
}

test('the protocol on 300 + 100 Fashion-MNIST images: well above chance; the head round-trips; classify and POST /classify give the probe\'s predictions', { skip: SKIP }, async () => {
  const model = await MaeModel.load({ model: DEFAULT_MODEL_DIR, batch: 64 });
  const dir = tempDir('edge-mae-probe-');
  try {
    const fm = await fmFeatures(model, 'mean');
    const classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
    const validation = stratifiedSplit(fm.train.labels, 10, 1 / 12, 0).held;
    const { head, report, testPredictions } = runLinearProbe({ classes, dim: 128, pool: 'mean', train: fm.train, test: fm.test, validation }, { l2: 'auto', maxIter: 300 });
    // Chance is 0.1; the bundled model's full probe reaches 0.87.
    assert.ok(report.test_accuracy >= 0.6, `test accuracy ${report.test_accuracy}`);
    assert.deepEqual(Object.keys(report.val_accuracy_by_l2!), DEFAULT_L2_GRID.map(l2Key));
    const accs = report.val_fits!.map((f) => f.val_accuracy!);
    const best = Math.max(...accs);
    assert.equal(report.l2, Math.max(...report.val_fits!.filter((f) => f.val_accuracy === best).map((f) => f.l2)), 'best held-out accuracy, ties to the larger L2');
    assert.equal(report.confusion_matrix.flat().reduce((a, b) => a + b, 0), 100);
    const correct = report.confusion_matrix.reduce((a, row, k) => a + row[k]!, 0);
    assert.equal(correct / 100, report.test_accuracy);

    // Round trip through safetensors bytes: the same arrays, names, pool; the same predictions.
    const bytes = encodeProbeHead(head);
    const back = parseProbeHead(bytes, 'head');
    assert.deepEqual(back.classes, classes);
    assert.equal(back.pool, 'mean');
    for (const k of ['mean', 'std', 'weight', 'bias'] as const) assert.deepEqual(back[k], head[k], k);
    assert.deepEqual(probePredictions(back, fm.test.features, 100), testPredictions);
    assert.throws(() => parseProbeHead(readFileSync(join(DEFAULT_MODEL_DIR, 'model.safetensors')), 'model.safetensors'), /not a probe head/);

    // classify (CLI) with the folder's probe-head.safetensors: top-1 = the probe's prediction.
    const modelCopy = join(dir, 'model');
    mkdirSync(modelCopy);
    for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json']) copyFileSync(join(DEFAULT_MODEL_DIR, f), join(modelCopy, f));
    writeFileSync(join(modelCopy, PROBE_HEAD_FILE), bytes);
    const testData = loadFashionMnist('test');
    const picked = [0, 1, 2, 3, 4, 5, 6, 7];
    const files = picked.map((i) => {
      const f = join(dir, `t${i}.png`);
      writeFileSync(f, encodePng(fashionMnistImage(testData.images, i).data as Uint8Array, 28, 28, 1));
      return f;
    });
    const r = runCli(['classify', ...files, '--model', modelCopy, '--top', '3', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { image: string; top: { label: string; probability: number }[] });
    assert.equal(lines.length, picked.length);
    const probs = probeProbabilities(head, fm.test.features, 100);
    lines.forEach((line, i) => {
      assert.equal(line.image, files[i]);
      assert.equal(line.top.length, 3);
      assert.equal(line.top[0]!.label, classes[testPredictions[picked[i]!]!], `image ${picked[i]}`);
      assert.ok(Math.abs(line.top[0]!.probability - probs[picked[i]! * 10 + testPredictions[picked[i]!]!]!) < 1e-5);
      assert.ok(line.top[0]!.probability >= line.top[1]!.probability && line.top[1]!.probability >= line.top[2]!.probability);
    });

    // The handler: /classify with the head, 4xx JSON for bad input, 404 without a head.
    const h = createHandler({ model, head: back });
    for (const i of [0, 5]) {
      const res = await h.fetch(new Request('http://edge.test/classify?top=2', { method: 'POST', body: readFileSync(files[i]!) }));
      assert.equal(res.status, 200);
      const body = await res.json() as { top: { label: string; probability: number }[]; pool: string };
      assert.equal(body.top.length, 2);
      assert.equal(body.top[0]!.label, classes[testPredictions[picked[i]!]!]);
      assert.equal(body.pool, 'mean');
    }
    for (const [req, status, pattern] of [
      [new Request('http://edge.test/classify?top=11', { method: 'POST', body: readFileSync(files[0]!) }), 400, /'top' must be an integer from 1 to 10/],
      [new Request('http://edge.test/classify', { method: 'POST', body: new Uint8Array([1, 2, 3, 4]) }), 400, /request body/],
      [new Request('http://edge.test/classify', { method: 'GET' }), 405, /use POST/],
    ] as const) {
      const res = await h.fetch(req);
      assert.equal(res.status, status);
      assert.match((await res.json() as { error: string }).error, pattern);
    }
    const health = await (await h.fetch(new Request('http://edge.test/healthz'))).json() as { probe_head?: { classes: string[] } };
    assert.deepEqual(health.probe_head?.classes, classes);
    const none = await createHandler({ model }).fetch(new Request('http://edge.test/classify', { method: 'POST', body: readFileSync(files[0]!) }));
    assert.equal(none.status, 404);
    assert.match((await none.json() as { error: string }).error, /no probe head/);
    const wrongDim: ProbeHead = { ...back, dim: 4, mean: new Float32Array(4), std: new Float32Array(4).fill(1), weight: new Float32Array(40) };
    assert.throws(() => createHandler({ model, head: wrongDim }), (e: unknown) => e instanceof UsageError && /hidden size is 128/.test(e.message));
  } finally {
    model.dispose();
  }
});

test('probe CLI on a class folder with train/ and test/: report, head, and classify agree with the report\'s predictions', { skip: SKIP }, () => {
  const dir = tempDir('edge-mae-probe-folder-');
  const data = join(dir, 'data');
  const fm = loadFashionMnist('train');
  // Three classes, 24 training and 6 test images each, from the first training images.
  const classes: Record<number, string> = { 1: 'trouser', 7: 'sneaker', 8: 'bag' };
  const count: Record<number, number> = { 1: 0, 7: 0, 8: 0 };
  for (let i = 0; i < fm.count && Object.values(count).some((c) => c < 30); i++) {
    const y = fm.labels.data[i]!;
    if (!(y in classes) || count[y]! >= 30) continue;
    const split = count[y]! < 24 ? 'train' : 'test';
    const folder = join(data, split, classes[y]!);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${i}.png`), encodePng(fashionMnistImage(fm.images, i).data as Uint8Array, 28, 28, 1));
    count[y]!++;
  }
  const out = join(dir, 'report.json');
  const r = runCli(['probe', '--data', data, '--pool', 'cls', '--out', out, '--max-iter', '200']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /test_accuracy \d\.\d{4}/);
  assert.match(r.stdout, /val accuracy by L2: 1e-06 /);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { test_accuracy: number; classes: string[]; n_train: number; n_test: number; l2: number; pool: string; head: string; test_predictions: { image: string; label: string; predicted: string }[] };
  assert.deepEqual(report.classes, ['bag', 'sneaker', 'trouser']);
  assert.equal(report.n_train, 72);
  assert.equal(report.n_test, 18);
  assert.equal(report.pool, 'cls');
  assert.ok(report.test_accuracy >= 0.8, `accuracy ${report.test_accuracy} on 3 easy classes`);
  const headFile = join(dir, 'report.head.safetensors');
  assert.equal(report.head, headFile);
  const head = parseProbeHead(readFileSync(headFile), headFile);
  assert.equal(head.pool, 'cls');
  assert.deepEqual(head.classes, report.classes);

  const some = report.test_predictions.slice(0, 6);
  const c = runCli(['classify', ...some.map((p) => p.image), '--head', headFile, '--top', '9']);
  assert.equal(c.status, 0, c.stderr);
  const lines = c.stdout.trim().split('\n');
  assert.equal(lines.length, some.length);
  lines.forEach((line, i) => {
    const m = /^(.*): (\S+) ([\d.]+), (\S+) ([\d.]+), (\S+) ([\d.]+)$/.exec(line);
    assert.ok(m, `three classes (top 9 clamped to the head's 3): ${line}`);
    assert.equal(m[1], some[i]!.image);
    assert.equal(m[2], some[i]!.predicted);
    assert.ok(Math.abs(Number(m[3]) + Number(m[5]) + Number(m[7]) - 1) < 2e-4);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals

function expectOneLine(args: string[], pattern: RegExp): void {
  const r = runCli(args);
  assert.notEqual(r.status, 0, `expected failure: ${args.join(' ')}\n${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected for ${args.join(' ')}, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

test('bad probe and classify options are answered in one line, before any model work', () => {
  const dir = tempDir('edge-mae-probe-bad-');
  const oneClass = join(dir, 'one');
  mkdirSync(join(oneClass, 'only'), { recursive: true });
  writeFileSync(join(oneClass, 'only', 'a.png'), encodePng(new Uint8Array(28 * 28), 28, 28, 1));
  const notHead = join(dir, 'not-a-head.safetensors');
  copyFileSync(join(DEFAULT_MODEL_DIR, 'config.json'), join(dir, 'config.json'));
  writeFileSync(notHead, readFileSync(join(DEFAULT_MODEL_DIR, 'reference.safetensors')));
  const smallHead = join(dir, 'small.safetensors');
  writeFileSync(smallHead, encodeProbeHead({ classes: ['a', 'b'], pool: 'mean', dim: 4, mean: new Float32Array(4), std: new Float32Array(4).fill(1), weight: new Float32Array(8), bias: new Float32Array(2), info: {} }));
  const img = join(oneClass, 'only', 'a.png');
  expectOneLine(['probe', '--data', 'fashion-mnist', '--l2', 'abc'], /--l2.*must be auto or a finite number ≥ 0/);
  expectOneLine(['probe', '--data', 'fashion-mnist', '--l2', '-1'], /--l2.*must be auto or a finite number ≥ 0/);
  expectOneLine(['probe', '--data', 'fashion-mnist', '--pool', 'max'], /--pool.*Allowed choices are mean, cls/);
  expectOneLine(['probe', '--pool', 'mean'], /required option '--data/);
  expectOneLine(['probe', '--data', join(dir, 'nowhere')], /--data '.*nowhere': no such folder/);
  expectOneLine(['probe', '--data', oneClass], /needs a subfolder per class \(at least 2\)/);
  expectOneLine(['probe', '--data', oneClass, '--train-limit', '100'], /--train-limit and --test-limit apply to --data fashion-mnist only/);
  expectOneLine(['probe', '--data', 'fashion-mnist', '--test-fraction', '1'], /--test-fraction.*must be a number in \(0, 1\)/);
  expectOneLine(['probe', '--data', 'fashion-mnist', '--out', join(dir, 'no', 'such', 'r.json')], /cannot write .*its folder does not exist/);
  expectOneLine(['classify', img, '--top', '0'], /--top.*must be an integer from 1/);
  expectOneLine(['classify', img, '--head', join(dir, 'missing.safetensors')], /probe head '.*missing\.safetensors': no such file/);
  expectOneLine(['classify', img, '--head', notHead], /not a probe head/);
  expectOneLine(['classify', img, '--head', smallHead], /fitted on 4-dimensional features, but the model's hidden size is 128/);
  expectOneLine(['classify', img, '--model', dir], /has no probe-head\.safetensors: give --head FILE/);
});
