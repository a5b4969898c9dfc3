/**
 * JPEG decoder that reproduces libjpeg-turbo's default output (what Pillow's `Image.open()`
 * returns): baseline and progressive Huffman-coded 8-bit JPEGs, decoded with
 *
 * - the "islow" integer IDCT of jidctint.c (CONST_BITS 13, PASS1_BITS 2, the same rounding and
 *   range limiting), libjpeg's default DCT method;
 * - "fancy" chroma upsampling (jdsample.c: triangle filters h2v1, h2v2 and h1v2 with libjpeg's
 *   alternating rounding biases, edge rows and columns replicated; plain replication for other
 *   integral factors);
 * - the fixed-point YCbCr → RGB tables of jdcolor.c (SCALEBITS 16);
 * - libjpeg's colour-space guess (JFIF → YCbCr; Adobe transform 0 → RGB; component ids R, G, B →
 *   RGB; otherwise YCbCr). CMYK/YCCK JPEGs (4 components) are converted to RGB the way Pillow
 *   does after opening them as "CMYK" (Adobe files inverted, then Pillow's cmyk2rgb).
 *
 * With those, pixels are bit-identical to djpeg / Pillow on the test images. libjpeg's tolerance
 * is kept where Pillow relies on it (a marker inside entropy data ends the segment with zero
 * bits), but data that stops before the end-of-image marker is an error, as in Pillow
 * ("image file is truncated"). Arithmetic coding, lossless, hierarchical and 12-bit JPEGs are
 * rejected as unsupported.
 *
 * The work is bounded by the input: at most MAX_SCANS scans (the limit libjpeg-turbo's own
 * fuzzers set), and all scans together may visit no more blocks than FREE_PASSES passes over the
 * frame plus VISITS_PER_BYTE per byte of the file, checked before each scan starts. (A scan of a
 * few bytes can cover every block of a 4096×4096 frame with one EOB run, so thousands of them
 * would otherwise hold the CPU for minutes.)
 */

/** Thrown for unreadable JPEG data; decode.ts turns it into an ImageError naming the file. */
export class JpegError extends Error {
  constructor(
    message: string,
    readonly kind: 'truncated' | 'corrupt' | 'unsupported',
  ) {
    super(message);
  }
}

export interface DecodedJpeg {
  width: number;
  height: number;
  /** 1 (gray) or 3 (RGB). */
  channels: 1 | 3;
  data: Uint8Array;
}

export interface JpegOptions {
  /** Called with the frame's size before anything is allocated for it; throws to refuse the image. */
  checkFrame(width: number, height: number): void;
}

/** Most scans a JPEG may have (libjpeg-turbo's fuzzers set TJPARAM_SCANLIMIT to 500). */
export const MAX_SCANS = 500;
/** Block visits every image may spend, in passes over its frame: any usual progressive script fits. */
const FREE_PASSES = 16;
/** Further block visits each byte of the file pays for. */
const VISITS_PER_BYTE = 4;

const EOI = 0xd9;
const SOS = 0xda;

/** A marker and, for markers that have one, its segment's payload [start, end). */
interface Marker {
  code: number;
  start: number;
  end: number;
}

/** Markers without a length: SOI, EOI, RSTn, TEM, and the stuffed 0x00 libjpeg steps over. */
const standsAlone = (m: number): boolean => m === 0xd8 || m === EOI || (m >= 0xd0 && m <= 0xd7) || m === 0x01 || m === 0x00;

/** SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): the markers that carry the frame size. */
const isFrameHeader = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/**
 * The first marker at or after `pos`, found as libjpeg's next_marker does (bytes before an 0xFF
 * are skipped as garbage, fill 0xFF bytes too), with its segment; undefined when the data ends
 * first. The decoder and the size sniffer (jpegFrameSize) both walk files with this, so they read
 * the same structure.
 */
function readMarker(data: Uint8Array, pos: number): Marker | undefined {
  while (pos < data.length && data[pos] !== 0xff) pos++;
  while (pos < data.length && data[pos] === 0xff) pos++;
  if (pos >= data.length) return undefined;
  const code = data[pos++]!;
  if (standsAlone(code)) return { code, start: pos, end: pos };
  const hex = code.toString(16);
  if (pos + 2 > data.length) throw new JpegError(`truncated JPEG (ends inside marker 0x${hex})`, 'truncated');
  const len = (data[pos]! << 8) | data[pos + 1]!;
  if (len < 2) throw new JpegError(`corrupt JPEG (marker 0x${hex} with length ${len})`, 'corrupt');
  if (pos + len > data.length) throw new JpegError(`truncated JPEG (marker 0x${hex} needs ${len} bytes, ${data.length - pos} left)`, 'truncated');
  return { code, start: pos + 2, end: pos + len };
}

/**
 * The frame size from the first SOFn segment, reached exactly as decodeJpeg reaches it; undefined
 * when that walk meets a scan, the end of the image or a bad segment first (decodeJpeg fails there).
 */
export function jpegFrameSize(data: Uint8Array): { width: number; height: number } | undefined {
  if (data.length < 2 || data[0] !== 0xff || data[1] !== 0xd8) return undefined;
  try {
    for (let m = readMarker(data, 2); m; m = readMarker(data, m.end)) {
      if (m.code === EOI || m.code === SOS) return undefined;
      if (isFrameHeader(m.code)) {
        if (m.end - m.start < 6) return undefined;
        return { height: (data[m.start + 1]! << 8) | data[m.start + 2]!, width: (data[m.start + 3]! << 8) | data[m.start + 4]! };
      }
    }
  } catch (e) {
    if (e instanceof JpegError) return undefined;
    throw e;
  }
  return undefined;
}

/** Zigzag index → natural (row-major) index, padded with 63 for corrupt run lengths (as libjpeg). */
const NATURAL_ORDER = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35,
  42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62,
  63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]);

interface Huffman {
  counts: Uint8Array;
  /** 9-bit lookahead: (length << 8) | symbol, 0 when the code is longer; built when a scan first uses the table. */
  look: Int32Array | undefined;
  maxcode: Int32Array; // per length 1..16, -1 when none
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

const LOOK_BITS = 9;

/** Checks a DHT table and derives its code limits; the lookahead table waits for a scan (withLookahead). */
function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1);
  const valptr = new Int32Array(17);
  const mincode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = counts[l - 1]!;
    if (n > 0) {
      valptr[l] = k;
      mincode[l] = code;
      code += n;
      k += n;
      maxcode[l] = code - 1;
    }
    if (n > 0 && code >= 1 << l) throw new JpegError('corrupt JPEG (bad Huffman table)', 'corrupt');
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff; // sentinel
  return { counts, look: undefined, maxcode, valptr, mincode, values };
}

/**
 * The table with its lookahead built (once per table). Deferred from DHT to the first scan that
 * uses it, as libjpeg does, so a file of repeated DHT segments costs only its bytes.
 */
function withLookahead(t: Huffman): Huffman {
  if (t.look) return t;
  const look = new Int32Array(1 << LOOK_BITS);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= LOOK_BITS; l++) {
    const shift = LOOK_BITS - l;
    for (let i = 0; i < t.counts[l - 1]!; i++, k++, code++) {
      const base = code << shift;
      for (let j = 0; j < 1 << shift; j++) look[base + j] = (l << 8) | t.values[k]!;
    }
    code <<= 1;
  }
  t.look = look;
  return t;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Latched quantisation table (natural order), at the component's first scan. */
  quant: Int32Array | undefined;
  /** downsampled_width / downsampled_height. */
  width: number;
  height: number;
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Allocated blocks per line / column (whole MCUs). */
  bpl: number;
  bpc: number;
  coefs: Int16Array;
  dcTable: Huffman | undefined;
  acTable: Huffman | undefined;
  pred: number;
}

class BitReader {
  pos: number;
  private buf = 0;
  private cnt = 0;
  /** Set once a marker stops the entropy data; zero bits follow (libjpeg). */
  markerHit = false;
  /** Zero bits stuffed in after the marker. */
  private zeros = 0;
  constructor(
    private readonly data: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }
  private fill(): void {
    let byte = 0;
    if (!this.markerHit) {
      const d = this.data;
      if (this.pos >= d.length) throw new JpegError('truncated JPEG (image data ends early)', 'truncated');
      byte = d[this.pos]!;
      if (byte === 0xff) {
        let p = this.pos + 1;
        while (p < d.length && d[p] === 0xff) p++; // fill bytes
        if (p >= d.length) throw new JpegError('truncated JPEG (image data ends early)', 'truncated');
        if (d[p] === 0) {
          this.pos = p + 1;
        } else {
          this.markerHit = true;
          this.pos = p - 1; // leave the marker for the caller
          byte = 0;
        }
      } else {
        this.pos++;
      }
    }
    if (this.markerHit) this.zeros += 8;
    this.buf = ((this.buf << 8) | byte) & 0xffffff;
    this.cnt += 8;
  }
  bits(n: number): number {
    if (n === 0) return 0;
    while (this.cnt < n) this.fill();
    this.cnt -= n;
    return (this.buf >>> this.cnt) & ((1 << n) - 1);
  }
  bit(): number {
    return this.bits(1);
  }
  peek16(): number {
    while (this.cnt < 16) this.fill();
    return (this.buf >>> (this.cnt - 16)) & 0xffff;
  }
  decode(t: Huffman): number {
    const p = this.peek16();
    const e = t.look![p >>> (16 - LOOK_BITS)]!;
    if (e !== 0) {
      this.cnt -= e >>> 8;
      return e & 0xff;
    }
    for (let l = LOOK_BITS + 1; l <= 16; l++) {
      const code = p >>> (16 - l);
      if (code <= t.maxcode[l]!) {
        this.cnt -= l;
        return t.values[t.valptr[l]! + code - t.mincode[l]!]!;
      }
    }
    // libjpeg: "Corrupt JPEG data: bad Huffman code", fakes a zero.
    this.cnt -= 16;
    return 0;
  }
  /**
   * Whether decoding has used stuffed zero bits: libjpeg's insufficient_data, after which it
   * leaves the rest of the segment's MCUs as they are (zero: uniform gray) instead of decoding them.
   */
  get outOfData(): boolean {
    return this.zeros > this.cnt;
  }
  /** Drops buffered bits at a restart; `stayOutOfData` when no RSTn marker followed (libjpeg keeps the flag then). */
  reset(stayOutOfData: boolean): void {
    this.buf = 0;
    this.cnt = 0;
    this.markerHit = stayOutOfData;
    this.zeros = stayOutOfData ? 1 : 0;
  }
}

function extend(v: number, s: number): number {
  return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
}

/** Decodes JPEG bytes (starting with FF D8) to gray or RGB pixels. */
export function decodeJpeg(data: Uint8Array, options: JpegOptions): DecodedJpeg {
  const fail = (msg: string, kind: JpegError['kind'] = 'corrupt'): never => {
    throw new JpegError(msg, kind);
  };
  if (data.length < 2 || data[0] !== 0xff || data[1] !== 0xd8) fail('not a JPEG (no start-of-image marker)');
  const qt: (Int32Array | undefined)[] = [];
  const dcTables: (Huffman | undefined)[] = [];
  const acTables: (Huffman | undefined)[] = [];
  let frame: { progressive: boolean; width: number; height: number; comps: Component[]; maxH: number; maxV: number; mcusPerLine: number; mcusPerColumn: number } | undefined;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let scans = 0;
  /** Block visits the scans may still make (set at the frame header). */
  let budget = 0;
  let pos = 2;

  const u16 = (p: number) => (data[p]! << 8) | data[p + 1]!;

  for (;;) {
    const m = readMarker(data, pos) ?? fail(frame ? 'truncated JPEG (no end-of-image marker)' : 'truncated JPEG (ends before the image data)', 'truncated');
    const marker = m.code;
    if (marker === EOI) break;
    const seg = data.subarray(m.start, m.end);
    const start = m.start;
    pos = m.end;
    switch (marker) {
      case 0xe0:
        if (seg.length >= 5 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) jfif = true;
        break;
      case 0xee:
        if (seg.length >= 12 && seg[0] === 0x41 && seg[1] === 0x64 && seg[2] === 0x6f && seg[3] === 0x62 && seg[4] === 0x65) adobeTransform = seg[11]!;
        break;
      case 0xdb: {
        let p = 0;
        while (p < seg.length) {
          const pq = seg[p]! >> 4;
          const tq = seg[p]! & 15;
          p++;
          if (pq > 1 || tq > 3) fail(`corrupt JPEG (quantisation table ${tq}, precision ${pq})`);
          const n = pq ? 128 : 64;
          if (p + n > seg.length) fail('corrupt JPEG (short quantisation table)');
          const t = new Int32Array(64);
          for (let k = 0; k < 64; k++) t[NATURAL_ORDER[k]!] = pq ? (seg[p + 2 * k]! << 8) | seg[p + 2 * k + 1]! : seg[p + k]!;
          qt[tq] = t;
          p += n;
        }
        break;
      }
      case 0xc4: {
        let p = 0;
        while (p < seg.length) {
          if (p + 17 > seg.length) fail('corrupt JPEG (short Huffman table)');
          const tc = seg[p]! >> 4;
          const th = seg[p]! & 15;
          if (tc > 1 || th > 3) fail(`corrupt JPEG (Huffman table class ${tc} id ${th})`);
          const counts = seg.subarray(p + 1, p + 17);
          let total = 0;
          for (let i = 0; i < 16; i++) total += counts[i]!;
          if (total > 256 || p + 17 + total > seg.length) fail('corrupt JPEG (bad Huffman table)');
          const t = buildHuffman(counts, seg.slice(p + 17, p + 17 + total));
          (tc === 0 ? dcTables : acTables)[th] = t;
          p += 17 + total;
        }
        break;
      }
      case 0xdd:
        if (seg.length < 2) fail('corrupt JPEG (short restart interval marker)');
        restartInterval = u16(start);
        break;
      case 0xc0:
      case 0xc1:
      case 0xc2: {
        if (frame) fail('unsupported JPEG (more than one frame)', 'unsupported');
        if (seg.length < 6) fail('corrupt JPEG (short frame header)');
        const precision = seg[0]!;
        if (precision !== 8) fail(`unsupported JPEG (${precision}-bit samples)`, 'unsupported');
        const height = u16(start + 1);
        const width = u16(start + 3);
        const nc = seg[5]!;
        if (height === 0) fail('unsupported JPEG (height defined by a DNL marker)', 'unsupported');
        if (width === 0) fail('corrupt JPEG (width 0)');
        options.checkFrame(width, height);
        if (nc !== 1 && nc !== 3 && nc !== 4) fail(`unsupported JPEG (${nc} colour components)`, 'unsupported');
        if (seg.length < 6 + 3 * nc) fail('corrupt JPEG (short frame header)');
        const comps: Component[] = [];
        for (let i = 0; i < nc; i++) {
          const h = seg[7 + 3 * i]! >> 4;
          const v = seg[7 + 3 * i]! & 15;
          if (h < 1 || h > 4 || v < 1 || v > 4) fail(`corrupt JPEG (sampling factors ${h}×${v})`);
          comps.push({
            id: seg[6 + 3 * i]!, h, v, tq: seg[8 + 3 * i]! & 3, quant: undefined,
            width: 0, height: 0, blocksPerLine: 0, blocksPerColumn: 0, bpl: 0, bpc: 0,
            coefs: new Int16Array(0), dcTable: undefined, acTable: undefined, pred: 0,
          });
        }
        const maxH = Math.max(...comps.map((c) => c.h));
        const maxV = Math.max(...comps.map((c) => c.v));
        const mcusPerLine = Math.ceil(width / (8 * maxH));
        const mcusPerColumn = Math.ceil(height / (8 * maxV));
        for (const c of comps) {
          c.width = Math.ceil((width * c.h) / maxH);
          c.height = Math.ceil((height * c.v) / maxV);
          c.blocksPerLine = Math.ceil(c.width / 8);
          c.blocksPerColumn = Math.ceil(c.height / 8);
          c.bpl = mcusPerLine * c.h;
          c.bpc = mcusPerColumn * c.v;
          c.coefs = new Int16Array(c.bpl * c.bpc * 64);
          budget += FREE_PASSES * c.bpl * c.bpc;
        }
        budget += VISITS_PER_BYTE * data.length;
        frame = { progressive: marker === 0xc2, width, height, comps, maxH, maxV, mcusPerLine, mcusPerColumn };
        break;
      }
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf: {
        const what = marker === 0xc3 || marker === 0xc7 || marker === 0xcb || marker === 0xcf ? 'lossless' : marker >= 0xc9 ? 'arithmetic' : 'hierarchical';
        fail(`unsupported JPEG (${what} coding; supported: baseline and progressive Huffman)`, 'unsupported');
        break;
      }
      case SOS: {
        if (!frame) fail('corrupt JPEG (scan before the frame header)');
        if (++scans > MAX_SCANS) fail(`unsupported JPEG (more than ${MAX_SCANS} scans)`, 'unsupported');
        const f = frame!;
        const ns = seg[0] ?? 0;
        if (ns < 1 || ns > 4 || seg.length < 1 + 2 * ns + 3) fail('corrupt JPEG (bad scan header)');
        const scomps: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const id = seg[1 + 2 * i]!;
          const c = f.comps.find((x) => x.id === id) ?? fail(`corrupt JPEG (scan names unknown component ${id})`);
          const td = seg[2 + 2 * i]! >> 4;
          const ta = seg[2 + 2 * i]! & 15;
          if (td > 3 || ta > 3) fail('corrupt JPEG (bad Huffman table selector)');
          const dc = dcTables[td];
          const ac = acTables[ta];
          c.dcTable = dc && withLookahead(dc);
          c.acTable = ac && withLookahead(ac);
          if (!c.quant) {
            const q = qt[c.tq];
            if (!q) fail(`corrupt JPEG (quantisation table ${c.tq} is not defined)`);
            c.quant = q;
          }
          scomps.push(c);
        }
        const ss = seg[1 + 2 * ns]!;
        const se = seg[2 + 2 * ns]!;
        const ah = seg[3 + 2 * ns]! >> 4;
        const al = seg[3 + 2 * ns]! & 15;
        if (f.progressive) {
          if (ss > se || se > 63 || (ss === 0 && se !== 0) || (ss > 0 && ns !== 1) || al > 13 || ah > 13) fail('corrupt JPEG (bad progressive scan parameters)');
        }
        const visits = scanBlocks(f, scomps);
        if (visits > budget) {
          fail(`unsupported JPEG (its ${scans} scans would decode more blocks than ${FREE_PASSES} passes over the frame plus ${VISITS_PER_BYTE} per byte of the file)`, 'unsupported');
        }
        budget -= visits;
        // Sequential JPEGs: libjpeg only warns about other Ss/Se/Ah/Al; they are ignored.
        pos = decodeScan(data, pos, f, scomps, restartInterval, f.progressive ? ss : 0, f.progressive ? se : 63, f.progressive ? ah : 0, f.progressive ? al : 0);
        break;
      }
      default:
        break; // APPn, COM, DNL, …: skipped
    }
  }
  if (!frame) fail('corrupt JPEG (no frame header)');
  return finish(frame!, jfif, adobeTransform);
}

/** The blocks one scan visits: a single component's own blocks, or every block of every MCU. */
function scanBlocks(f: { mcusPerLine: number; mcusPerColumn: number }, comps: Component[]): number {
  if (comps.length === 1) return comps[0]!.blocksPerLine * comps[0]!.blocksPerColumn;
  let perMcu = 0;
  for (const c of comps) perMcu += c.h * c.v;
  return f.mcusPerLine * f.mcusPerColumn * perMcu;
}

function decodeScan(
  data: Uint8Array,
  start: number,
  f: { progressive: boolean; comps: Component[]; mcusPerLine: number; mcusPerColumn: number },
  comps: Component[],
  restartInterval: number,
  ss: number,
  se: number,
  ah: number,
  al: number,
): number {
  const r = new BitReader(data, start);
  const progressive = f.progressive;
  for (const c of comps) {
    c.pred = 0;
    if (progressive) {
      if (ss === 0 && ah === 0 && !c.dcTable) throw new JpegError('corrupt JPEG (missing DC Huffman table)', 'corrupt');
      if (ss > 0 && !c.acTable) throw new JpegError('corrupt JPEG (missing AC Huffman table)', 'corrupt');
    } else if (!c.dcTable || !c.acTable) {
      throw new JpegError('corrupt JPEG (missing Huffman table)', 'corrupt');
    }
  }
  let eobrun = 0;
  const p1 = 1 << al;
  const m1 = -1 << al;

  const decodeBlock = (c: Component, off: number): void => {
    const b = c.coefs;
    if (!progressive) {
      let s = r.decode(c.dcTable!);
      if (s) s = extend(r.bits(s), s);
      c.pred += s;
      b[off] = c.pred;
      for (let k = 1; k < 64; k++) {
        const rs = r.decode(c.acTable!);
        const run = rs >> 4;
        const size = rs & 15;
        if (size) {
          k += run;
          b[off + NATURAL_ORDER[k]!] = extend(r.bits(size), size);
        } else {
          if (run !== 15) break;
          k += 15;
        }
      }
      return;
    }
    if (ss === 0) {
      if (ah === 0) {
        let s = r.decode(c.dcTable!);
        if (s) s = extend(r.bits(s), s);
        c.pred += s;
        b[off] = c.pred * (1 << al);
      } else if (r.bit()) {
        b[off] |= p1;
      }
      return;
    }
    if (ah === 0) {
      if (eobrun > 0) {
        eobrun--;
        return;
      }
      for (let k = ss; k <= se; k++) {
        const rs = r.decode(c.acTable!);
        const run = rs >> 4;
        const size = rs & 15;
        if (size) {
          k += run;
          b[off + NATURAL_ORDER[k]!] = extend(r.bits(size), size) * (1 << al);
        } else if (run === 15) {
          k += 15;
        } else {
          eobrun = 1 << run;
          if (run) eobrun += r.bits(run);
          eobrun--;
          break;
        }
      }
      return;
    }
    // AC refinement (libjpeg decode_mcu_AC_refine).
    let k = ss;
    if (eobrun === 0) {
      for (; k <= se; k++) {
        const rs = r.decode(c.acTable!);
        let run = rs >> 4;
        let s = rs & 15;
        if (s) {
          s = r.bit() ? p1 : m1;
        } else if (run !== 15) {
          eobrun = 1 << run;
          if (run) eobrun += r.bits(run);
          break;
        }
        do {
          const at = off + NATURAL_ORDER[k]!;
          if (b[at] !== 0) {
            if (r.bit()) {
              if ((b[at]! & p1) === 0) b[at] += b[at]! >= 0 ? p1 : m1;
            }
          } else {
            if (--run < 0) break;
          }
          k++;
        } while (k <= se);
        if (s) b[off + NATURAL_ORDER[k]!] = s;
      }
    }
    if (eobrun > 0) {
      for (; k <= se; k++) {
        const at = off + NATURAL_ORDER[k]!;
        if (b[at] !== 0) {
          if (r.bit()) {
            if ((b[at]! & p1) === 0) b[at] += b[at]! >= 0 ? p1 : m1;
          }
        }
      }
      eobrun--;
    }
  };

  const single = comps.length === 1;
  const c0 = comps[0]!;
  const total = single ? c0.blocksPerLine * c0.blocksPerColumn : f.mcusPerLine * f.mcusPerColumn;
  for (let m = 0; m < total; m++) {
    if (restartInterval > 0 && m > 0 && m % restartInterval === 0) {
      // Restart: drop the buffered bits, consume RSTn, reset predictions and the EOB run.
      let p = r.pos;
      while (p < data.length && data[p] !== 0xff) p++;
      while (p < data.length && data[p] === 0xff) p++;
      if (p >= data.length) throw new JpegError('truncated JPEG (image data ends early)', 'truncated');
      const rst = data[p]! >= 0xd0 && data[p]! <= 0xd7;
      // Some other marker: zero bits until the end of the scan (libjpeg resyncs).
      r.reset(!rst && r.outOfData);
      r.pos = rst ? p + 1 : p - 1;
      for (const c of comps) c.pred = 0;
      eobrun = 0;
    }
    if (r.outOfData) {
      // libjpeg leaves the rest of the segment as it is: nothing changes before a restart.
      if (restartInterval === 0) break;
      continue;
    }
    if (single) {
      const row = Math.floor(m / c0.blocksPerLine);
      const col = m - row * c0.blocksPerLine;
      decodeBlock(c0, (row * c0.bpl + col) * 64);
    } else {
      const mrow = Math.floor(m / f.mcusPerLine);
      const mcol = m - mrow * f.mcusPerLine;
      for (const c of comps) {
        for (let v = 0; v < c.v; v++) {
          for (let h = 0; h < c.h; h++) {
            decodeBlock(c, ((mrow * c.v + v) * c.bpl + mcol * c.h + h) * 64);
          }
        }
      }
    }
  }
  // Continue after the scan's entropy data: at the marker the reader stopped at, or past the
  // bytes it consumed.
  return r.pos;
}

// ---------------------------------------------------------------------------------------------
// IDCT (jidctint.c, jpeg_idct_islow)

const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/** libjpeg's post-IDCT range limit: value (centred on 0) masked to 10 bits → sample. */
const IDCT_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let y = 0; y < 1024; y++) {
    if (y < 128) t[y] = y + 128;
    else if (y < 512) t[y] = 255;
    else if (y < 896) t[y] = 0;
    else t[y] = y - 896;
  }
  return t;
})();

function idctBlock(coefs: Int16Array, off: number, q: Int32Array, out: Uint8Array, outOff: number, stride: number, ws: Int32Array): void {
  // Pass 1: columns.
  for (let col = 0; col < 8; col++) {
    const i = off + col;
    if (
      coefs[i + 8] === 0 && coefs[i + 16] === 0 && coefs[i + 24] === 0 && coefs[i + 32] === 0 &&
      coefs[i + 40] === 0 && coefs[i + 48] === 0 && coefs[i + 56] === 0
    ) {
      const dc = (coefs[i]! * q[col]!) << PASS1_BITS;
      for (let r = 0; r < 8; r++) ws[r * 8 + col] = dc;
      continue;
    }
    let z2 = coefs[i + 16]! * q[col + 16]!;
    let z3 = coefs[i + 48]! * q[col + 48]!;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = coefs[i]! * q[col]!;
    z3 = coefs[i + 32]! * q[col + 32]!;
    let tmp0 = (z2 + z3) << CONST_BITS;
    let tmp1 = (z2 - z3) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    tmp0 = coefs[i + 56]! * q[col + 56]!;
    tmp1 = coefs[i + 40]! * q[col + 40]!;
    tmp2 = coefs[i + 24]! * q[col + 24]!;
    tmp3 = coefs[i + 8]! * q[col + 8]!;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 *= -FIX_1_961570560;
    z4 *= -FIX_0_390180644;
    z3 += z5;
    z4 += z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;

    const sh = CONST_BITS - PASS1_BITS;
    const rnd = 1 << (sh - 1);
    ws[col] = (tmp10 + tmp3 + rnd) >> sh;
    ws[56 + col] = (tmp10 - tmp3 + rnd) >> sh;
    ws[8 + col] = (tmp11 + tmp2 + rnd) >> sh;
    ws[48 + col] = (tmp11 - tmp2 + rnd) >> sh;
    ws[16 + col] = (tmp12 + tmp1 + rnd) >> sh;
    ws[40 + col] = (tmp12 - tmp1 + rnd) >> sh;
    ws[24 + col] = (tmp13 + tmp0 + rnd) >> sh;
    ws[32 + col] = (tmp13 - tmp0 + rnd) >> sh;
  }
  // Pass 2: rows.
  const sh = CONST_BITS + PASS1_BITS + 3;
  const rnd = 1 << (sh - 1);
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    const o = outOff + row * stride;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      const dc = IDCT_LIMIT[((ws[w]! + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) & 1023]!;
      for (let x = 0; x < 8; x++) out[o + x] = dc;
      continue;
    }
    let z2 = ws[w + 2]!;
    let z3 = ws[w + 6]!;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (ws[w]! + ws[w + 4]!) << CONST_BITS;
    let tmp1 = (ws[w]! - ws[w + 4]!) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    tmp0 = ws[w + 7]!;
    tmp1 = ws[w + 5]!;
    tmp2 = ws[w + 3]!;
    tmp3 = ws[w + 1]!;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 *= -FIX_1_961570560;
    z4 *= -FIX_0_390180644;
    z3 += z5;
    z4 += z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;

    out[o] = IDCT_LIMIT[((tmp10 + tmp3 + rnd) >> sh) & 1023]!;
    out[o + 7] = IDCT_LIMIT[((tmp10 - tmp3 + rnd) >> sh) & 1023]!;
    out[o + 1] = IDCT_LIMIT[((tmp11 + tmp2 + rnd) >> sh) & 1023]!;
    out[o + 6] = IDCT_LIMIT[((tmp11 - tmp2 + rnd) >> sh) & 1023]!;
    out[o + 2] = IDCT_LIMIT[((tmp12 + tmp1 + rnd) >> sh) & 1023]!;
    out[o + 5] = IDCT_LIMIT[((tmp12 - tmp1 + rnd) >> sh) & 1023]!;
    out[o + 3] = IDCT_LIMIT[((tmp13 + tmp0 + rnd) >> sh) & 1023]!;
    out[o + 4] = IDCT_LIMIT[((tmp13 - tmp0 + rnd) >> sh) & 1023]!;
  }
}

/** IDCT of every block of a component into a plane of bpl·8 × bpc·8 samples. */
function componentPlane(c: Component): { plane: Uint8Array; stride: number } {
  const stride = c.bpl * 8;
  const plane = new Uint8Array(stride * c.bpc * 8);
  const ws = new Int32Array(64);
  const q = c.quant ?? new Int32Array(64); // a component no scan covered stays 0 → mid-gray
  for (let by = 0; by < c.bpc; by++) {
    for (let bx = 0; bx < c.bpl; bx++) {
      idctBlock(c.coefs, (by * c.bpl + bx) * 64, q, plane, by * 8 * stride + bx * 8, stride, ws);
    }
  }
  return { plane, stride };
}

// ---------------------------------------------------------------------------------------------
// Upsampling (jdsample.c) to the full image size

function upsample(c: Component, maxH: number, maxV: number, width: number, height: number): Uint8Array {
  const { plane, stride } = componentPlane(c);
  const out = new Uint8Array(width * height);
  const cw = c.width;
  const ch = c.height;
  const row = (y: number) => Math.min(Math.max(y, 0), ch - 1) * stride;
  if (c.h === maxH && c.v === maxV) {
    for (let y = 0; y < height; y++) out.set(plane.subarray(y * stride, y * stride + width), y * width);
    return out;
  }
  const wide = new Uint8Array(cw * 2 + 2);
  if (maxH === 2 * c.h && maxV === c.v && cw > 2) {
    // h2v1 fancy
    for (let y = 0; y < height; y++) {
      const r = y * stride;
      h2v1Row(plane, r, cw, wide);
      out.set(wide.subarray(0, width), y * width);
    }
    return out;
  }
  if (maxH === c.h && maxV === 2 * c.v) {
    // h1v2 fancy (libjpeg-turbo ≥ 2.1)
    for (let y = 0; y < height; y++) {
      const near = row(y >> 1);
      const far = row((y & 1) === 0 ? (y >> 1) - 1 : (y >> 1) + 1);
      const bias = (y & 1) === 0 ? 1 : 2;
      const o = y * width;
      for (let x = 0; x < width; x++) out[o + x] = (plane[near + x]! * 3 + plane[far + x]! + bias) >> 2;
    }
    return out;
  }
  if (maxH === 2 * c.h && maxV === 2 * c.v && cw > 2) {
    // h2v2 fancy: column sums 3·nearer row + farther row, then 3/4–1/4 across columns, with
    // libjpeg's biases (8 for even output columns, 7 for odd ones).
    const sums = new Int32Array(cw);
    for (let y = 0; y < height; y++) {
      const near = row(y >> 1);
      const far = row((y & 1) === 0 ? (y >> 1) - 1 : (y >> 1) + 1);
      for (let i = 0; i < cw; i++) sums[i] = plane[near + i]! * 3 + plane[far + i]!;
      const o = y * width;
      wide[0] = (sums[0]! * 4 + 8) >> 4;
      wide[1] = (sums[0]! * 3 + sums[1]! + 7) >> 4;
      for (let i = 1; i < cw - 1; i++) {
        const t = sums[i]! * 3;
        wide[2 * i] = (t + sums[i - 1]! + 8) >> 4;
        wide[2 * i + 1] = (t + sums[i + 1]! + 7) >> 4;
      }
      const l = cw - 1;
      wide[2 * l] = (sums[l]! * 3 + sums[l - 1]! + 8) >> 4;
      wide[2 * l + 1] = (sums[l]! * 4 + 7) >> 4;
      out.set(wide.subarray(0, width), o);
    }
    return out;
  }
  if (maxH % c.h === 0 && maxV % c.v === 0) {
    // Integral factors: replication (int_upsample, h2v1_upsample, h2v2_upsample).
    const fh = maxH / c.h;
    const fv = maxV / c.v;
    for (let y = 0; y < height; y++) {
      const r = Math.floor(y / fv) * stride;
      const o = y * width;
      for (let x = 0; x < width; x++) out[o + x] = plane[r + Math.floor(x / fh)]!;
    }
    return out;
  }
  throw new JpegError(`unsupported JPEG (fractional sampling ${c.h}×${c.v} of ${maxH}×${maxV})`, 'unsupported');
}

function h2v1Row(plane: Uint8Array, r: number, cw: number, out: Uint8Array): void {
  let o = 0;
  let v = plane[r]!;
  out[o++] = v;
  out[o++] = (v * 3 + plane[r + 1]! + 2) >> 2;
  for (let i = 1; i < cw - 1; i++) {
    v = plane[r + i]! * 3;
    out[o++] = (v + plane[r + i - 1]! + 1) >> 2;
    out[o++] = (v + plane[r + i + 1]! + 2) >> 2;
  }
  v = plane[r + cw - 1]!;
  out[o++] = (v * 3 + plane[r + cw - 2]! + 1) >> 2;
  out[o++] = v;
}

// ---------------------------------------------------------------------------------------------
// Colour conversion (jdcolor.c) and Pillow's CMYK → RGB

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = Math.floor((FIX(1.402) * x + ONE_HALF) / 65536);
  CB_B[i] = Math.floor((FIX(1.772) * x + ONE_HALF) / 65536);
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + ONE_HALF;
}
const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

function finish(
  f: { width: number; height: number; comps: Component[]; maxH: number; maxV: number },
  jfif: boolean,
  adobeTransform: number,
): DecodedJpeg {
  const { width, height, comps } = f;
  const planes = comps.map((c) => upsample(c, f.maxH, f.maxV, width, height));
  const n = width * height;
  if (comps.length === 1) return { width, height, channels: 1, data: planes[0]! };
  const out = new Uint8Array(n * 3);
  if (comps.length === 3) {
    let ycc: boolean;
    if (jfif) ycc = true;
    else if (adobeTransform >= 0) ycc = adobeTransform !== 0;
    else ycc = !(comps[0]!.id === 0x52 && comps[1]!.id === 0x47 && comps[2]!.id === 0x42);
    const [p0, p1, p2] = planes as [Uint8Array, Uint8Array, Uint8Array];
    if (!ycc) {
      for (let i = 0; i < n; i++) {
        out[i * 3] = p0[i]!;
        out[i * 3 + 1] = p1[i]!;
        out[i * 3 + 2] = p2[i]!;
      }
    } else {
      // Uint8ClampedArray stores clamp to [0, 255], libjpeg's range_limit for these sums.
      const o = new Uint8ClampedArray(out.buffer);
      for (let i = 0; i < n; i++) {
        const y = p0[i]!;
        const cb = p1[i]!;
        const cr = p2[i]!;
        o[i * 3] = y + CR_R[cr]!;
        o[i * 3 + 1] = y + ((CB_G[cb]! + CR_G[cr]!) >> 16);
        o[i * 3 + 2] = y + CB_B[cb]!;
      }
    }
    return { width, height, channels: 3, data: out };
  }
  // Four components: CMYK, or YCCK with Adobe transform 2 (libjpeg converts YCC to inverted RGB
  // = CMY and passes K). Pillow opens Adobe CMYK as inverted ("CMYK;I"), then convert("RGB")
  // applies cmyk2rgb: nk = 255 − k; channel = nk − MULDIV255(c, nk).
  const ycck = adobeTransform >= 0 && adobeTransform !== 0;
  const inverted = adobeTransform >= 0;
  const [p0, p1, p2, p3] = planes as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const muldiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < n; i++) {
    let c0: number, c1: number, c2: number;
    if (ycck) {
      const y = p0[i]!;
      const cb = p1[i]!;
      const cr = p2[i]!;
      c0 = 255 - clamp8(y + CR_R[cr]!);
      c1 = 255 - clamp8(y + ((CB_G[cb]! + CR_G[cr]!) >> 16));
      c2 = 255 - clamp8(y + CB_B[cb]!);
    } else {
      c0 = p0[i]!;
      c1 = p1[i]!;
      c2 = p2[i]!;
    }
    let k = p3[i]!;
    if (inverted) {
      c0 = 255 - c0;
      c1 = 255 - c1;
      c2 = 255 - c2;
      k = 255 - k;
    }
    const nk = 255 - k;
    out[i * 3] = clamp8(nk - muldiv255(c0, nk));
    out[i * 3 + 1] = clamp8(nk - muldiv255(c1, nk));
    out[i * 3 + 2] = clamp8(nk - muldiv255(c2, nk));
  }
  return { width, height, channels: 3, data: out };
}
