/* The exported network (python -m emnist_core.export) run by TensorFlow.js, and the rules that make one
 * coherent reading of its two outputs: a mirror of emnist_core/model.py (EmnistCNN.forward, and StrokeNet
 * where the manifest has a "strokes" section) and emnist_core/inference.py (stroke_log_probs, with_strokes,
 * probabilities, ranked). Plain script, no DOM: the reader's worker loads it after TensorFlow.js;
 * tests/test_web_reader.py checks it against PyTorch.
 */
(function (root) {
  'use strict';

  const T = typeof module !== 'undefined' && module.exports ? require('./trajectory.js') : root.EmnistTrajectory;
  const f32 = Math.fround;
  const JUST_UNDER_HALF = 0.49999999999999994; // inference.JUST_UNDER_HALF: a tie that still reads as a letter
  const FORMAT = 'emnist-sketchpad-web/1';
  const STROKE_KERNEL = 5; // model.StrokeNet's conv width, padded by 2 * dilation: 'same'

  /** The manifest and its weights as TensorFlow.js tensors; refuses a file that does not match its manifest. */
  async function loadModel(tf, manifestUrl, fetchImpl = fetch) {
    const response = await fetchImpl(manifestUrl);
    if (!response.ok) throw new Error(`${manifestUrl}: HTTP ${response.status}`);
    const manifest = await response.json();
    if (manifest.format !== FORMAT) throw new Error(`${manifestUrl}: not an ${FORMAT} manifest (${manifest.format})`);
    const strokes = manifest.strokes;
    if (strokes && (strokes.kernel !== STROKE_KERNEL || strokes.points !== T.TRAJECTORY_POINTS
                    || strokes.channels !== T.TRAJECTORY_CHANNELS || !Number.isFinite(strokes.weight))) {
      throw new Error(`${manifestUrl}: a stroke model this reader cannot run (kernel ${strokes.kernel}, `
        + `${strokes.channels}x${strokes.points} paths, weight ${strokes.weight})`);
    }
    const weightsUrl = new URL(manifest.weights, new URL(manifestUrl, root.location && root.location.href)).href;
    const wresponse = await fetchImpl(weightsUrl);
    if (!wresponse.ok) throw new Error(`${weightsUrl}: HTTP ${wresponse.status}`);
    const buffer = await wresponse.arrayBuffer();
    const expected = manifest.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    if (buffer.byteLength !== 4 * expected) {
      throw new Error(`${weightsUrl}: ${buffer.byteLength} bytes, the manifest lists ${4 * expected}`);
    }
    if (root.crypto && root.crypto.subtle) { // absent outside secure contexts: the size check above still holds
      const digest = new Uint8Array(await root.crypto.subtle.digest('SHA-256', buffer));
      const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
      if (hex !== manifest.weights_sha256) throw new Error(`${weightsUrl}: SHA-256 ${hex} is not the manifest's`);
    }
    const all = new Float32Array(buffer);
    for (const v of all) if (!Number.isFinite(v)) throw new Error(`${weightsUrl}: holds NaN or infinite values`);
    const tensors = {};
    for (const t of manifest.tensors) {
      const size = t.shape.reduce((a, b) => a * b, 1);
      tensors[t.name] = tf.tensor(all.subarray(t.offset, t.offset + size), t.shape, 'float32');
    }
    return { manifest, tensors };
  }

  /** EmnistCNN.forward on N images in the model's orientation (N*784 uint8, ink bright):
   * {logits: Float32Array(N*C), digit: Float32Array(N)} */
  async function forward(tf, model, images, n) {
    const { manifest, tensors } = model, spec = manifest.input_spec;
    const mean = f32(spec.mean), std = f32(spec.std);
    const input = new Float32Array(n * 784);
    for (let i = 0; i < n * 784; i++) input[i] = f32(f32(f32(images[i] / 255) - mean) / std);
    const out = tf.tidy(() => {
      let x = tf.tensor4d(input, [n, 28, 28, 1]);
      manifest.stage_widths.forEach((_, s) => {
        const conv = (y, c) => tf.fused.conv2d({
          x: y, filter: tensors[`stage${s}.conv${c}.filter`], strides: 1, pad: 'same',
          bias: tensors[`stage${s}.conv${c}.bias`], activation: 'relu',
        });
        x = conv(x, 0);
        let rest = x;
        for (let c = 1; c < manifest.convs_per_stage[s]; c++) rest = conv(rest, c);
        if (manifest.convs_per_stage[s] > 1) x = manifest.residual ? tf.add(x, rest) : rest;
        x = tf.maxPool(x, 2, 2, 'valid');
      });
      const features = tf.reshape(x, [n, -1]); // (height, width, channels): the order the export laid out
      return tf.add(tf.matMul(features, tensors['head.weight']), tensors['head.bias']);
    });
    const flat = await out.data();
    out.dispose();
    const classes = manifest.labels.length, logits = new Float32Array(n * classes), digit = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      logits.set(flat.subarray(i * (classes + 1), i * (classes + 1) + classes), i * classes);
      digit[i] = flat[i * (classes + 1) + classes];
    }
    return { logits, digit };
  }

  /** inference.stroke_log_probs: N pen paths (N*6*64 float32, each channel-major as strokes.trajectory
   * gives it) through the stroke model (StrokeNet.forward), then log_softmax: Float32Array(N*C). */
  async function strokeLogProbs(tf, model, paths, n) {
    const { manifest, tensors } = model, spec = manifest.strokes;
    const out = tf.tidy(() => {
      let h = tf.transpose(tf.tensor3d(paths, [n, spec.channels, spec.points]), [0, 2, 1]); // (N, time, channels)
      spec.widths.forEach((_, i) => {
        const dilation = i >= spec.dilated_from ? 2 : 1;
        const conv = tf.conv1d(h, tensors[`strokes.conv${i}.filter`], 1, 'same', 'NWC', dilation);
        h = tf.relu(tf.add(conv, tensors[`strokes.conv${i}.bias`]));
      });
      const features = tf.concat([tf.max(h, 1), tf.mean(h, 1)], 1); // torch.cat([amax, mean]): the export's order
      return tf.logSoftmax(tf.add(tf.matMul(features, tensors['strokes.head.weight']), tensors['strokes.head.bias']));
    });
    const lp = await out.data();
    out.dispose();
    return lp;
  }

  /** inference.with_strokes for N drawings: the CNN's logits (N*C) plus weight times the stroke model's
   * log-probabilities of their paths, in float32 as PyTorch adds them. Without a stroke model, the logits. */
  async function withStrokes(tf, model, logits, paths, n) {
    if (!model.manifest.strokes) return logits;
    const lp = await strokeLogProbs(tf, model, paths, n), weight = f32(model.manifest.strokes.weight);
    return Float32Array.from(logits, (v, i) => f32(v + f32(weight * lp[i])));
  }

  /** inference.probabilities for one image: {q (C), pDigit}. `only` is null, "digits" or "letters". */
  function probabilities(logits, digitLogit, digitSource, numDigits, only) {
    const top = Math.max(...logits), e = Array.from(logits, (v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b, 0), probs = e.map((v) => v / total);
    const digitMass = probs.slice(0, numDigits).reduce((a, b) => a + b, 0);
    let pDigit;
    if (only) pDigit = only === 'digits' ? 1 : 0;
    else if (digitSource === 'head') pDigit = 1 / (1 + Math.exp(-digitLogit));
    else if (digitSource === 'sum') pDigit = digitMass;
    else if (digitSource === 'top') {
      const topIsDigit = probs.indexOf(Math.max(...probs)) < numDigits;
      pDigit = topIsDigit ? Math.max(digitMass, 0.5) : Math.min(digitMass, JUST_UNDER_HALF);
    } else throw new Error(`unknown digit_source ${digitSource}`);
    const toDigits = pDigit / Math.max(digitMass, 1e-30), toLetters = (1 - pDigit) / Math.max(1 - digitMass, 1e-30);
    return { q: probs.map((p, c) => p * (c < numDigits ? toDigits : toLetters)), pDigit };
  }

  /** inference.ranked: class indices, the reading (likeliest class of the likelier kind) first, then by q. */
  function ranked(q, pDigit, numDigits) {
    const isDigit = pDigit >= 0.5;
    let reading = -1;
    q.forEach((v, c) => { if ((c < numDigits) === isDigit && (reading < 0 || v > q[reading])) reading = c; });
    const order = q.map((_, c) => c).sort((a, b) => q[b] - q[a] || a - b);
    return [reading, ...order.filter((c) => c !== reading)];
  }

  /** One image's reading from its logits: the reading, P(digit), q over all classes, and the top-5 as the
   * page shows it (issue 26): the reading first, then the other classes of both kinds by q, each with its q. */
  function reading(manifest, logits, digitLogit, only) {
    const numDigits = manifest.num_digits;
    for (const v of logits) if (!Number.isFinite(v)) throw new Error('the model gave non-finite outputs');
    if (!Number.isFinite(digitLogit)) throw new Error('the model gave a non-finite digit output');
    const { q, pDigit } = probabilities(logits, digitLogit, manifest.digit_source, numDigits, only || null);
    const order = ranked(q, pDigit, numDigits);
    return {
      label: manifest.labels[order[0]], index: order[0], pDigit, q,
      top5: order.slice(0, 5).map((c) => [manifest.labels[c], q[c]]),
    };
  }

  const api = { FORMAT, loadModel, forward, strokeLogProbs, withStrokes, probabilities, ranked, reading };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.EmnistModel = api;
})(typeof self !== 'undefined' ? self : this);
