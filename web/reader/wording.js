/* A reading in words, as the page shows it: a mirror of emnist_core/wording.py (describe, headline,
 * reading_bar) and emnist_core/predict.py (percent, why_passed_over, Prediction.lookalikes). The reader's worker
 * builds the page's reading with it, so a drawing read in the browser is worded as the server words it;
 * tests/test_web_reader.py holds the two to the same text, and these constants to Python's.
 * Plain script, no DOM.
 */
(function (root) {
  'use strict';

  const W = {
    LOOKALIKE_MIN_PROB: 0.1, // predict.LOOKALIKE_MIN_PROB
    LOOKALIKE_GROUPS: ['0O', '1IL', '2Z', '5S', '9gq', '6b', '4A'], // labels.LOOKALIKE_GROUPS
    MERGED_LOWERCASE: 'cijklmopsuvwxyz', // labels.MERGED_LOWERCASE
  };

  /** predict.percent: a whole percent, half up; never rounded up to certainty nor down to none. */
  function percent(p) {
    const whole = Math.floor(p * 100 + 0.5);
    if (whole >= 100 && p < 1) return 'over 99%';
    if (whole <= 0 && p > 0) return 'under 1%';
    return `${whole}%`;
  }

  const isDigit = (c) => c >= '0' && c <= '9' && c.length === 1;

  function areLookalikes(a, b) {
    if (a !== b && a.toLowerCase() === b.toLowerCase()) return true;
    return a !== b && W.LOOKALIKE_GROUPS.some((g) => g.includes(a) && g.includes(b));
  }

  /** Prediction.passed_over: the likeliest listed class, when likelier than the reading. */
  function passedOver(top5) {
    let best = null;
    for (const entry of top5.slice(1)) if (best === null || entry[1] > best[1]) best = entry;
    return best !== null && best[1] > top5[0][1] ? best : null;
  }

  /** Prediction.lookalikes: the reading and its likeliest listed look-alike holding >= LOOKALIKE_MIN_PROB. */
  function lookalikes(top5) {
    const first = top5[0][0];
    const others = top5.slice(1).map((e, i) => [e, i]).sort((a, b) => b[0][1] - a[0][1] || a[1] - b[1]);
    for (const [[second, p]] of others) if (p >= W.LOOKALIKE_MIN_PROB && areLookalikes(first, second)) return [first, second];
    return null;
  }

  const kindOf = (top5) => (isDigit(top5[0][0]) ? 'digit' : 'letter');
  const isTossUp = (pDigit) => Math.abs(pDigit - 0.5) < 1e-6;
  const shown = (c) => (W.MERGED_LOWERCASE.includes(c.toLowerCase()) ? `${c.toLowerCase()}/${c}` : c);

  function whyPassedOver(top5) {
    const other = passedOver(top5);
    if (other === null) return null;
    const kind = kindOf(top5);
    return `read as a ${kind} although ${other[0]} alone is likelier: this model decides digit or letter ` +
      `first, and the ${kind}s together are likelier here`;
  }

  function headline(top5, pDigit, only) {
    const [char, p] = top5[0];
    if (only === null && isTossUp(pDigit)) return `## Reads as **${char}** (${percent(p)}) — a toss-up between digit and letter`;
    return `## Reads as **${char}** (${percent(p)}) — a ${kindOf(top5)}`;
  }

  /** wording.describe: the verdict as Markdown. `only`: null, "digits" or "letters". */
  function describe(top5, pDigit, only) {
    const [char, p] = top5[0];
    const lines = [headline(top5, pDigit, only)];
    let settlesIt = false;
    if (only !== null) lines.push(`Read as ${only} only, as you chose: the other kind was left out.`);
    else if (isTossUp(pDigit)) {
      lines.push(`Digit and letter are equally likely here; **${char}** is the likeliest character.`);
      settlesIt = true;
    }
    const why = whyPassedOver(top5);
    if (why) {
      lines.push(why[0].toUpperCase() + why.slice(1) + '.');
      settlesIt = true;
    }
    if (W.MERGED_LOWERCASE.includes(char.toLowerCase())) {
      lines.push(`EMNIST ByMerge keeps ${char.toUpperCase()} and ${char.toLowerCase()} as one class: they look alike.`);
    }
    const pair = lookalikes(top5);
    if (pair) {
      const [first, second] = pair, pSecond = top5.find((e) => e[0] === second)[1];
      lines.push(`⚠️ Could be **${shown(first)} or ${shown(second)}**: EMNIST writes these alike, so the ` +
        `model cannot be sure which one you meant (${percent(p)} against ${percent(pSecond)}).`);
      settlesIt = settlesIt || (only === null && isDigit(first) !== isDigit(second));
    } else if (p < 0.5) lines.push(`Not sure: its best guess gets only ${percent(p)}.`);
    if (settlesIt) {
      lines.push('If you know which you meant, say so under **What are you writing?**: *Digits only* or *Letters only*.');
    }
    return lines.join('\n\n');
  }

  /** wording.reading_bar: the verdict's first line and the runners-up, for the phone's bar. */
  function readingBar(top5, verdict) {
    let first = verdict.split('\n\n')[0];
    if (first.startsWith('## ')) first = first.slice(3);
    if (!top5 || !top5.length) return first;
    const others = top5.slice(1, 3).map(([c, p]) => `${c} ${percent(p)}`).join(' · ');
    return others ? `${first} · then ${others}` : first;
  }

  /** The page's reading (one shape for both paths; demo.page_reading is the server's): {top5 ([char, p, p as
   * shown]), verdict, bar, pixels (the 28x28 upright, 784 values, base64), where}. A drawing that cannot be
   * read: its message. */
  function pageReading(answer, only, where) {
    if (answer.unusable !== undefined) {
      return { top5: null, verdict: answer.unusable, bar: answer.unusable, pixels: null, where };
    }
    const { top5, pDigit } = answer.reading;
    const verdict = describe(top5, pDigit, only || null);
    let text = '';
    for (const v of answer.upright) text += String.fromCharCode(v);
    return { top5: top5.map(([c, p]) => [c, p, percent(p)]), verdict, bar: readingBar(top5, verdict), pixels: btoa(text),
             where };
  }

  const api = { ...W, percent, areLookalikes, passedOver, lookalikes, whyPassedOver, headline, describe, readingBar,
                pageReading };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.EmnistWording = api;
})(typeof self !== 'undefined' ? self : this);
