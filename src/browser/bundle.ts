/**
 * The model folder of a built web page (`npm run web:build` → dist/web/model/): what the page
 * fetches. index.json names the files; everything is static, served from the page's origin.
 */
import type { SimdVariant } from '../simd-support.js';

/** A kernel module and its manifest, as `edge-mae build --out` writes them. */
export interface BundledKernels {
  /** kernels.wasm, relative to the model folder. */
  readonly wasm: string;
  /** manifest.json, relative to the model folder. */
  readonly manifest: string;
  /** SIMD variant the module was built for. */
  readonly simd: SimdVariant;
  /** Encoder lengths (1 + kept patches) it has attention kernels for. */
  readonly encoderLengths: readonly number[];
}

/** model/index.json. */
export interface WebModelIndex {
  /** The model folder's name (e.g. mae-fashion-mnist). */
  readonly name: string;
  readonly config: string;
  readonly preprocessor: string;
  readonly weights: string;
  /** One module on unshared memory (any page), one on shared memory for kernel threads (cross-origin isolated pages). */
  readonly kernels: { readonly single: BundledKernels; readonly threads?: BundledKernels };
  /** Training modules (forward with tape + backward + AdamW) for the page's training panel, when built. */
  readonly training?: { readonly single: BundledKernels; readonly threads?: BundledKernels };
  /** The mask ratios the modules have kernels for, ascending (the page's slider). */
  readonly maskRatios: readonly number[];
  /** The config's mask ratio (one of maskRatios). */
  readonly defaultMaskRatio: number;
  /** Sample images, relative to the model folder. */
  readonly samples: readonly { readonly name: string; readonly file: string }[];
}

/** Slider positions: every 5 % from 5 % to 95 %, as the numbers an <input type=range> gives. */
export function webMaskRatios(): number[] {
  return Array.from({ length: 19 }, (_, i) => Number(((i + 1) * 0.05).toFixed(2)));
}
