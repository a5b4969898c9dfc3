/**
 * Writes the bundled model's sample images: Fashion-MNIST test images 0–7 as 8-bit gray PNG files
 * (models/mae-fashion-mnist/samples/), from Debian's dataset-fashion-mnist package.
 * Run: node dist/scripts/export-fashion-mnist-samples.js
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fashionMnistImage, fashionMnistLabel } from '../src/data/fashion-mnist.js';
import { encodePng } from '../src/image/encode-png.js';
import { loadFashionMnist } from '../src/node/fashion-mnist.js';
import { writeFileAtomic } from '../src/node/atomic-write.js';
import { DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';

const test = loadFashionMnist('test');
mkdirSync(DEFAULT_SAMPLES_DIR, { recursive: true });
for (let i = 0; i < 8; i++) {
  const img = fashionMnistImage(test.images, i);
  const name = fashionMnistLabel(test.labels, i).name.toLowerCase().replace(/[^a-z]+/g, '-');
  const file = join(DEFAULT_SAMPLES_DIR, `test-${i}-${name}.png`);
  writeFileAtomic(file, encodePng(img.data as Uint8Array, img.width, img.height, 1));
  process.stdout.write(`${file}\n`);
}
