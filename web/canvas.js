// The page's stroke canvas: the body of a gr.HTML `js_on_load` (Gradio gives it `element`, `trigger`,
// `props`). Borrowed from signature_pad: pointer events for mouse, touch and pen; `touch-action: none`
// (canvas.css) so a finger draws instead of scrolling; pointerup heard on the document, so a stroke ends
// even when released outside; strokes kept as point lists, undo = drop the last one and redraw.
// The browser draws at once; what travels is props.value, the stroke JSON
// {"width", "height", "brush", "strokes": [[[x, y], ...], ...]} in canvas pixels, sent with
// trigger("input") at most every SEND_EVERY_MS while drawing and once right after each pointer-up.
// The Python event runs with trigger_mode="always_last": one reading in flight, only the latest
// waiting, so answers come back in order and a stale one never replaces a newer one; and with
// queue=False, one POST answered with the reading (demo.AS_YOU_DRAW).
(() => {
  const SEND_EVERY_MS = 150;
  const MIN_STEP = 1.5; // canvas pixels: closer points add nothing the round brush would show
  const canvas = element.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height;
  const brushes = props.brushes; // three radii in canvas pixels, thin to thick
  let strokes = [], brush = props.brush, current = null, pointer = null, lastSent = 0;

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
    trigger("input");
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
    // The page clears the line canvas when a photo is read in its place (demo.CLEAR_LINE_PAD), so the drawing
  // on show is never one that was not read; no reading is sent: the photo's is on show.
  element.addEventListener("pad-clear", () => {
    strokes = [];
    redraw();
    props.value = value();
  });
  element.querySelectorAll(".pad-size").forEach((button) => {
      button.setAttribute("aria-pressed", String(brushes[+button.dataset.size] === brush));
    });
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (pointer !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pointer = event.pointerId;
    current = [at(event)];
    strokes.push(current);
    dot(...current[0]);
  });

  function move(event) {
    if (event.pointerId !== pointer) return;
    event.preventDefault();
    const from = current.length - 1;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) {
      const point = at(each), last = current[current.length - 1];
      if (Math.hypot(point[0] - last[0], point[1] - last[1]) >= MIN_STEP) current.push(point);
    }
    if (current.length - 1 > from) line(current, from);
    if (performance.now() - lastSent >= SEND_EVERY_MS) send();
  }

  function end(event) {
    if (event.pointerId !== pointer) return;
    pointer = null;
    current = null;
    send(); // the final reading, right after the pointer is lifted
  }

  function undo() {
    if (!strokes.length || pointer !== null) return;
    strokes.pop();
    redraw();
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

  element.querySelector(".pad-undo").addEventListener("click", undo);
  element.querySelector(".pad-clear").addEventListener("click", () => {
    strokes = [];
    redraw();
    send();
  });
  element.querySelectorAll(".pad-size").forEach((button) => {
    button.addEventListener("click", () => {
      brush = brushes[+button.dataset.size];
      showCursor();
      redraw(); // the brush belongs to the whole drawing: the model reads what the writer sees
      if (strokes.length) send();
    });
  });
  new ResizeObserver(showCursor).observe(canvas);
  redraw();
  showCursor();
  props.value = value();
})();
