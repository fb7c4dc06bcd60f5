/* The image operations the stroke path uses, as OpenCV 5 and PIL compute them, in the same float32
 * arithmetic (numpy mixes a float32 array with a Python float in float32: hence Math.fround at every step):
 * cv2.polylines (LINE_8, 4 bits of sub-pixel shift), cv2.distanceTransform (the 5x5 chamfer and
 * DIST_MASK_PRECISE), connected components, Zhang-Suen thinning (preprocess.thin's tables), cv2.resize
 * (INTER_AREA / INTER_LINEAR on float32), cv2.GaussianBlur (sigma 1) and PIL's bicubic weights
 * (preprocess._bicubic_weights). strokes.js and preprocess.js build the stroke path from them.
 *
 * Plain script, no DOM: a Web Worker loads it with importScripts, node with require (for debugging).
 */
(function (root) {
  'use strict';

  const f32 = Math.fround;

  /** Python's round() and numpy's np.round: halves to even. */
  function roundEven(x) {
    const r = Math.round(x);
    return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }

  // An image is {w, h, data} with data a typed array, row-major.
  function image(w, h, Type, fill) {
    const data = new Type(w * h);
    if (fill) data.fill(fill);
    return { w, h, data };
  }


  // ---- cv2.polylines(img, [pts], False, 0, 1, cv2.LINE_8, shift=4) ----
  const XY_SHIFT = 16, XY_ONE = 65536;
  const shr16 = (v) => Math.floor(v / XY_ONE); // int64 >> 16 (arithmetic)

  /** OpenCV's clipLine on a size in XY_SHIFT fixed point; returns null when the segment misses. */
  function clipLine(width, height, x1, y1, x2, y2) {
    const right = width - 1, bottom = height - 1;
    if (width <= 0 || height <= 0) return null;
    let c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8;
    let c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8;
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      let a;
      if (c1 & 12) {
        a = c1 < 8 ? 0 : bottom;
        x1 += Math.trunc((a - y1) * (x2 - x1) / (y2 - y1));
        y1 = a;
        c1 = (x1 < 0) + (x1 > right) * 2;
      }
      if (c2 & 12) {
        a = c2 < 8 ? 0 : bottom;
        x2 += Math.trunc((a - y2) * (x2 - x1) / (y2 - y1));
        y2 = a;
        c2 = (x2 < 0) + (x2 > right) * 2;
      }
      if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
        if (c1) {
          a = c1 === 1 ? 0 : right;
          y1 += Math.trunc((a - x1) * (y2 - y1) / (x2 - x1));
          x1 = a;
          c1 = 0;
        }
        if (c2) {
          a = c2 === 1 ? 0 : right;
          y2 += Math.trunc((a - x2) * (y2 - y1) / (x2 - x1));
          x2 = a;
          c2 = 0;
        }
      }
    }
    return (c1 | c2) === 0 ? [x1, y1, x2, y2] : null;
  }

  /** cv2.line(img, p1, p2, value, 1, LINE_8) on whole pixels: OpenCV's LineIterator (8-connected,
   * left to right), clipped to the image first. OpenCV 5 draws a thin LINE_8 polyline with sub-pixel
   * shift this way: the end points rounded, then Bresenham (checked against cv2.polylines in the test). */
  function line8(img, value, x1, y1, x2, y2) {
    if (x1 < 0 || x1 >= img.w || x2 < 0 || x2 >= img.w || y1 < 0 || y1 >= img.h || y2 < 0 || y2 >= img.h) {
      const clipped = clipLine(img.w, img.h, x1, y1, x2, y2);
      if (!clipped) return;
      [x1, y1, x2, y2] = clipped;
    }
    let dx = x2 - x1, dy = y2 - y1;
    if (dx < 0) { dx = -dx; dy = -dy; x1 = x2; y1 = y2; } // left to right
    let xStep = 1, yStep = 1;
    if (dy < 0) { dy = -dy; yStep = -1; }
    let major = [xStep, 0], minor = [0, yStep];
    if (dy > dx) { [dx, dy] = [dy, dx]; [major, minor] = [minor, major]; }
    let err = dx - (dy + dy), x = x1, y = y1;
    const plusDelta = dx + dx, minusDelta = -(dy + dy);
    for (let i = 0; i <= dx; i++) {
      img.data[y * img.w + x] = value;
      const move = err < 0;
      err += minusDelta + (move ? plusDelta : 0);
      x += major[0] + (move ? minor[0] : 0);
      y += major[1] + (move ? minor[1] : 0);
    }
  }

  // ---- cv2.distanceTransform ----------------------------------------------------------------------
  // The mask's metrics (OpenCV's getDistanceTransformMask for DIST_L2, 5x5), added in float32 as
  // OpenCV 5 does (older OpenCV added them in 16.16 fixed point: a few 1e-5 apart, and widths differed).
  const HV_DIST = f32(1.0), DIAG_DIST = f32(1.4), LONG_DIST = f32(2.1969), FAR = f32(3.4e38);

  /** cv2.distanceTransform(src, DIST_L2, DIST_MASK_5): the 5x5 chamfer, to the nearest zero of `src`. */
  function chamfer5(src) {
    const { w, h } = src, B = 2, step = w + 2 * B;
    const t = new Float32Array((h + 2 * B) * step).fill(FAR);
    const out = image(w, h, Float32Array);
    const near = (t0, v) => (t0 > v ? v : t0);
    for (let i = 0; i < h; i++) {
      const row = (i + B) * step + B;
      for (let j = 0; j < w; j++) {
        const k = row + j;
        if (!src.data[i * w + j]) { t[k] = 0; continue; }
        let t0 = f32(t[k - step * 2 - 1] + LONG_DIST);
        t0 = near(t0, f32(t[k - step * 2 + 1] + LONG_DIST));
        t0 = near(t0, f32(t[k - step - 2] + LONG_DIST));
        t0 = near(t0, f32(t[k - step - 1] + DIAG_DIST));
        t0 = near(t0, f32(t[k - step] + HV_DIST));
        t0 = near(t0, f32(t[k - step + 1] + DIAG_DIST));
        t0 = near(t0, f32(t[k - step + 2] + LONG_DIST));
        t0 = near(t0, f32(t[k - 1] + HV_DIST));
        t[k] = t0;
      }
    }
    for (let i = h - 1; i >= 0; i--) {
      const row = (i + B) * step + B;
      for (let j = w - 1; j >= 0; j--) {
        const k = row + j;
        let t0 = t[k];
        if (t0 > HV_DIST) {
          t0 = near(t0, f32(t[k + step * 2 + 1] + LONG_DIST));
          t0 = near(t0, f32(t[k + step * 2 - 1] + LONG_DIST));
          t0 = near(t0, f32(t[k + step + 2] + LONG_DIST));
          t0 = near(t0, f32(t[k + step + 1] + DIAG_DIST));
          t0 = near(t0, f32(t[k + step] + HV_DIST));
          t0 = near(t0, f32(t[k + step - 1] + DIAG_DIST));
          t0 = near(t0, f32(t[k + step - 2] + LONG_DIST));
          t0 = near(t0, f32(t[k + 1] + HV_DIST));
          t[k] = t0;
        }
        out.data[i * w + j] = t0;
      }
    }
    return out;
  }

  /** cv2.distanceTransform(src, DIST_L2, DIST_MASK_PRECISE): exact Euclidean distance to the nearest
   * zero of `src`, as OpenCV's trueDistTrans computes it (columns, then lower envelopes along rows). */
  function exactDistance(src) {
    const { w: n, h: m } = src, INF = f32(1e15);
    const out = image(n, m, Float32Array);
    const sqrCol = new Float32Array(2 * m + 1);
    for (let i = 0; i < 2 * m + 1; i++) sqrCol[i] = i < m ? i * i : INF;
    const d = new Int32Array(m);
    for (let x = 0; x < n; x++) {
      let dist = m - 1;
      for (let j = m - 1; j >= 0; j--) { dist = src.data[j * n + x] === 0 ? 0 : dist + 1; d[j] = dist; }
      dist = m - 1;
      for (let j = 0; j < m; j++) {
        dist = Math.min(dist + 1, d[j]);
        out.data[j * n + x] = sqrCol[dist];
      }
    }
    const sqr = new Float32Array(n), inv = new Float32Array(n);
    for (let i = 1; i < n; i++) { inv[i] = f32(0.5 / i); sqr[i] = i * i; }
    const f = new Float32Array(n), z = new Float32Array(n + 1), v = new Int32Array(n + 1);
    for (let y = 0; y < m; y++) {
      const row = out.data.subarray(y * n, (y + 1) * n);
      v[0] = 0; z[0] = -INF; z[1] = INF; f[0] = row[0];
      for (let q = 1, k = 0; q < n; q++) {
        const fq = row[q];
        f[q] = fq;
        for (;; k--) {
          const p = v[k];
          const s = f32(f32(f32(f32(fq + sqr[q]) - row[p]) - sqr[p]) * inv[q - p]);
          if (s > z[k]) { k++; v[k] = q; z[k] = s; z[k + 1] = INF; break; }
        }
      }
      for (let q = 0, k = 0; q < n; q++) {
        while (z[k + 1] < q) k++;
        const p = v[k];
        row[q] = f32(Math.sqrt(f32(sqr[Math.abs(q - p)] + f[p])));
      }
    }
    return out;
  }


  /** 8-connected components of a 0/1 image: (labels Int32Array, areas by label; label 0 is background). */
  function components(mask) {
    const { w, h } = mask, labels = new Int32Array(w * h), areas = [0], stack = [];
    for (let start = 0; start < w * h; start++) {
      if (!mask.data[start] || labels[start]) continue;
      const label = areas.length;
      let area = 0;
      labels[start] = label;
      stack.push(start);
      while (stack.length) {
        const k = stack.pop(), y = (k / w) | 0, x = k - y * w;
        area++;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= w) continue;
            const kk = yy * w + xx;
            if (mask.data[kk] && !labels[kk]) { labels[kk] = label; stack.push(kk); }
          }
        }
      }
      areas.push(area);
    }
    return { labels, areas };
  }

  function pad(mask, width) {
    const out = image(mask.w + 2 * width, mask.h + 2 * width, mask.data.constructor);
    for (let y = 0; y < mask.h; y++) out.data.set(mask.data.subarray(y * mask.w, (y + 1) * mask.w), (y + width) * out.w + width);
    return out;
  }

  function not(mask) {
    const out = image(mask.w, mask.h, Uint8Array);
    for (let i = 0; i < mask.data.length; i++) out.data[i] = mask.data[i] ? 0 : 1;
    return out;
  }

  /** preprocess._thinning_tables: Zhang-Suen's removal rule per 8-neighbour code, for both sub-passes. */
  const THINNING = [true, false].map((firstPass) => {
    const table = new Uint8Array(256);
    for (let code = 0; code < 256; code++) {
      const n = Array.from({ length: 8 }, (_, i) => (code >> i) & 1);
      let transitions = 0;
      for (let i = 0; i < 8; i++) transitions += n[i] === 0 && n[(i + 1) % 8] === 1;
      const side = firstPass ? (n[0] * n[2] * n[4] === 0 && n[2] * n[4] * n[6] === 0)
        : (n[0] * n[2] * n[6] === 0 && n[0] * n[4] * n[6] === 0);
      const sum = n.reduce((a, b) => a + b, 0);
      table[code] = (sum >= 2 && sum <= 6 && transitions === 1 && side) ? 1 : 0;
    }
    return table;
  });
  // Neighbour (dy, dx) -> bit, as preprocess._NEIGHBOUR_BITS: P2 north is bit 0, clockwise.
  const BITS = [[-1, 0, 1], [-1, 1, 2], [0, 1, 4], [1, 1, 8], [1, 0, 16], [1, -1, 32], [0, -1, 64], [-1, -1, 128]];

  function thin(mask) {
    const img = pad(mask, 1), { w, h } = img, remove = new Uint8Array(w * h);
    for (;;) {
      let changed = false;
      for (const table of THINNING) {
        let any = false;
        for (let y = 1; y < h - 1; y++) {
          for (let x = 1; x < w - 1; x++) {
            const k = y * w + x;
            if (!img.data[k]) { remove[k] = 0; continue; }
            let code = 0;
            for (const [dy, dx, bit] of BITS) if (img.data[k + dy * w + dx]) code |= bit;
            remove[k] = table[code];
            any = any || remove[k] === 1;
          }
        }
        if (any) {
          for (let k = 0; k < w * h; k++) if (remove[k]) img.data[k] = 0;
          changed = true;
        }
        remove.fill(0);
      }
      if (!changed) break;
    }
    const out = image(mask.w, mask.h, Uint8Array);
    for (let y = 0; y < mask.h; y++) out.data.set(img.data.subarray((y + 1) * w + 1, (y + 1) * w + 1 + mask.w), y * mask.w);
    return out;
  }

  // ---- cv2.resize on float32 ----------------------------------------------------------------------

  /** OpenCV's computeResizeAreaTab: [source index, destination index, float32 weight] along one axis. */
  function areaTable(ssize, dsize, scale) {
    const tab = [];
    for (let dx = 0; dx < dsize; dx++) {
      const fsx1 = dx * scale, fsx2 = fsx1 + scale, cell = Math.min(scale, ssize - fsx1);
      let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
      sx2 = Math.min(sx2, ssize - 1);
      sx1 = Math.min(sx1, sx2);
      if (sx1 - fsx1 > 1e-3) tab.push([sx1 - 1, dx, f32((sx1 - fsx1) / cell)]);
      for (let sx = sx1; sx < sx2; sx++) tab.push([sx, dx, f32(1.0 / cell)]);
      if (fsx2 - sx2 > 1e-3) tab.push([sx2, dx, f32(Math.min(Math.min(fsx2 - sx2, 1.0), cell) / cell)]);
    }
    return tab;
  }

  function resizeArea(src, dw, dh) {
    const sx = src.w / dw, sy = src.h / dh;
    const out = image(dw, dh, Float32Array);
    if (Number.isInteger(sx) && Number.isInteger(sy)) { // OpenCV's fast path for whole factors
      const scale = f32(1 / (sx * sy));
      for (let y = 0; y < dh; y++) {
        for (let x = 0; x < dw; x++) {
          let sum = 0;
          for (let j = 0; j < sy; j++) for (let i = 0; i < sx; i++) sum = f32(sum + src.data[(y * sy + j) * src.w + x * sx + i]);
          out.data[y * dw + x] = f32(sum * scale);
        }
      }
      return out;
    }
    const xtab = areaTable(src.w, dw, 1 / (dw / src.w)), ytab = areaTable(src.h, dh, 1 / (dh / src.h));
    const buf = new Float32Array(dw), sum = new Float32Array(dw);
    let prev = ytab.length ? ytab[0][1] : 0;
    for (const [sy0, dy, beta] of ytab) {
      buf.fill(0);
      const row = sy0 * src.w;
      for (const [sx0, dx, alpha] of xtab) buf[dx] = f32(buf[dx] + f32(src.data[row + sx0] * alpha));
      if (dy !== prev) {
        out.data.set(sum, prev * dw);
        for (let x = 0; x < dw; x++) sum[x] = f32(beta * buf[x]);
        prev = dy;
      } else {
        for (let x = 0; x < dw; x++) sum[x] = f32(sum[x] + f32(beta * buf[x]));
      }
    }
    out.data.set(sum, prev * dw);
    return out;
  }

  /** OpenCV's INTER_LINEAR coefficients along one axis: [index, weight of it, weight of the next, has a next]. */
  function linearTable(ssize, dsize) {
    const scale = 1 / (dsize / ssize), tab = [];
    for (let dx = 0; dx < dsize; dx++) {
      let fx = f32((dx + 0.5) * scale - 0.5), sx = Math.floor(fx);
      fx = f32(fx - sx);
      if (sx < 0) { fx = 0; sx = 0; }
      const edge = sx + 1 >= ssize;
      if (sx >= ssize - 1) { fx = 0; sx = ssize - 1; }
      tab.push([sx, f32(1 - fx), fx, !edge]);
    }
    return tab;
  }

  function resizeLinear(src, dw, dh) {
    if (dw === src.w && dh === src.h) return { w: dw, h: dh, data: Float32Array.from(src.data) };
    const xt = linearTable(src.w, dw), yt = linearTable(src.h, dh);
    const rows = new Array(src.h);
    const hrow = (sy) => {
      if (rows[sy]) return rows[sy];
      const r = new Float32Array(dw), base = sy * src.w;
      for (let x = 0; x < dw; x++) {
        const [sx, a0, a1, next] = xt[x];
        r[x] = next ? f32(f32(src.data[base + sx] * a0) + f32(src.data[base + sx + 1] * a1)) : f32(src.data[base + sx] * a0);
      }
      return (rows[sy] = r);
    };
    const out = image(dw, dh, Float32Array);
    for (let y = 0; y < dh; y++) {
      const [sy, b0, b1] = yt[y], r0 = hrow(sy), r1 = hrow(Math.min(sy + 1, src.h - 1));
      for (let x = 0; x < dw; x++) out.data[y * dw + x] = f32(f32(r0[x] * b0) + f32(r1[x] * b1));
    }
    return out;
  }

  // ---- cv2.GaussianBlur(img, (0, 0), sigmaX=1.0) on float32 --------------------------------------

  const GAUSS = (() => { // getGaussianKernel(9, 1.0, CV_32F)
    const n = 9, k = new Float32Array(n), scale2 = -0.5 / (1.0 * 1.0);
    let sum = 0;
    for (let i = 0; i < n; i++) { const x = i - (n - 1) * 0.5; k[i] = f32(Math.exp(scale2 * x * x)); sum += k[i]; }
    sum = 1 / sum;
    for (let i = 0; i < n; i++) k[i] = f32(k[i] * sum);
    return k;
  })();

  function reflect101(i, n) {
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  }

  function gaussianBlur(src) {
    const { w, h } = src, r = 4, tmp = new Float32Array(w * h), out = image(w, h, Float32Array);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let k = 0; k <= 2 * r; k++) s = f32(s + f32(GAUSS[k] * src.data[y * w + reflect101(x + k - r, w)]));
        tmp[y * w + x] = s;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let k = 0; k <= 2 * r; k++) s = f32(s + f32(GAUSS[k] * tmp[reflect101(y + k - r, h) * w + x]));
        out.data[y * w + x] = s;
      }
    }
    return out;
  }

  // ---- PIL's bicubic resize to 28, as preprocess._bicubic_weights ---------------------------------

  function bicubicFilter(x) {
    const a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  }

  const bicubicCache = new Map();
  /** (28 x side) weights, row-major Float64Array holding float32 values: PIL's precompute_coeffs. */
  function bicubicWeights(side, out = 28) {
    const key = side * 1000 + out;
    if (bicubicCache.has(key)) return bicubicCache.get(key);
    const scale = side / out, filterscale = Math.max(scale, 1.0), support = 2.0 * filterscale;
    const weights = new Float64Array(out * side);
    for (let xx = 0; xx < out; xx++) {
      const centre = (xx + 0.5) * scale, ss = 1.0 / filterscale;
      const xmin = Math.max(0, Math.trunc(centre - support + 0.5));
      const xmax = Math.min(side, Math.trunc(centre + support + 0.5)) - xmin;
      const k = [];
      let ww = 0;
      for (let x = 0; x < xmax; x++) { const v = bicubicFilter((x + xmin - centre + 0.5) * ss); k.push(v); ww += v; }
      for (let x = 0; x < xmax; x++) weights[xx * side + xmin + x] = f32(ww !== 0 ? k[x] / ww : k[x]);
    }
    bicubicCache.set(key, weights);
    return weights;
  }

  const api = {
    f32, roundEven, image, pad, not, clipLine, line8, chamfer5, exactDistance, components, thin,
    resizeArea, resizeLinear, gaussianBlur, bicubicWeights,
  };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.EmnistCV = api;
})(typeof self !== 'undefined' ? self : this);
