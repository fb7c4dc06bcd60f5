// The page's stroke canvas: the body of a gr.HTML `js_on_load` (Gradio gives it `element`, `trigger`,
// `props`). Borrowed from signature_pad: pointer events for mouse, touch and pen; `touch-action: none`
// (canvas.css) so a finger draws instead of scrolling; pointerup heard on the document, so a stroke ends
// even when released outside; strokes kept as point lists, undo = drop the last one and redraw.
// The browser draws at once; what travels is props.value, the stroke JSON
// {"width", "height", "brush", "strokes": [[[x, y], ...], ...]} in canvas pixels (the CSS pixels of a
// props.width x props.height canvas, whatever the screen's density), sent with trigger("input") at most
// every SEND_EVERY_MS while drawing and once right after each pointer-up, undo or clear.
// The Python event runs with trigger_mode="always_last": one reading in flight, only the latest
// waiting, so answers come back in order and a stale one never replaces a newer one; and with
// queue=False, one POST answered with the reading (demo.AS_YOU_DRAW).
// props.max_strokes / props.max_points / props.max_length_sides are the server's limits
// (emnist_core/strokes.py): the canvas stops there and says so, instead of sending a drawing the server
// would refuse. props.announce names
// the element holding the reading (#verdict), which a polite live region reads out once it settles.
(() => {
  const SEND_EVERY_MS = 150;
  const MIN_STEP = 1.5; // canvas pixels: closer points add nothing the round brush would show
  const ANNOUNCE_AFTER_MS = 800; // the reading is read out once it has stopped changing this long
  const KEEP_CLEARED = 20; // clears that Undo can bring back
  const canvas = element.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const width = +props.width || canvas.width, height = +props.height || canvas.height; // canvas pixels
  const brushes = props.brushes; // three radii in canvas pixels, thin to thick
  const maxStrokes = +props.max_strokes || Infinity, maxPoints = +props.max_points || Infinity;
  const maxLength = (+props.max_length_sides || Infinity) * Math.max(width, height); // all strokes, canvas pixels
  const undoButton = element.querySelector(".pad-undo"), clearButton = element.querySelector(".pad-clear");
  const note = element.querySelector(".pad-note"), spoken = element.querySelector(".pad-announce");
  let strokes = [], brush = props.brush, current = null, pointer = null, lastSent = 0, points = 0, length = 0;
  let cleared = []; // drawings Clear removed, the latest last: Undo on an empty canvas brings one back
  let cut = ""; // why the last stroke was cut short: "points" or "ink" (the limits); drawing waits for undo or clear

  // A drawing kept in the component's value (a tab shown again, a page re-rendered) is drawn again.
  try {
    const kept = JSON.parse(props.value || "null");
    if (kept && kept.width === width && kept.height === height && Array.isArray(kept.strokes)) {
      strokes = kept.strokes;
      if (brushes.includes(kept.brush)) brush = kept.brush;
    }
  } catch (error) { /* not a drawing: start blank */ }

  function value() {
    return JSON.stringify({ width, height, brush, strokes });
  }

  function send() {
    lastSent = performance.now();
    props.value = value();
    if (reader.ready) reader.read();
    else trigger("input"); // read on the server (demo.AS_YOU_DRAW)
  }

  // Reading in the browser (issue 29): with props.reader (the worker's URL) and props.manifest (the model's
  // export, python -m emnist_core.export), a Web Worker (web/reader/worker.js) reads the drawing and the
  // page shows its reading (document event "emnist-reading", web/reading.js): no request while drawing.
  // Until the model has loaded, and for good where it cannot (no WebAssembly or workers, a file that fails
  // to load or to check, non-finite outputs), the server reads as before; the console says why.
  // As on the server: one reading in flight, only the latest drawing waiting.
  const reader = { ready: false, worker: null, busy: false, waiting: null, next: 1 };
  function announce(type, detail) {
    document.dispatchEvent(new CustomEvent(type, { detail }));
  }
  function onServer(why) {
    if (reader.worker) reader.worker.terminate();
    Object.assign(reader, { ready: false, worker: null, busy: false, waiting: null });
    pad.dataset.reader = "server";
    announce("emnist-reader", { where: "server" });
    if (why) console.warn(`EMNIST Sketchpad reads on the server: ${why}`);
  }
  function writing() { // "What are you writing?" (props.writing names it): null for any character
    const chosen = props.writing && document.querySelector(`#${props.writing} input:checked`);
    return chosen && chosen.value !== "any" ? chosen.value : null;
  }
  reader.read = () => {
    const message = { type: "page", drawing: { width, height, brush, strokes }, only: writing(), blank: props.blank };
    if (reader.busy) reader.waiting = message;
    else post(message);
  };
  function post(message) {
    reader.busy = true;
    reader.worker.postMessage({ id: reader.next++, ...message });
  }
  function heard(event) {
    const reply = event.data;
    if (reply.id === 0) { // the model loaded, or not
      if (!reply.ok) return onServer(reply.error);
      reader.ready = true;
      pad.dataset.reader = "browser";
      announce("emnist-reader", { where: "browser" });
      if (strokes.length && canvas.getClientRects().length) reader.read(); // what is on show, read here
      return;
    }
    reader.busy = false;
    if (!reply.ok) { // read this drawing, and the next, on the server
      onServer(reply.error);
      return send();
    }
    announce("emnist-reading", reply.reading);
    if (reader.waiting) {
      const message = reader.waiting;
      reader.waiting = null;
      post(message);
    }
  }
  const pad = element.querySelector(".stroke-pad");
  if (props.reader && props.manifest) {
    try {
      if (!window.WebAssembly || !window.Worker) throw new Error("this browser has no WebAssembly or Web Workers");
      const here = (url) => new URL(url, document.baseURI).href; // the page's relative URLs, for the worker
      reader.worker = new Worker(here(props.reader));
      reader.worker.onmessage = heard;
      reader.worker.onerror = (event) => { event.preventDefault(); onServer(event.message || "the reader's worker failed"); };
      reader.worker.postMessage({ id: 0, type: "init", manifestUrl: here(props.manifest) });
    } catch (error) {
      onServer(error.message || String(error));
    }
  } else {
    onServer(""); // no browser export for this checkpoint (demo.browser_reader): the server reads, quietly
  }
  // "What are you writing?" changed: the drawing on show is read again here (demo.py skips it on the server).
  document.addEventListener("change", (event) => {
    if (reader.ready && element.isConnected && props.writing && event.target.closest(`#${props.writing}`)
        && canvas.getClientRects().length) reader.read();
  });

  // What the buttons may do now, and the limits' note: all from the strokes, after every change.
  function strokeLength(s) {
    let sum = 0;
    for (let i = 1; i < s.length; i++) sum += Math.hypot(s[i][0] - s[i - 1][0], s[i][1] - s[i - 1][1]);
    return sum;
  }

  function update() {
    points = strokes.reduce((n, s) => n + s.length, 0);
    length = strokes.reduce((n, s) => n + strokeLength(s), 0);
    undoButton.disabled = !strokes.length && !cleared.length;
    clearButton.disabled = !strokes.length;
    let text = "";
    if (strokes.length >= maxStrokes) {
      text = `That is ${maxStrokes.toLocaleString("en")} strokes, as many as are read: undo or clear to draw more.`;
    } else if (points >= maxPoints || cut === "points") {
      text = `That is ${maxPoints.toLocaleString("en")} points, as many as are read: undo or clear to draw more.`;
    } else if (cut === "ink") {
      text = "That is as much ink as one drawing may hold: undo or clear to draw more.";
    }
    if (note.textContent !== text) note.textContent = text;
  }

  // The backing store has a pixel for each screen pixel (CSS size x devicePixelRatio), so strokes are
  // sharp on a phone or a retina screen; drawing happens in canvas pixels through the transform.
  function fitBackingStore() {
    const box = canvas.getBoundingClientRect();
    if (!box.width || !box.height) return false; // hidden (another tab): keep what is there
    const scale = Math.max(1, (window.devicePixelRatio || 1) * box.width / width);
    const w = Math.round(width * scale), h = Math.round(height * scale);
    if (canvas.width === w && canvas.height === h) return false;
    canvas.width = w; // resets the context: redraw() sets it up again
    canvas.height = h;
    return true;
  }

  function dot(x, y) {
    ctx.beginPath();
    ctx.arc(x, y, brush, 0, 2 * Math.PI);
    ctx.fill();
  }

  function line(points, from) {
    ctx.beginPath();
    ctx.moveTo(points[from][0], points[from][1]);
    for (let i = from + 1; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
    ctx.stroke();
  }

  function redraw() {
    ctx.setTransform(canvas.width / width, 0, 0, canvas.height / height, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.fillStyle = ctx.strokeStyle = "#000";
    ctx.lineWidth = 2 * brush;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const points of strokes) points.length === 1 ? dot(...points[0]) : line(points, 0);
  }

  function at(event) {
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) * width / box.width, y = (event.clientY - box.top) * height / box.height;
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  }

  // A cursor that shows the brush: a ring of the brush's size on screen, hot spot at its centre.
  function showCursor() {
    const side = Math.max(4, Math.min(120, Math.round(2 * brush * canvas.getBoundingClientRect().width / width)));
    const r = side / 2;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side + 2}" height="${side + 2}">` +
      `<circle cx="${r + 1}" cy="${r + 1}" r="${r}" fill="rgba(0,0,0,0.15)" stroke="#000" stroke-width="1"/></svg>`;
    canvas.style.cursor = `url("data:image/svg+xml,${encodeURIComponent(svg)}") ${r + 1} ${r + 1}, crosshair`;
    element.querySelectorAll(".pad-size").forEach((button) => {
      button.setAttribute("aria-pressed", String(brushes[+button.dataset.size] === brush));
    });
  }

  // The page clears the line canvas when a photo is read in its place (demo.CLEAR_LINE_PAD), so the drawing
  // on show is never one that was not read; no reading is sent: the photo's is on show.
  element.addEventListener("pad-clear", () => {
    strokes = [];
    redraw();
    props.value = value();
  });

  canvas.addEventListener("pointerdown", (event) => {
    if (pointer !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    if (strokes.length >= maxStrokes || points >= maxPoints || cut) return update(); // the note says why
    pointer = event.pointerId;
    current = [at(event)];
    strokes.push(current);
    points += 1;
    dot(...current[0]);
    update();
  });

  function move(event) {
    if (event.pointerId !== pointer) return;
    event.preventDefault();
    const from = current.length - 1;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) {
      const point = at(each), last = current[current.length - 1];
      const step = Math.hypot(point[0] - last[0], point[1] - last[1]);
      if (step < MIN_STEP) continue;
      if (points >= maxPoints || length + step > maxLength) { // the stroke stops here; the note says why
        cut = points >= maxPoints ? "points" : "ink";
        break;
      }
      current.push(point);
      points += 1;
      length += step;
    }
    if (current.length - 1 > from) line(current, from);
    if (cut) update();
    if (performance.now() - lastSent >= SEND_EVERY_MS) send();
  }

  function end(event) {
    if (event.pointerId !== pointer) return;
    pointer = null;
    current = null;
    update();
    send(); // the final reading, right after the pointer is lifted
  }

  function undo() {
    if (pointer !== null) return;
    if (strokes.length) strokes.pop();
    else if (cleared.length) strokes = cleared.pop(); // the last Clear, undone
    else return;
    cut = "";
    redraw();
    update();
    send();
  }

  function clear() {
    if (!strokes.length || pointer !== null) return;
    cleared.push(strokes);
    if (cleared.length > KEEP_CLEARED) cleared.shift();
    strokes = [];
    cut = "";
    redraw();
    update();
    send();
  }

  function key(event) {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
    if (event.type === "keydown" && (event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z"
        && !typing && canvas.getClientRects().length) { // only the canvas on show
      event.preventDefault();
      undo();
    }
  }

  const listening = [];
  for (const [type, handler] of [["pointermove", move], ["pointerup", end], ["pointercancel", end], ["keydown", key]]) {
    const heard = (event) => {
      if (element.isConnected) return handler(event);
      // this canvas was replaced (its tab made anew): stop listening
      for (const [t, h] of listening) document.removeEventListener(t, h);
    };
    listening.push([type, heard]);
    document.addEventListener(type, heard, { passive: false });
  }
  // Older Safari scrolls on touch despite touch-action: keep the finger's moves on the canvas.
  canvas.addEventListener("touchmove", (event) => event.preventDefault(), { passive: false });

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  element.querySelectorAll(".pad-size").forEach((button) => {
    button.addEventListener("click", () => {
      brush = brushes[+button.dataset.size];
      showCursor();
      redraw(); // the brush belongs to the whole drawing: the model reads what the writer sees
      if (strokes.length) send();
    });
  });

  // The reading, read out by a screen reader: the text of props.announce's element, once it has
  // stopped changing (while drawing it changes several times a second), and only when it is new.
  let watched = null, quiet = 0;
  function listen() {
    const source = props.announce && document.getElementById(props.announce);
    if (!source || source === watched) return;
    watched = source;
    new MutationObserver(() => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        const text = source.innerText.trim();
        if (element.isConnected && canvas.getClientRects().length && text && spoken.textContent !== text) {
          spoken.textContent = text;
        }
      }, ANNOUNCE_AFTER_MS);
    }).observe(source, { childList: true, subtree: true, characterData: true });
  }
  canvas.addEventListener("pointerdown", listen); // the reading's element exists once the page is up
  setTimeout(listen, 1000);

  // A new size on screen or a new screen density: a new backing store, the drawing drawn again.
  function resized() {
    if (fitBackingStore()) redraw();
    showCursor();
  }
  new ResizeObserver(resized).observe(canvas);
  (function watchDensity() {
    matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`).addEventListener("change", () => {
      resized();
      watchDensity();
    }, { once: true });
  })();
  fitBackingStore();
  redraw();
  showCursor();
  update();
  props.value = value();
})();
