/* The ink of one character -> the 28x28 the model sees, in the browser: a mirror of
 * emnist_core/preprocess.py (character_mask, stroke_width, fit_stroke_width, restroke, emnist_from_mask,
 * emnist_from_ink), step for step, on cv.js's operations. Python is the reference; tests/test_web_reader.py
 * runs both on generated drawings and holds this file to it (28x28 within one grey level, the same reading).
 * Plain script, no DOM: after cv.js in a worker, or with require in node.
 */
(function (root) {
  'use strict';

  const CV = typeof module !== 'undefined' && module.exports ? require('./cv.js') : root.EmnistCV;
  const { f32, roundEven, image, pad, not, chamfer5, exactDistance, components, thin } = CV;
  const { resizeArea, resizeLinear, gaussianBlur, bicubicWeights } = CV;
  // emnist_core/preprocess.py and strokes.py constants (the test checks they match).
  const C = {
    MAX_SIDE: 384, MIN_WORK_STROKE: 3.0, WORK_SIDE: 64, NIST_BORDER: 2, STROKE_RANGE: [0.12, 0.16],
    INK_LEVEL: 0.35, SPECK_SHARE: 0.02, MAX_INK_SHARE: 0.6,
  };
  const MESSAGES = {
    blank: 'Nothing drawn yet: draw a character.',
    tooMuchInk: 'Most of the image is ink: draw one character on a clear background.',
    dot: 'That is just a dot: draw a whole character.',
    faint: 'No character found: the strokes are too faint or too thin to follow.',
  };

  class UnusableImage extends Error {}

  // ---- preprocess.character_mask ------------------------------------------------------------------
  function characterMask(ink) {
    const level = f32(C.INK_LEVEL), mask = image(ink.w, ink.h, Uint8Array);
    let count = 0;
    for (let i = 0; i < ink.data.length; i++) if (ink.data[i] > level) { mask.data[i] = 1; count++; }
    if (count / mask.data.length > C.MAX_INK_SHARE) throw new UnusableImage(MESSAGES.tooMuchInk);
    const { labels, areas } = components(mask);
    if (areas.length <= 1) throw new UnusableImage(MESSAGES.blank);
    const largest = Math.max(...areas.slice(1));
    const floor = Math.max(2, C.SPECK_SHARE * largest);
    const keep = areas.map((a, i) => i > 0 && a >= floor);
    for (let i = 0; i < mask.data.length; i++) mask.data[i] = keep[labels[i]] ? 1 : 0;
    return mask;
  }

  // ---- preprocess.stroke_width, thin, restroke, fit_stroke_width ---------------------------------
  /** np.median of float32 values, as preprocess._median computes it (the mean of the middle two in float32). */
  function median32(values) {
    const sorted = Float32Array.from(values).sort();
    const middle = sorted.length >> 1;
    return sorted.length % 2 ? sorted[middle] : f32(f32(sorted[middle - 1] + sorted[middle]) / 2);
  }

  function strokeWidth(mask) {
    const distance = chamfer5(mask), { w, h } = mask, ridge = [];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = distance.data[y * w + x];
        if (!(d > 0)) continue;
        let top = -Infinity; // cv2.dilate with a 3x3 square; outside the image counts for nothing
        for (let yy = Math.max(0, y - 1); yy <= Math.min(h - 1, y + 1); yy++) {
          for (let xx = Math.max(0, x - 1); xx <= Math.min(w - 1, x + 1); xx++) {
            top = Math.max(top, distance.data[yy * w + xx]);
          }
        }
        if (d >= top) ridge.push(d);
      }
    }
    return ridge.length ? 2.0 * median32(ridge) : 0.0;
  }

  const clip01 = (v) => Math.min(1, Math.max(0, v));

  function restroke(mask, width) {
    const distance = exactDistance(not(thin(mask)));
    const reach = f32(width / 2 + 0.5), out = image(mask.w, mask.h, Float32Array);
    for (let i = 0; i < out.data.length; i++) out.data[i] = clip01(f32(reach - distance.data[i]));
    return out;
  }

  function fitStrokeWidth(mask, thinnest, thickest) {
    const width = strokeWidth(mask), out = image(mask.w, mask.h, Float32Array);
    if (width < thinnest) {
      const outside = exactDistance(not(mask)), grow = f32((thinnest - width) / 2 + 1);
      for (let i = 0; i < out.data.length; i++) out.data[i] = clip01(f32(grow - outside.data[i]));
    } else if (width > thickest) {
      const inside = exactDistance(mask), wear = f32((width - thickest) / 2), kept = restroke(mask, 2.0);
      for (let i = 0; i < out.data.length; i++) {
        out.data[i] = Math.max(clip01(f32(inside.data[i] - wear)), kept.data[i]);
      }
    } else {
      for (let i = 0; i < out.data.length; i++) out.data[i] = mask.data[i] ? 1 : 0;
    }
    return out;
  }

  // ---- preprocess.emnist_from_mask ---------------------------------------------------------------

  /** The mask cut to its ink's bounding box (preprocess._crop). */
  function crop(mask) {
    let top = mask.h, bottom = -1, left = mask.w, right = -1;
    for (let y = 0; y < mask.h; y++) {
      for (let x = 0; x < mask.w; x++) {
        if (mask.data[y * mask.w + x]) { top = Math.min(top, y); bottom = y; left = Math.min(left, x); right = Math.max(right, x); }
      }
    }
    if (bottom < 0) throw new UnusableImage(MESSAGES.blank);
    const out = image(right - left + 1, bottom - top + 1, mask.data.constructor);
    for (let y = top; y <= bottom; y++) out.data.set(mask.data.subarray(y * mask.w + left, y * mask.w + right + 1), (y - top) * out.w);
    return out;
  }

  /** preprocess.emnist_from_mask: a 0/1 mask of one character -> (28*28) uint8, upright. `trace`, an object,
   * collects the steps' images (for comparing them with Python's when a drawing differs). */
  function emnistFromMask(mask, trace) {
    let cropped = crop(mask);
    const width = strokeWidth(pad(cropped, 1));
    if (Math.max(cropped.w, cropped.h) < 2.0 * Math.max(width, 1.0)) throw new UnusableImage(MESSAGES.dot);
    const needed = C.MIN_WORK_STROKE * Math.max(cropped.w, cropped.h) / C.WORK_SIDE;
    if (width < needed) {
      const grow = (needed - width) / 2, padded = pad(cropped, Math.ceil(grow) + 1);
      const outside = exactDistance(not(padded)), within = image(padded.w, padded.h, Uint8Array), g = f32(grow);
      for (let i = 0; i < within.data.length; i++) within.data[i] = outside.data[i] <= g ? 1 : 0;
      cropped = crop(within);
    }
    const scale = C.WORK_SIDE / Math.max(cropped.w, cropped.h);
    const dw = Math.max(1, roundEven(cropped.w * scale)), dh = Math.max(1, roundEven(cropped.h * scale));
    const source = { w: cropped.w, h: cropped.h, data: Float32Array.from(cropped.data) };
    const resized = scale < 1 ? resizeArea(source, dw, dh) : resizeLinear(source, dw, dh);
    let work = image(dw, dh, Uint8Array), any = false;
    for (let i = 0; i < work.data.length; i++) if (resized.data[i] > 0.5) { work.data[i] = 1; any = true; }
    if (!any) throw new UnusableImage(MESSAGES.faint);
    work = pad(work, C.WORK_SIDE / 8);
    if (trace) Object.assign(trace, { width, cropped: [cropped.h, cropped.w], resized, work });
    const fitted = fitStrokeWidth(work, C.STROKE_RANGE[0] * C.WORK_SIDE, C.STROKE_RANGE[1] * C.WORK_SIDE);
    const blurred = gaussianBlur(fitted);
    if (trace) Object.assign(trace, { fitted, blurred });
    // Crop again to the new strokes and centre in a square frame with EMNIST's border.
    const level = f32(0.05);
    let top = -1, bottom = -1, left = -1, right = -1;
    for (let y = 0; y < blurred.h; y++) {
      for (let x = 0; x < blurred.w; x++) {
        if (blurred.data[y * blurred.w + x] > level) {
          if (top < 0) top = y;
          bottom = y;
          left = left < 0 ? x : Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    const h = bottom - top + 1, w = right - left + 1;
    const side = Math.max(h, w) + 2 * C.NIST_BORDER, y0 = (side - h) >> 1, x0 = (side - w) >> 1;
    const W = bicubicWeights(side);
    const rowsDone = new Float64Array(28 * w); // W[:, y0:y0+h] @ character
    for (let i = 0; i < 28; i++) {
      for (let y = 0; y < h; y++) {
        const wy = W[i * side + y0 + y];
        if (wy === 0) continue;
        const base = (top + y) * blurred.w + left;
        for (let x = 0; x < w; x++) rowsDone[i * w + x] += wy * blurred.data[base + x];
      }
    }
    const small = new Float32Array(28 * 28);
    let peak = -Infinity;
    for (let i = 0; i < 28; i++) {
      for (let j = 0; j < 28; j++) {
        let s = 0;
        for (let x = 0; x < w; x++) s += rowsDone[i * w + x] * W[j * side + x0 + x];
        small[i * 28 + j] = Math.max(0, f32(s));
        peak = Math.max(peak, small[i * 28 + j]);
      }
    }
    const denominator = f32(Math.max(peak, 1e-6)), upright = new Uint8Array(28 * 28);
    for (let i = 0; i < 784; i++) upright[i] = roundEven(f32(f32(small[i] / denominator) * 255));
    return upright;
  }

  /** preprocess.emnist_from_ink: (h, w) float32 ink in 0..1 -> (28*28) uint8, upright. */
  function emnistFromInk(ink) {
    return emnistFromMask(characterMask(ink));
  }

  /** The upright image in the model's orientation (EMNIST's transpose when `transposed`). */
  function modelInput(upright, transposed) {
    if (!transposed) return upright;
    const out = new Uint8Array(784);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out[x * 28 + y] = upright[y * 28 + x];
    return out;
  }

  const api = { C, MESSAGES, UnusableImage, characterMask, strokeWidth, fitStrokeWidth, emnistFromMask, emnistFromInk, modelInput };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.EmnistPreprocess = api;
})(typeof self !== 'undefined' ? self : this);
