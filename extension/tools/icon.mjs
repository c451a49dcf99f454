// The toolbar icon, drawn at build time (no binary files in the repository):
// a white card with a gold chip on a blue rounded square. Deterministic PNG.

import { deflateSync } from "node:zlib";
import { crc32 } from "./zip.mjs";

/** Shapes in unit coordinates: [x0, y0, x1, y1, radius, rgb]. */
const SHAPES = /** @type {const} */ ([
  [0, 0, 1, 1, 0.2, [0x0b, 0x5c, 0xad]],
  [0.14, 0.26, 0.86, 0.74, 0.07, [0xff, 0xff, 0xff]],
  [0.24, 0.37, 0.43, 0.55, 0.035, [0xe0, 0xa8, 0x2e]],
  [0.5, 0.39, 0.77, 0.45, 0.02, [0x9f, 0xb8, 0xd6]],
  [0.5, 0.5, 0.71, 0.56, 0.02, [0x9f, 0xb8, 0xd6]],
  [0.24, 0.62, 0.77, 0.67, 0.02, [0xc9, 0xd6, 0xe6]],
]);

/**
 * @param {number} x
 * @param {number} y
 * @param {readonly [number, number, number, number, number, unknown]} s
 */
function inside(x, y, [x0, y0, x1, y1, r]) {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

/**
 * iconPNG draws the icon at size x size pixels, 4x4 supersampled.
 * @param {number} size
 */
export function iconPNG(size) {
  const N = 4;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let py = 0; py < size; py++) {
    raw[py * (size * 4 + 1)] = 0; // filter: none
    for (let px = 0; px < size; px++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < N; sy++) {
        for (let sx = 0; sx < N; sx++) {
          const x = (px + (sx + 0.5) / N) / size;
          const y = (py + (sy + 0.5) / N) / size;
          let top = null;
          for (const s of SHAPES) if (inside(x, y, s)) top = s[5];
          if (top) {
            acc[0] += top[0];
            acc[1] += top[1];
            acc[2] += top[2];
            acc[3] += 255;
          }
        }
      }
      const covered = acc[3] / 255;
      const o = py * (size * 4 + 1) + 1 + px * 4;
      for (let c = 0; c < 3; c++) raw[o + c] = covered ? Math.round(acc[c] / covered) : 0;
      raw[o + 3] = Math.round(acc[3] / (N * N));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
}

/**
 * @param {string} type
 * @param {Buffer} data
 */
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
