/* The reader's Web Worker: strokes -> 28x28 (strokes.js, preprocess.js, cv.js) -> the model (model.js, TensorFlow.js on its
 * WebAssembly backend), off the page's main thread so drawing never stutters. Where the exported checkpoint has
 * a stroke model, each drawing's pen path (trajectory.js) is read by it too, as the server reads drawings.
 *
 * Messages in: {id, type, ...}; every reply is {id, ok: true, ...} or {id, ok: false, error}.
 *   init      {manifestUrl}            load TensorFlow.js, its WASM backend and the exported model
 *   read      {drawing, only, blank}   one drawing (stroke JSON: an object or its text) -> {upright (784 uint8),
 *                                      reading} or {unusable: the server's message}; `blank`: the message
 *                                      for an empty drawing (the page's own)
 *   readMany  {drawings, only, blank}  the same for many (tests and the bench)
 *   page      {drawing, only, blank}   one drawing -> {reading: the page's reading (wording.js pageReading:
 *                                      top5, verdict, bar, pixels, where "browser")}
 *   forward   {images, n}              N*784 uint8 in the model's orientation -> {logits, digit}
 * An unusable drawing is an answer (its message is the server's), not an error; an error means "read
 * on the server instead" (the page logs why).
 */
/* global importScripts, tf, EmnistPreprocess, EmnistStrokes, EmnistTrajectory, EmnistModel, EmnistWording */
'use strict';

const VENDOR = new URL('vendor/', self.location.href).href;
let model = null;
let loading = null;

async function init(manifestUrl) {
  if (!self.WebAssembly) throw new Error('this browser has no WebAssembly');
  importScripts(`${VENDOR}tf-core.min.js`, `${VENDOR}tf-backend-wasm.min.js`, 'cv.js', 'preprocess.js', 'strokes.js',
    'trajectory.js', 'model.js', 'wording.js');
  // Threads need a cross-origin-isolated page; the single-threaded SIMD build (or plain WASM) does not.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tf.wasm.setWasmPaths({
    'tfjs-backend-wasm.wasm': `${VENDOR}tfjs-backend-wasm.wasm`,
    'tfjs-backend-wasm-simd.wasm': `${VENDOR}tfjs-backend-wasm-simd.wasm`,
    'tfjs-backend-wasm-threaded-simd.wasm': `${VENDOR}tfjs-backend-wasm-simd.wasm`,
  });
  if (!(await tf.setBackend('wasm'))) throw new Error('the TensorFlow.js WebAssembly backend did not start');
  await tf.ready();
  model = await EmnistModel.loadModel(tf, new URL(manifestUrl, self.location.href).href);
  // One reading of a blank image: compiles the kernels now, not on the first drawing, and checks the outputs.
  const { logits, digit } = await EmnistModel.forward(tf, model, new Uint8Array(784), 1);
  const path = EmnistTrajectory.trajectory([[[0, 0], [1, 1]]]); // and of one stroke, where there is a stroke model
  EmnistModel.reading(model.manifest, await EmnistModel.withStrokes(tf, model, logits, path, 1), digit[0], null);
  return { backend: tf.getBackend(), simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
           checkpoint: model.manifest.checkpoint, labels: model.manifest.labels };
}

/** Drawings -> [{upright, reading} | {unusable}], the model run once over all the usable ones (and the
 * stroke model over their pen paths, where the manifest has one). */
async function readMany(drawings, only, blank) {
  const transposed = model.manifest.input_spec.transposed;
  const paths = new Map(); // result -> its pen path (strokes.trajectory), for the stroke model
  const results = drawings.map((drawing) => {
    try {
      const parsed = EmnistStrokes.parseDrawing(drawing, blank || undefined); // the server's checks and messages
      const result = { upright: EmnistStrokes.emnistFromDrawing(parsed) };
      if (model.manifest.strokes) paths.set(result, EmnistTrajectory.trajectory(parsed.strokes));
      return result;
    } catch (error) {
      if (error instanceof EmnistPreprocess.UnusableImage) return { unusable: error.message };
      throw error;
    }
  });
  const usable = results.filter((r) => r.upright);
  if (usable.length) {
    const images = new Uint8Array(usable.length * 784);
    usable.forEach((r, i) => images.set(EmnistPreprocess.modelInput(r.upright, transposed), i * 784));
    const { logits: cnn, digit } = await EmnistModel.forward(tf, model, images, usable.length);
    let together = null;
    if (model.manifest.strokes) {
      const size = EmnistTrajectory.TRAJECTORY_CHANNELS * EmnistTrajectory.TRAJECTORY_POINTS;
      together = new Float32Array(usable.length * size);
      usable.forEach((r, i) => together.set(paths.get(r), i * size));
    }
    const logits = await EmnistModel.withStrokes(tf, model, cnn, together, usable.length);
    const classes = model.manifest.labels.length;
    usable.forEach((r, i) => {
      r.reading = EmnistModel.reading(model.manifest, logits.subarray(i * classes, (i + 1) * classes), digit[i], only);
    });
  }
  return results;
}

async function handle(message) {
  switch (message.type) {
    case 'init':
      loading = loading || init(message.manifestUrl);
      return loading;
    case 'read':
      if (!model) throw new Error('the model is not loaded');
      return (await readMany([message.drawing], message.only, message.blank))[0];
    case 'page': {
      if (!model) throw new Error('the model is not loaded');
      const answer = (await readMany([message.drawing], message.only, message.blank))[0];
      return { reading: EmnistWording.pageReading(answer, message.only, 'browser') };
    }
    case 'readMany':
      if (!model) throw new Error('the model is not loaded');
      return { results: await readMany(message.drawings, message.only, message.blank) };
    case 'forward': {
      if (!model) throw new Error('the model is not loaded');
      const { logits, digit } = await EmnistModel.forward(tf, model, message.images, message.n);
      return { logits, digit };
    }
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

self.onmessage = async (event) => {
  const { id } = event.data;
  try {
    const started = performance.now();
    const reply = await handle(event.data);
    self.postMessage({ id, ok: true, ms: performance.now() - started, ...reply });
  } catch (error) {
    self.postMessage({ id, ok: false, error: String((error && error.message) || error) });
  }
};
