/** Where the package's own files are, from the compiled module's location (dist/src/node/). */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The bundled default model: a ViT-MAE pretrained on Fashion-MNIST with the authors' code. */
export const DEFAULT_MODEL_DIR = join(PACKAGE_ROOT, 'models', 'mae-fashion-mnist');

/** Sample images of the bundled model (Fashion-MNIST test images as PNG). */
export const DEFAULT_SAMPLES_DIR = join(DEFAULT_MODEL_DIR, 'samples');

/** Where `npm run web:build` writes the browser page and `edge-mae serve` serves it from. */
export const DEFAULT_WEB_DIR = join(PACKAGE_ROOT, 'dist', 'web');
