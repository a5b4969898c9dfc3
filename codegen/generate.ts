/**
 * Config → AssemblyScript source of the kernel module, built with ts-morph from the plan's kernel
 * list, and the manifest that describes it.
 */
import { Project, StructureKind, type FunctionDeclarationStructure } from 'ts-morph';
import { createHash } from 'node:crypto';
import { type MaeConfig, toHfJson } from '../src/config.js';
import { type KernelPlan, type KernelSpec, type Tiling, effectiveTiling, kernelName, layoutOf, memoryPages, planKernels, ARENA_BASE } from '../src/plan.js';
import { trainingSpecs } from '../src/training/specs.js';
import { dependenciesOf, emitAssemblyScript } from './ops/index.js';
import type { Manifest } from '../src/manifest.js';
import type { SimdVariant } from '../src/simd-support.js';
import { GENERATOR_VERSION, configHash } from './config-hash.js';


/** Imports of the hand-written core (assembly/), resolved by the compiler under core/. */
const CORE_IMPORTS: Array<[string, string[]]> = [
  ['./core/simd', ['storeLanes']],
  ['./core/gelu', ['gelu4']],
  ['./core/layernorm', ['layerNormRows']],
  ['./core/softmax', ['softmaxRows', 'transposeHead']],
  ['./core/tokens', ['patchGather', 'addRowsGathered', 'unshuffle']],
  ['./core/pack', ['packPanels']],
];

/**
 * Core imports of the backward kernels, by op: added only when a module holds such a kernel, so a
 * forward module's source (and its kernels.wasm) is what it was before they existed.
 */
const BACKWARD_IMPORTS: Partial<Record<KernelSpec['op'] | 'gemm:dgelusave', Array<[string, string[]]>>> = {
  'gemm:dgelusave': [['./core/gelu', ['halfSquareExp4', 'twoPhiWith4', 'geluOf4']], ['./core/gelu_backward', ['geluDerivativeOf4']]],
  layernorm_stats: [['./core/layernorm_backward', ['layerNormStatsRows']]],
  layernorm_backward: [['./core/layernorm_backward', ['layerNormBackwardRows']]],
  gelu: [['./core/gelu', ['geluRows']]],
  adamw: [['./core/adamw', ['adamwStep']]],
  mask_rows: [['./core/tokens', ['maskRows']]],
  mask_rows_backward: [['./core/tokens_backward', ['maskRowsBackward']]],
  gelu_backward: [['./core/gelu_backward', ['geluBackward']]],
  softmax_backward: [['./core/softmax', ['softmaxBackwardRows']]],
  mse_loss_backward: [['./core/loss', ['mseLossBackwardRows']]],
  column_sum: [['./core/colsum', ['addColumnSums']]],
  linear_dx: [['./core/pack', ['packRowPanels']]],
  attention_backward: [['./core/softmax', ['softmaxBackwardRows']]],
  unshuffle_backward: [['./core/tokens_backward', ['unshuffleBackward']]],
  encoder_input_backward: [['./core/tokens_backward', ['encoderInputBackward']]],
};

function coreImports(specs: readonly KernelSpec[]): Array<[string, string[]]> {
  const out = CORE_IMPORTS.map(([m, names]): [string, string[]] => [m, [...names]]);
  // A training fc1 whose epilogue saves GELU' beside GELU (a gemm, so not in the op table).
  const keys = new Set<string>(specs.map((s) => s.op));
  if (specs.some((s) => s.op === 'gemm' && s.geluGrad === 'save')) keys.add('gemm:dgelusave');
  for (const op of keys) {
    for (const [m, names] of BACKWARD_IMPORTS[op as keyof typeof BACKWARD_IMPORTS] ?? []) {
      const known = out.find(([mm]) => mm === m);
      if (known) known[1].push(...names.filter((n) => !known[1].includes(n)));
      else out.push([m, [...names]]);
    }
  }
  return out;
}

export interface GeneratedModule {
  readonly source: string;
  readonly manifest: Manifest;
  readonly plan: KernelPlan;
}


/** Specs in emission order: each kernel after the kernels it calls, each once. */
function withDependencies(specs: readonly KernelSpec[]): KernelSpec[] {
  const ordered: KernelSpec[] = [];
  const seen = new Set<string>();
  const visit = (s: KernelSpec): void => {
    const name = kernelName(s);
    if (seen.has(name)) return;
    seen.add(name);
    for (const d of dependenciesOf(s)) visit(d);
    ordered.push(s);
  };
  specs.forEach(visit);
  return ordered;
}

/** AssemblyScript source of a module holding `specs` (and the kernels they call). */
export function emitModuleSource(specs: readonly KernelSpec[], title: string, opts: { exportAll?: boolean; simd?: SimdVariant } = {}): { source: string; ordered: KernelSpec[]; exported: Set<string> } {
  const ordered = withDependencies(specs);
  const project = new Project({ useInMemoryFileSystem: true });
  const file = project.createSourceFile('kernels.ts', '', { overwrite: true });
  file.addImportDeclarations(coreImports(ordered).map(([moduleSpecifier, names]) => ({ moduleSpecifier, namedImports: names })));
  file.addStatements(`/** Where the module's static data ends: the host checks it lies below the arena (${ARENA_BASE}). */\nexport function heap_base(): usize { return __heap_base; }`);
  file.addStatements(`/** Packs a Linear weight [n, k] at src into nr-column GEMM panels at dst (once, at load). */\nexport function pack_panels(src: usize, dst: usize, n: i32, k: i32, nr: i32): void { packPanels(src, dst, n, k, nr); }`);
  if (ordered.some((s) => s.op === 'linear_dx')) {
    file.addStatements(`/** Packs a Linear weight [n, k] at src as itself in nr-column panels over k, [n][nr] each, for its dx kernels (at load and after each optimizer step). */\nexport function pack_row_panels(src: usize, dst: usize, n: i32, k: i32, nr: i32): void { packRowPanels(src, dst, n, k, nr); }`);
  }
  const exported = new Set<string>();
  const functions: FunctionDeclarationStructure[] = ordered.map((s) => {
    const f = emitAssemblyScript(s, { fma: opts.simd === 'relaxed' });
    if (f.exported || opts.exportAll) exported.add(f.name);
    return {
      kind: StructureKind.Function,
      name: f.name,
      isExported: f.exported || opts.exportAll === true,
      docs: [f.doc],
      parameters: f.params.map(([name, type]) => ({ name, type })),
      returnType: 'void',
      statements: f.body,
    };
  });
  file.addFunctions(functions);
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  const header = `// Generated by edge-mae codegen (generator v${GENERATOR_VERSION}) ${title}. Do not edit:\n// regenerate with \`npm run build\` or \`edge-mae build\`.\n\n`;
  return { source: header + file.getFullText(), ordered, exported };
}

/** With `training`, the module also holds the tape-keeping forward variants and every backward kernel (trainingSpecs). */
export function generateKernels(cfg: MaeConfig, encoderLengths?: readonly number[], simd: SimdVariant = 'simd128', threads = false, tiling: Tiling = {}, tuning?: unknown, training = false): GeneratedModule {
  const full = effectiveTiling(cfg, tiling);
  const plan = planKernels(cfg, encoderLengths, full);
  const hash = configHash(cfg, plan.encoderLengths);
  const specs = training ? trainingSpecs(cfg, plan.encoderLengths, full) : plan.specs;
  const { source, ordered, exported } = emitModuleSource(specs, `for config ${hash} (${simd}${threads ? ', threads' : ''}${training ? ', training' : ''})`, { simd });
  const layout = layoutOf(cfg, 1, full);
  const manifest: Manifest = {
    format: 'edge-mae-kernels/1',
    configHash: hash,
    generatorVersion: GENERATOR_VERSION,
    config: toHfJson(cfg),
    encoderLengths: [...plan.encoderLengths],
    simd,
    tiles: full,
    tuning: tuning ?? 'default',
    threads,
    kernels: ordered.map((s) => ({ name: kernelName(s), exported: exported.has(kernelName(s)), spec: s })),
    memory: { arenaBase: ARENA_BASE, pages: memoryPages(layout), layout },
    sourceSha256: createHash('sha256').update(source).digest('hex'),
  };
  return { source, manifest, plan };
}
