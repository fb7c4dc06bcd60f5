/* A drawing's pen path for the stroke model: a mirror of emnist_core/strokes.py's trajectory, step for step
 * in float64 (JavaScript's numbers) with numpy's own arithmetic (pairwise sums, cumsum, linspace, interp,
 * stable argsort), cast to float32 at the end. Python is the reference; tests/test_web_reader.py holds
 * this file to it. Plain script, no DOM: in the reader's worker, or with require in node.
 */
(function (root) {
  'use strict';

  const TRAJECTORY_POINTS = 64; // strokes.TRAJECTORY_POINTS
  const TRAJECTORY_CHANNELS = 6; // strokes.TRAJECTORY_CHANNELS: x, y, dx, dy, a stroke starts, a stroke ends
  const PW_BLOCKSIZE = 128;

  /** numpy's add.reduce of float64 (sum, and mean's sum): pairwise, 8 partial sums in blocks of 128. */
  function pairwiseSum(a, start = 0, n = a.length - start) {
    if (n < 8) {
      let res = 0;
      for (let i = 0; i < n; i++) res += a[start + i];
      return res;
    }
    if (n <= PW_BLOCKSIZE) {
      const r = a.slice(start, start + 8);
      let i = 8;
      for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
      let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[start + i];
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
  }

  /** glibc's hypot (2.35 on, without FMA: what numpy's np.hypot calls on x86-64 Linux), Borges' algorithm: a
   * correction of sqrt(ax * ax + ay * ay). Math.hypot rounds otherwise in about a third of cases. */
  function hypotKernel(ax, ay) {
    let h = Math.sqrt(ax * ax + ay * ay), t1, t2;
    if (h <= 2.0 * ay) {
      const delta = h - ay;
      t1 = ax * (2.0 * delta - ax);
      t2 = (delta - 2.0 * (ax - ay)) * delta;
    } else {
      const delta = h - ax;
      t1 = 2.0 * delta * (ax - 2.0 * ay);
      t2 = (4.0 * delta - ay) * ay + delta * delta;
    }
    return h - (t1 + t2) / (2.0 * h);
  }
  const SCALE = 2 ** -600, LARGE_VAL = 2 ** 511, TINY_VAL = 2 ** -511, EPS = 2 ** -54;
  function hypot(x, y) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Math.hypot(x, y);
    x = Math.abs(x);
    y = Math.abs(y);
    const ax = x < y ? y : x, ay = x < y ? x : y;
    if (ax > LARGE_VAL) return ay <= ax * EPS ? ax + ay : hypotKernel(ax * SCALE, ay * SCALE) / SCALE;
    if (ay < TINY_VAL) return ax >= ay / EPS ? ax + ay : hypotKernel(ax / SCALE, ay / SCALE) * SCALE;
    return ay <= ax * EPS ? ax + ay : hypotKernel(ax, ay);
  }

  /** np.hypot(*np.diff(points, axis=0).T): the length of each step between consecutive points. */
  const steps = (xs, ys) => xs.slice(1).map((x, i) => hypot(x - xs[i], ys[i + 1] - ys[i]));

  /** np.argsort(keys, kind="stable"): indices by key, ties in index order. */
  const stableArgsort = (keys) => keys.map((_, i) => i)
    .sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b));

  /** np.linspace(0.0, stop, num) for num > 1: i * step, the last exactly `stop` (numpy's order of operations). */
  function linspace(stop, num) {
    const div = num - 1, step = stop / div, out = new Array(num);
    for (let i = 0; i < num; i++) out[i] = step === 0 ? (i / div) * stop + 0 : i * step + 0;
    out[num - 1] = stop;
    return out;
  }

  /** numpy's binary_search_with_guess: the last index j with xp[j] <= x (-1 below xp[0], len above the end). */
  function searchRight(x, xp) {
    const len = xp.length;
    if (x > xp[len - 1]) return len;
    if (x < xp[0]) return -1;
    let lo = 0, hi = len;
    while (lo < hi) {
      const mid = lo + ((hi - lo) >> 1);
      if (x >= xp[mid]) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** np.interp(x, xp, fp) for increasing xp, as numpy's arr_interp computes each value. */
  function interp(xs, xp, fp) {
    const last = xp.length - 1;
    return xs.map((x) => {
      if (Number.isNaN(x)) return x;
      const j = searchRight(x, xp);
      if (j === -1) return fp[0];
      if (j === xp.length) return fp[last];
      if (j === last || xp[j] === x) return fp[j];
      const slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
      let y = slope * (x - xp[j]) + fp[j];
      if (Number.isNaN(y)) {
        y = slope * (x - xp[j + 1]) + fp[j + 1];
        if (Number.isNaN(y) && fp[j] === fp[j + 1]) y = fp[j];
      }
      return y;
    });
  }

  /** strokes.trajectory: strokes ([[x, y], ...] each; the parsed drawing's float32 points) ->
   * Float32Array(6 * 64), channel-major as the (6, 64) array. */
  function trajectory(strokesIn) {
    const n = TRAJECTORY_POINTS;
    let strokes = strokesIn.filter((s) => s.length)
      .map((s) => ({ xs: s.map((p) => Number(p[0])), ys: s.map((p) => Number(p[1])) }));
    if (!strokes.length) throw new Error('no points');
    // a point where the pen did not move adds nothing to the path (strokes.trajectory drops it too)
    strokes = strokes.map(({ xs, ys }) => {
      const keep = xs.map((x, i) => i === 0 || x !== xs[i - 1] || ys[i] !== ys[i - 1]);
      return { xs: xs.filter((_, i) => keep[i]), ys: ys.filter((_, i) => keep[i]) };
    });
    let lowX = Infinity, lowY = Infinity, highX = -Infinity, highY = -Infinity;
    for (const { xs, ys } of strokes) {
      for (const x of xs) { lowX = Math.min(lowX, x); highX = Math.max(highX, x); }
      for (const y of ys) { lowY = Math.min(lowY, y); highY = Math.max(highY, y); }
    }
    const size = Math.max(Math.max(highX - lowX, highY - lowY), 1e-6);
    const midX = (lowX + highX) / 2, midY = (lowY + highY) / 2;
    strokes = strokes.map(({ xs, ys }) => ({ xs: xs.map((x) => (x - midX) / size),
                                             ys: ys.map((y) => (y - midY) / size) }));
    let lengths = strokes.map(({ xs, ys }) => (xs.length > 1 ? pairwiseSum(steps(xs, ys)) : 0));
    if (strokes.length > n / 2) {
      const keep = stableArgsort(lengths.map((v) => -v)).slice(0, n / 2).sort((a, b) => a - b);
      strokes = keep.map((i) => strokes[i]);
      lengths = keep.map((i) => lengths[i]);
    }
    const rest = n - strokes.length, total = pairwiseSum(lengths);
    const share = total > 0 ? lengths.map((v) => (v / total) * rest) : strokes.map(() => rest / strokes.length);
    const counts = share.map(Math.floor);
    const missing = rest - counts.reduce((a, b) => a + b, 0);
    for (const i of stableArgsort(share.map((v, i) => -(v - counts[i]))).slice(0, Math.max(missing, 0))) counts[i] += 1;
    const out = new Float64Array(TRAJECTORY_CHANNELS * n);
    let k = 0;
    strokes.forEach(({ xs, ys }, s) => {
      const count = counts[s] + 1, length = lengths[s];
      let x, y;
      if (length > 0) {
        const along = [0];
        for (const h of steps(xs, ys)) along.push(along[along.length - 1] + h);
        const at = count > 1 ? linspace(length, count) : [length / 2];
        x = interp(at, along, xs);
        y = interp(at, along, ys);
      } else {
        const mx = pairwiseSum(xs) / xs.length, my = pairwiseSum(ys) / ys.length;
        x = new Array(count).fill(mx);
        y = new Array(count).fill(my);
      }
      for (let i = 0; i < count; i++) { out[k + i] = x[i]; out[n + k + i] = y[i]; }
      if (count > 1) {
        const step = (count - 1) / Math.max(length, 1e-6);
        for (let i = 0; i < count - 1; i++) {
          out[2 * n + k + i] = (x[i + 1] - x[i]) * step;
          out[3 * n + k + i] = (y[i + 1] - y[i]) * step;
        }
      }
      out[4 * n + k] = 1;
      out[5 * n + k + count - 1] = 1;
      k += count;
    });
    return Float32Array.from(out); // astype(np.float32): round to nearest
  }

  const api = { TRAJECTORY_POINTS, TRAJECTORY_CHANNELS, hypot, pairwiseSum, linspace, interp, trajectory };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.EmnistTrajectory = api;
})(typeof self !== 'undefined' ? self : this);
