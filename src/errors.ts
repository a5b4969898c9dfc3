/**
 * Typed errors. Every error that bad input can cause is an EdgeMaeError subclass whose message
 * names the thing at fault (file, tensor, field) and what was expected, in one line, so the CLI
 * can print `edge-mae: <message>` and exit non-zero without a stack trace.
 */
export class EdgeMaeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An invalid ViT-MAE config field. */
export class ConfigError extends EdgeMaeError {}

/** A malformed or unsupported safetensors file. */
export class SafetensorsError extends EdgeMaeError {}

/** Weights missing, of the wrong shape, or not matching the config. */
export class WeightsError extends EdgeMaeError {}

/** Model inputs of the wrong shape or type (pixels, noise, batch). */
export class InputError extends EdgeMaeError {}

/** A mask ratio that the precompiled kernel module has no encoder for (build it with that ratio). */
export class MaskRatioError extends InputError {}

/** An image that cannot be read, decoded or is unsupported. */
export class ImageError extends EdgeMaeError {}

/** The kernel compiler or the WebAssembly module failed. */
export class KernelError extends EdgeMaeError {}

/** Command-line usage errors. */
export class UsageError extends EdgeMaeError {}

/** Files that cannot be read or written. */
export class FileError extends EdgeMaeError {}
