/**
 * An image's width and height from its header alone (PNG IHDR, JPEG SOFn), so a server can refuse
 * an oversized image before decoding allocates for it. It reads the header as the decoders do
 * (PNG: the IHDR chunk that must come first; JPEG: the decoder's own marker walk, which skips
 * garbage between segments as libjpeg does), and is undefined exactly where they fail before
 * reaching the size.
 */
import { sniffImageFormat } from './decode.js';
import { jpegFrameSize } from './jpeg.js';

export interface ImageSize {
  width: number;
  height: number;
}

const IHDR = [0x49, 0x48, 0x44, 0x52];

export function imageSize(bytes: Uint8Array): ImageSize | undefined {
  const format = sniffImageFormat(bytes);
  if (format === 'png') {
    // Signature (8), IHDR length 13 (4) and type (4), then width and height, big-endian.
    if (bytes.length < 24) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(8) !== 13 || !IHDR.every((b, i) => bytes[12 + i] === b)) return undefined;
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (format === 'jpeg') return jpegFrameSize(bytes);
  return undefined;
}
