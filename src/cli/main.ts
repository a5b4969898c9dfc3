/**
 * The edge-mae command line. Each command's work lives in its own file; here: argument parsing
 * (commander), and the rule that a failure prints one line and exits non-zero, never a stack trace.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EdgeMaeError } from '../errors.js';
import { runBuild } from './build.js';
import { runForward } from './forward.js';
import { runEncodeTensors } from './encode.js';

const log = (line: string): void => { process.stdout.write(line + '\n'); };

function ratio(v: string): number {
  const r = Number(v);
  if (!Number.isFinite(r) || r < 0 || r >= 1) throw new InvalidArgumentError('must be a number in [0, 1)');
  return r;
}

function uint(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

function modelOptions(cmd: Command): Command {
  return cmd
    .option('--model <dir>', 'model folder with config.json and model.safetensors')
    .option('--weights <file>', 'weights file (overrides the folder\'s model.safetensors)')
    .option('--config <file|preset>', 'config file or preset (overrides the folder\'s config.json)');
}

export function program(): Command {
  const p = new Command('edge-mae')
    .description('Masked Autoencoders (ViT-MAE) on generated WebAssembly SIMD kernels')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showSuggestionAfterError();

  p.command('build')
    .description('generate and compile the kernel module for a config (cached by config hash)')
    .requiredOption('--config <file|preset>', 'config.json, a model folder, or vit-mae-base|vit-mae-large|vit-mae-huge')
    .option('--cache <dir>', 'kernel cache folder')
    .option('--force', 'recompile even when cached')
    .action((o) => runBuild({ config: o.config, cacheDir: o.cache, force: o.force }, log));

  modelOptions(p.command('forward'))
    .description('MAE forward on pixel tensors: writes latent, pred, mask, ids_restore, losses')
    .requiredOption('--inputs <file>', 'safetensors with pixel_values [N,C,H,W] and optionally noise [N,L]')
    .requiredOption('--out <file>', 'output safetensors')
    .addOption(new Option('--mask-ratio <r>', 'fraction of patches removed (default: the config\'s)').argParser(ratio))
    .addOption(new Option('--seed <n>', 'mask seed when the inputs have no noise').argParser(uint))
    .action((o) => runForward({ model: o.model, weights: o.weights, config: o.config, inputs: o.inputs, out: o.out, maskRatio: o.maskRatio, seed: o.seed }, log));

  modelOptions(p.command('encode'))
    .description('encoder features of all patches, in order (no masking): writes latent_all [N,1+L,D]')
    .requiredOption('--inputs <file>', 'safetensors with pixel_values [N,C,H,W]')
    .requiredOption('--out <file>', 'output safetensors')
    .action((o) => runEncodeTensors({ model: o.model, weights: o.weights, config: o.config, inputs: o.inputs, out: o.out }, log));

  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed the one-line reason
    if (e instanceof EdgeMaeError) {
      process.stderr.write(`edge-mae: ${e.message}\n`);
      return 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`edge-mae: unexpected error: ${msg.split('\n')[0]}\n`);
    return 70;
  }
}
