
"use strict";
(function () {
  const errors = [];
  window.addEventListener("error", (e) => { errors.push(String(e.message)); document.body.dataset.errors = errors.join(" | "); });
  const data = JSON.parse(document.getElementById("card-data").textContent);
  const cards = data.cards;
  // Layout: the card width adapts to the window, the text below the picture has a fixed
  // height (with room for the explanation link when some card has one).
  const GAP = 16, PAD = 20, PER_FOLDER = 1000;
  const INFO = cards.some((c) => c[9] !== 0) ? 140 : 116;
  const grid = document.getElementById("grid");
  const sort = document.getElementById("sort");
  const min = document.getElementById("min");
  const max = document.getElementById("max");
  const status = document.getElementById("status");
  const boxes = Array.from(document.querySelectorAll("#tiers input"));
  let order = [];            // indices of the cards shown, in display order
  let byName = null;         // every index in name order, made when first asked for
  let cols = 1, cardW = data.card, rowH = data.card + INFO + GAP;
  const live = new Map();    // card index -> its element, for the cards on screen
  let pending = false, thumbErrors = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function url(dir, file) { return data.dirs[dir] + file; }
  // Controls and direction-changing characters of a file name made visible, as the card
  // data's names already are (a right-to-left override must not make "gpj.exe" read ".exe").
  const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  function shown(text) {
    return text.replace(UNSAFE, (c) => "\\u{" + c.charCodeAt(0).toString(16) + "}");
  }
  function nameOf(i) {
    const c = cards[i];
    return c[0] === 0 ? shown(decodeURIComponent(c[8]).replace(/\.[^.]*$/, "")) : c[0];
  }
  function missing(reason) {
    const m = el("div", "missing", "no preview");
    m.append(el("br"), reason);
    return m;
  }
  // One card, built with DOM calls only: no text is ever parsed as HTML.
  function build(i) {
    const c = cards[i];
    const tier = data.tiers[c[2]];
    const href = url(c[7], c[8]);
    const card = el("article", "card");
    card.dataset.score = c[1];
    card.dataset.tier = tier;
    const thumb = el("a", "thumb");
    thumb.href = href;
    thumb.title = "open the original";
    if (typeof c[10] === "number") {
      thumb.append(missing(data.reasons[c[10]]));
    } else {
      const img = el("img");
      img.alt = nameOf(i);
      img.decoding = "async";
      img.addEventListener("error", () => {
        thumbErrors += 1;
        document.body.dataset.thumbErrors = thumbErrors;
        img.replaceWith(missing("thumbnail not found"));
      });
      img.src = c[10] === null ? data.thumbs + Math.floor(i / PER_FOLDER) + "/" + i + ".jpg" : c[10];
      thumb.append(img);
    }
    const info = el("div", "info");
    const top = el("div", "top");
    top.append(el("span", "score", c[1].toFixed(1)), el("span", "tier t-" + tier, tier));
    const name = el("a", "name", nameOf(i));
    name.href = href;
    name.title = shown(decodeURIComponent(href.slice("file://".length)));
    const meta = [];
    if (c[3] !== null) meta.push("AI " + c[3] + "%");
    if (c[4] !== null) meta.push("sanity " + c[4]);
    if (c[5] !== null) meta.push("p" + c[5]);
    const tags = el("div", "tags");
    for (let k = 0; k + 1 < c[6].length; k += 2) {
      const t = el("span", null, data.tags[c[6][k]]);
      t.title = (c[6][k + 1] / 100).toFixed(2);
      tags.append(t);
    }
    info.append(top, name, el("div", "meta", meta.join(" · ")), tags);
    if (c[9] !== 0) {
      const why = el("a", "why", "why this score?");
      why.href = url(c[9][0], c[9][1]);
      info.append(why);
    }
    card.append(thumb, info);
    return card;
  }
  function layout() {
    const width = Math.max(grid.clientWidth - 2 * PAD, data.card);
    cols = Math.max(1, Math.floor((width + GAP) / (data.card + GAP)));
    cardW = (width - (cols - 1) * GAP) / cols;
    rowH = cardW + INFO + GAP;
    const rows = Math.ceil(order.length / cols);
    grid.style.height = (rows > 0 ? rows * rowH - GAP : 0) + 2 * PAD + "px";
  }
  // Builds the cards of the rows on screen (and one row either side), drops the others.
  function render() {
    pending = false;
    const top = grid.getBoundingClientRect().top + PAD;
    const first = Math.max(0, Math.floor(-top / rowH) - 1);
    const rows = Math.ceil(order.length / cols);
    const last = Math.min(rows, Math.ceil((window.innerHeight - top) / rowH) + 1);
    const wanted = new Set();
    for (let pos = first * cols; pos < Math.min(last * cols, order.length); pos++) {
      const i = order[pos];
      wanted.add(i);
      let e = live.get(i);
      if (!e) {
        e = build(i);
        live.set(i, e);
        grid.append(e);
      }
      const x = PAD + (pos % cols) * (cardW + GAP), y = PAD + Math.floor(pos / cols) * rowH;
      e.style.transform = "translate(" + x + "px," + y + "px)";
      e.style.width = cardW + "px";
      e.style.height = cardW + INFO + "px";
    }
    for (const [i, e] of live) {
      if (!wanted.has(i)) { e.remove(); live.delete(i); }
    }
  }
  function schedule() {
    if (!pending) { pending = true; requestAnimationFrame(render); }
  }
  function nameOrder() {
    if (byName === null) {
      const names = cards.map((_, i) => nameOf(i));
      const collator = new Intl.Collator(undefined, { numeric: true });
      byName = cards.map((_, i) => i).sort((a, b) => collator.compare(names[a], names[b]));
    }
    return byName;
  }
  // Settings can come from the URL fragment, e.g. #tier=great,best&min=50&sort=asc,
  // so a filtered view can be bookmarked (and tested without a mouse).
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (p.has("min")) min.value = p.get("min");
    if (p.has("max")) max.value = p.get("max");
    if (p.has("sort")) sort.value = p.get("sort");
    if (p.has("tier")) {
      const wanted = p.get("tier").split(",");
      boxes.forEach((b) => { b.checked = wanted.includes(b.value); });
    }
  }
  function writeHash() {
    const p = new URLSearchParams();
    if (min.value !== "0") p.set("min", min.value);
    if (max.value !== "100") p.set("max", max.value);
    if (sort.value !== "desc") p.set("sort", sort.value);
    const on = boxes.filter((b) => b.checked).map((b) => b.value);
    if (on.length !== boxes.length) p.set("tier", on.join(","));
    history.replaceState(null, "", p.toString() ? "#" + p.toString() : location.pathname);
  }
  // Filters and sorts every card; the cards come best score first.
  function apply() {
    const lo = Number(min.value), hi = Number(max.value);
    const on = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
    const keep = (i) => { const c = cards[i]; return on.has(data.tiers[c[2]]) && c[1] >= lo && c[1] <= hi; };
    order = [];
    if (sort.value === "name") {
      for (const i of nameOrder()) if (keep(i)) order.push(i);
    } else if (sort.value === "asc") {
      for (let i = cards.length - 1; i >= 0; i--) if (keep(i)) order.push(i);
    } else {
      for (let i = 0; i < cards.length; i++) if (keep(i)) order.push(i);
    }
    status.textContent = order.length + " of " + cards.length + " shown";
    layout();
    render();
  }
  readHash();
  apply();
  for (const e of [sort, min, max, ...boxes]) e.addEventListener("input", () => { apply(); writeHash(); });
  window.addEventListener("hashchange", () => { readHash(); apply(); });
  window.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", () => { layout(); schedule(); });
  document.body.dataset.firstRender = Math.round(performance.now());
  document.body.dataset.ready = "1";
})();
