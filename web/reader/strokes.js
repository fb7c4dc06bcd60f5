/* Strokes in the browser: a mirror of emnist_core/strokes.py (parse_drawing, render_drawing / ink_from_drawing,
 * emnist_from_drawing): the page's stroke JSON checked with the server's own limits and messages, and drawn
 * with the same round brush, as the model's input starts. Python is the reference; tests/test_web_reader.py
 * holds this file to it. Plain script: after cv.js and preprocess.js in a worker, or with require in node.
 */
(function (root) {
  'use strict';

  const CV = typeof module !== 'undefined' && module.exports ? require('./cv.js') : root.EmnistCV;
  const P = typeof module !== 'undefined' && module.exports ? require('./preprocess.js') : root.EmnistPreprocess;
  const { f32, roundEven, image, line8, chamfer5 } = CV;
  const { C, MESSAGES, UnusableImage } = P;
  const XY_SHIFT = 16, XY_ONE = 65536;
  const shr16 = (v) => Math.floor(v / XY_ONE); // int64 >> 16 (arithmetic)

  // ---- strokes.parse_drawing: the server's checks and messages -----------------------------------
  const LIMITS = {
    SIDE_RANGE: [16, 1024], BRUSH_RANGE: [0.5, 40.0], MAX_STROKES: 200, MAX_POINTS: 20000,
    MAX_LENGTH_SIDES: 100, MAX_JSON_CHARS: 1000000, OUTSIDE: 1.0,
  };
  const thousands = (n) => n.toLocaleString('en-US');

  /** Python's repr of a JSON value (what the server's messages quote), for the values JSON can carry. */
  function pyRepr(v) {
    if (v === null || v === undefined) return 'None';
    if (typeof v === 'boolean') return v ? 'True' : 'False';
    if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? String(v).replace('Infinity', 'inf') : String(v);
    if (typeof v === 'string') return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/'/g, "\\'")}'`;
    if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
    return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  }
  const pyType = (v) => (v === null ? 'NoneType' : Array.isArray(v) ? 'list' : typeof v === 'string' ? 'str'
    : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : 'dict');

  /** Stroke JSON (an object, or a JSON string of one) -> {width, height, brush, strokes} with float32 points,
   * or UnusableImage with the server's own message; `blank` is the message for a drawing with no points. */
  function parseDrawing(value, blank = MESSAGES.blank) {
    if (typeof value === 'string') {
      if (value.length > LIMITS.MAX_JSON_CHARS) {
        throw new UnusableImage(`The drawing is too large to read (over ${thousands(LIMITS.MAX_JSON_CHARS)} characters of JSON).`);
      }
      if (!value.trim()) throw new UnusableImage(blank);
      try { value = JSON.parse(value); } catch (error) {
        throw new UnusableImage('The drawing is not valid JSON: send {"width", "height", "brush", "strokes"}.');
      }
    }
    if (value === null || value === undefined) throw new UnusableImage(blank);
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new UnusableImage(`A drawing is a JSON object with width, height, brush and strokes, not a ${pyType(value)}.`);
    }
    const sides = {};
    for (const name of ['width', 'height']) {
      const side = value[name];
      if (typeof side !== 'number' || !Number.isInteger(side) || side < LIMITS.SIDE_RANGE[0] || side > LIMITS.SIDE_RANGE[1]) {
        throw new UnusableImage(`The drawing's ${name} must be a whole number of pixels from ${LIMITS.SIDE_RANGE[0]} `
          + `to ${LIMITS.SIDE_RANGE[1]}; got ${pyRepr(side).slice(0, 40)}.`);
      }
      sides[name] = side;
    }
    const brush = value.brush;
    if (typeof brush !== 'number' || !(brush >= LIMITS.BRUSH_RANGE[0] && brush <= LIMITS.BRUSH_RANGE[1])) {
      throw new UnusableImage(`The brush radius must be a number from ${LIMITS.BRUSH_RANGE[0]} to `
        + `${LIMITS.BRUSH_RANGE[1].toFixed(1)} pixels; got ${pyRepr(brush).slice(0, 40)}.`);
    }
    let strokes = value.strokes;
    if (!Array.isArray(strokes)) {
      throw new UnusableImage("The drawing's strokes must be a list of strokes, each a list of [x, y] points.");
    }
    if (strokes.length > LIMITS.MAX_STROKES) {
      throw new UnusableImage(`Too many strokes (${strokes.length}): at most ${LIMITS.MAX_STROKES} are read.`);
    }
    if (!strokes.every(Array.isArray)) throw new UnusableImage('Each stroke must be a list of [x, y] points.');
    const total = strokes.reduce((n, stroke) => n + stroke.length, 0);
    if (total > LIMITS.MAX_POINTS) {
      throw new UnusableImage(`Too many points (${thousands(total)}): at most ${thousands(LIMITS.MAX_POINTS)} are read.`);
    }
    strokes = strokes.filter((stroke) => stroke.length);
    if (!strokes.length) throw new UnusableImage(blank);
    // numpy reads the coordinates as one array: numbers only (booleans count as numbers beside others).
    let numbers = 0;
    for (const stroke of strokes) {
      for (const point of stroke) {
        if (!Array.isArray(point) || point.length !== 2 || !point.every((c) => typeof c === 'number' || typeof c === 'boolean')) {
          throw new UnusableImage('Each point must be [x, y], two numbers in canvas pixels.');
        }
        numbers += point.filter((c) => typeof c === 'number').length;
      }
    }
    if (!numbers) throw new UnusableImage('Each point must be [x, y], two numbers in canvas pixels.');
    const { width, height } = sides;
    let length = 0;
    for (const stroke of strokes) {
      for (let i = 0; i < stroke.length; i++) {
        const [x, y] = stroke[i].map(Number);
        if (!Number.isFinite(x) || !Number.isFinite(y)) throw new UnusableImage('A point is not a finite number (NaN or infinity).');
        if (i) length += Math.hypot(x - Number(stroke[i - 1][0]), y - Number(stroke[i - 1][1]));
      }
    }
    for (const stroke of strokes) {
      for (const point of stroke) {
        const [x, y] = point.map(Number);
        if (x < -LIMITS.OUTSIDE * width || y < -LIMITS.OUTSIDE * height || x > (1 + LIMITS.OUTSIDE) * width
            || y > (1 + LIMITS.OUTSIDE) * height) {
          throw new UnusableImage(`A point lies far outside the ${width}x${height} canvas.`);
        }
      }
    }
    if (length > LIMITS.MAX_LENGTH_SIDES * Math.max(width, height)) {
      throw new UnusableImage(`Too much ink for one drawing: the strokes are over ${LIMITS.MAX_LENGTH_SIDES} times `
        + 'as long as the canvas is wide. Clear it and write again.');
    }
    return { width, height, brush, strokes: strokes.map((stroke) => stroke.map(([x, y]) => [f32(Number(x)), f32(Number(y))])) };
  }

  /** strokes._centre_lines: each stroke's centre line, one pixel wide, scaled and shifted by pad. */
  function centreLines(drawing, canvas, scale, pad, value) {
    const shift = 4, s32 = f32(scale);
    for (const stroke of drawing.strokes) {
      const pts = stroke.map(([x, y]) => [
        roundEven(f32(f32(f32(f32(f32(x) * s32) - 0.5) + pad) * (1 << shift))),
        roundEven(f32(f32(f32(f32(f32(y) * s32) - 0.5) + pad) * (1 << shift))),
      ]);
      if (pts.length === 1) pts.push(pts[0]);
      const whole = (v) => shr16(v * (1 << (XY_SHIFT - shift)) + (XY_ONE >> 1)); // ThickLine's rounding
      for (let i = 1; i < pts.length; i++) {
        line8(canvas, value, whole(pts[i - 1][0]), whole(pts[i - 1][1]), whole(pts[i][0]), whole(pts[i][1]));
      }
    }
    return canvas;
  }

  // ---- strokes.render_drawing / ink_from_drawing --------------------------------------------------

  /** strokes.ink_from_drawing: (h, w) float32 ink in 0..1, the drawing scaled to at most MAX_SIDE. */
  function inkFromDrawing(drawing, maxSide = C.MAX_SIDE) {
    const scale = maxSide ? Math.min(1.0, maxSide / Math.max(drawing.width, drawing.height)) : 1.0;
    const h = Math.max(1, roundEven(drawing.height * scale)), w = Math.max(1, roundEven(drawing.width * scale));
    const brush = drawing.brush * scale;
    const pad = Math.ceil(brush) + 2;
    const centre = centreLines(drawing, image(w + 2 * pad, h + 2 * pad, Uint8Array, 255), scale, pad, 0);
    const distance = chamfer5(centre);
    const ink = image(w, h, Float32Array);
    const reach = f32(brush + 0.5);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = distance.data[(y + pad) * centre.w + x + pad];
        const laid = Math.min(1, Math.max(0, f32(reach - d)));
        const grey = roundEven(f32(f32(1 - laid) * 255)); // render_drawing's uint8
        ink.data[y * w + x] = f32(1 - f32(grey / 255));
      }
    }
    return ink;
  }

  /** strokes.emnist_from_drawing: a drawing {width, height, brush, strokes} -> (28*28) uint8, upright. */
  function emnistFromDrawing(drawing) {
    return P.emnistFromInk(inkFromDrawing(drawing));
  }

  const api = { LIMITS, parseDrawing, centreLines, inkFromDrawing, emnistFromDrawing };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.EmnistStrokes = api;
})(typeof self !== 'undefined' ? self : this);
