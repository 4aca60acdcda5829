/**
 * Renders a scene (scene.ts) to PNG without a browser or package: a tiny RGBA rasteriser
 * (filled rectangles, lines, the 5 × 7 bitmap font of font5x7.ts) and a PNG encoder (zlib from
 * Node, CRC-32 here). Text is pixel-font, not anti-aliased: the PNG is for quick looks and
 * viewers without SVG; the SVG is the faithful rendering.
 */
import { deflateSync } from "node:zlib";
import { GLYPH_ADVANCE, GLYPH_HEIGHT, glyph } from "./font5x7.js";
import type { Scene, Shape } from "./scene.js";

class Canvas {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.pixels = new Uint8Array(width * height * 4);
  }

  fillRect(x0: number, y0: number, x1: number, y1: number, rgb: readonly number[]): void {
    const xa = Math.max(0, Math.round(Math.min(x0, x1)));
    const xb = Math.min(this.width, Math.round(Math.max(x0, x1)));
    const ya = Math.max(0, Math.round(Math.min(y0, y1)));
    const yb = Math.min(this.height, Math.round(Math.max(y0, y1)));
    for (let y = ya; y < yb; y++) {
      for (let x = xa; x < xb; x++) {
        const i = (y * this.width + x) * 4;
        this.pixels[i] = rgb[0]!;
        this.pixels[i + 1] = rgb[1]!;
        this.pixels[i + 2] = rgb[2]!;
        this.pixels[i + 3] = 255;
      }
    }
  }

  line(x1: number, y1: number, x2: number, y2: number, width: number, rgb: readonly number[], dash: boolean): void {
    const w = Math.max(1, Math.round(width));
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1))));
    for (let s = 0; s <= steps; s++) {
      if (dash && s % 7 >= 4) continue;
      const x = x1 + ((x2 - x1) * s) / steps;
      const y = y1 + ((y2 - y1) * s) / steps;
      this.fillRect(x - w / 2, y - w / 2, x + w / 2, y + w / 2, rgb);
    }
  }

  text(s: Extract<Shape, { kind: "text" }>, rgb: readonly number[]): void {
    const chars = [...s.text];
    // Large text at double size when it fits the picture; the pixel font cannot shrink below 1.
    const scale = s.size >= 15 && chars.length * GLYPH_ADVANCE * 2 <= this.width - 16 ? 2 : 1;
    const length = chars.length * GLYPH_ADVANCE * scale;
    const shift = s.anchor === "start" ? 0 : s.anchor === "middle" ? length / 2 : length;
    chars.forEach((ch, c) => {
      const g = glyph(ch);
      g.forEach((row, gy) =>
        row.forEach((ink, gx) => {
          if (!ink) return;
          const bold = s.bold ? 2 : 1; // bold: each pixel one pixel wider
          // Along the text: u; across it (upwards from the baseline): v.
          const u = c * GLYPH_ADVANCE * scale + gx * scale - shift;
          const v = (GLYPH_HEIGHT - gy) * scale;
          if (s.vertical) this.fillRect(s.x - v, s.y - u - scale * bold + scale, s.x - v + scale, s.y - u + scale, rgb);
          else this.fillRect(s.x + u, s.y - v, s.x + u + scale * bold, s.y - v + scale, rgb);
        }),
      );
    });
  }
}

export function parseColour(c: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(c);
  if (!m) return [0, 0, 0];
  const v = Number.parseInt(m[1]!, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

export function rasterise(scene: Scene): Canvas {
  const canvas = new Canvas(Math.ceil(scene.width), Math.ceil(scene.height));
  canvas.fillRect(0, 0, canvas.width, canvas.height, parseColour(scene.background));
  for (const s of scene.shapes) {
    if (s.kind === "rect") canvas.fillRect(s.x, s.y, s.x + s.w, s.y + s.h, parseColour(s.fill));
    else if (s.kind === "line") canvas.line(s.x1, s.y1, s.x2, s.y2, s.width, parseColour(s.stroke), s.dash ?? false);
    else canvas.text(s, parseColour(s.fill));
  }
  return canvas;
}

export function sceneToPng(scene: Scene): Buffer {
  const c = rasterise(scene);
  return encodePng(c.width, c.height, c.pixels);
}

/** An RGBA8 PNG: signature, IHDR, one IDAT (no filtering, zlib-deflated), IEND. */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type: none
    raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO 3309, as PNG uses). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
