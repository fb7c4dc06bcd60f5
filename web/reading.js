// The reading panel: the body of a gr.HTML `js_on_load` (Gradio gives it `element`, `props`, `watch`).
// One renderer for both places a reading comes from (issue 29):
// - the browser: the character canvas (web/canvas.js) reads in its Web Worker (web/reader/) and sends the
//   reading as a document event "emnist-reading";
// - the server: a photo, or a drawing while the browser cannot read (no WebAssembly, a blocked worker, a
//   checkpoint without its browser export): the reading is this component's value, set by demo.py.
// A reading is {top5: [[char, p, p as shown], ...] | null, verdict (Markdown), bar, pixels (784 bytes, base64, the 28x28
// upright) | null, where: "browser" | "server", source: "drawing" | "photo"} (wording.js pageReading,
// demo.page_reading). It fills #verdict, #top5 and #model-view here and the phone's #reading-bar above the
// canvas, and says under the verdict where it was read.
(() => {
  const verdict = element.querySelector("#verdict"), where = element.querySelector(".read-where");
  const list = element.querySelector("#top5 dl"), view = element.querySelector("#model-view canvas");
  const viewCtx = view.getContext("2d");
  let drawingsHere = false; // the canvas reads in the browser: a server reading of a drawing is an older one

  const escape = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  // The verdict's Markdown: paragraphs, a "## " headline, **strong** and *emphasis*; nothing else is used.
  function markdown(text) {
    return text.split("\n\n").map((block) => {
      const heading = block.startsWith("## ");
      const html = escape(heading ? block.slice(3) : block)
        .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(/\*(.+?)\*/g, "<em>$1</em>");
      return heading ? `<h2>${html}</h2>` : `<p>${html}</p>`;
    }).join("");
  }

  function render(reading) {
    verdict.innerHTML = markdown(reading.verdict);
    where.textContent = reading.top5 ? (reading.where === "browser" ? "Read in your browser." : "Read on the server.") : "";
    list.innerHTML = (reading.top5 || []).map(([c, p, shown]) =>
      `<div class="top5-row" style="--p: ${Math.max(0, Math.min(1, p))}"><dt>${escape(c)}</dt><dd>${escape(shown)}</dd></div>`).join("");
    if (reading.pixels) {
      const bytes = atob(reading.pixels), image = viewCtx.createImageData(28, 28);
      for (let i = 0; i < 784; i++) {
        const v = bytes.charCodeAt(i);
        image.data.set([v, v, v, 255], 4 * i);
      }
      viewCtx.putImageData(image, 0, 0);
      view.dataset.shown = "yes";
    } else {
      viewCtx.clearRect(0, 0, 28, 28);
      delete view.dataset.shown;
    }
    const bar = document.querySelector("#reading-bar .bar-text");
    if (bar) bar.innerHTML = markdown(reading.bar).replace(/^<h2>|^<p>|<\/h2>$|<\/p>$/g, "");
  }

  function fromServer() {
    let reading = null;
    try { reading = JSON.parse(props.value || "null"); } catch (error) { /* not a reading */ }
    if (!reading || (reading.source === "drawing" && drawingsHere)) return;
    render(reading);
  }

  watch("value", fromServer);
  const heard = (type, handler) => document.addEventListener(type, (event) => element.isConnected && handler(event.detail));
  heard("emnist-reader", (detail) => { drawingsHere = detail.where === "browser"; });
  heard("emnist-reading", render);
  fromServer();
})();
