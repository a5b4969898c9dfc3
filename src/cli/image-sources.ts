/** The images a command works on: positional files/folders and/or a Fashion-MNIST selection. */
import { UsageError } from '../errors.js';
import { type ImageItem, fashionMnistItems, imageFiles } from '../node/image-files.js';

export interface ImageSourceArgs {
  images: string[];
  fashionMnist?: string;
  fashionMnistDir?: string;
}

export function imageItems(a: ImageSourceArgs, fallback?: string): ImageItem[] {
  const items: ImageItem[] = [];
  if (a.images.length > 0) items.push(...imageFiles(a.images));
  if (a.fashionMnist) items.push(...fashionMnistItems(a.fashionMnist, a.fashionMnistDir));
  if (items.length === 0 && fallback) items.push(...imageFiles([fallback]));
  if (items.length === 0) throw new UsageError('no images: give image files or folders, or --fashion-mnist <split:range>');
  return items;
}
