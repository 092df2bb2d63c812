// explainendo viewer, the case page: fetch the explanation (group contributions, Grad-CAM maps), toggle a map on
// the frame, send an attribute correction and show the new diagnosis. Plain JavaScript, nothing loaded from outside.
(function () {
  "use strict";
  const section = document.getElementById("case");
  if (!section) return;
  const index = section.dataset.case;
  const lesion = section.dataset.lesion || "";
  const svg = document.getElementById("overlay");
  const image = document.getElementById("frame-image");
  const NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(x, digits) { return (typeof x === "number" && isFinite(x)) ? x.toFixed(digits === undefined ? 3 : digits) : "–"; }

  // a frame whose size the server could not read: take it from the image once loaded
  if (svg && image && !svg.getAttribute("viewBox")) {
    const size = () => svg.setAttribute("viewBox", `0 0 ${image.naturalWidth} ${image.naturalHeight}`);
    if (image.complete && image.naturalWidth) size(); else image.addEventListener("load", size);
  }
  if (image) image.addEventListener("error", () => {
    const frame = document.getElementById("frame");
    frame.replaceWith(el("div", {"class": "frame-missing", "id": "frame-problem"}, "the frame could not be loaded"));
  });

  function renderContributions(target, data) {
    target.textContent = "";
    const rows = data.contributions || [];
    if (!rows.length) {
      target.appendChild(el("p", {"class": "muted"}, `no named features (${data.explainer}): see the Grad-CAM maps`));
      return;
    }
    target.appendChild(el("p", {"class": "muted"},
      `${data.space} of '${data.explained_class}': base ${fmt(data.expected_value, 2)} → ${fmt(data.output, 2)} (${data.explainer})`));
    const scale = Math.max(...rows.map(r => Math.abs(r.contribution)), 1e-9);
    for (const r of rows) {
      const row = el("div", {"class": "row", "data-group": r.group});
      row.appendChild(el("span", {"class": "name", "title": r.value}, `${r.group}: ${r.value}`));
      const track = el("span", {"class": "track"});
      const width = 50 * Math.abs(r.contribution) / scale;
      const bar = el("span", {"class": r.contribution > 0 ? "pos" : "neg"});
      bar.style.width = width + "%";
      bar.style.left = (r.contribution > 0 ? 50 : 50 - width) + "%";
      track.appendChild(bar);
      track.appendChild(el("span", {"class": "zero"}));
      row.appendChild(track);
      row.appendChild(el("span", {"class": "num"}, (r.contribution > 0 ? "+" : "") + fmt(r.contribution, 2)));
      target.appendChild(row);
    }
  }

  function showMap(map, button) {
    const layer = document.getElementById("cam-layer");
    const shown = layer.querySelector("image");
    const same = shown && shown.dataset.map === map.name;
    layer.textContent = "";
    document.querySelectorAll("#maps button").forEach(b => b.setAttribute("aria-pressed", "false"));
    section.dataset.cam = "";
    if (same) return;  // a second click hides it
    const img = document.createElementNS(NS, "image");
    img.setAttribute("href", map.url);
    img.setAttribute("x", map.x); img.setAttribute("y", map.y);
    img.setAttribute("width", map.width); img.setAttribute("height", map.height);
    img.setAttribute("preserveAspectRatio", "none");
    img.dataset.map = map.name;
    img.addEventListener("load", () => { section.dataset.camLoaded = map.name; });
    layer.appendChild(img);
    button.setAttribute("aria-pressed", "true");
    section.dataset.cam = map.name;
  }

  function renderMaps(maps) {
    const target = document.getElementById("maps");
    if (!target) return;
    target.textContent = "";
    if (!maps.length) { target.appendChild(el("span", {"class": "muted"}, "no Grad-CAM map")); return; }
    target.appendChild(el("span", {}, "Grad-CAM on the frame:"));
    for (const map of maps) {
      const button = el("button", {"type": "button", "class": "map-toggle", "data-map": map.name, "aria-pressed": "false"}, map.text || map.name);
      button.addEventListener("click", () => showMap(map, button));
      target.appendChild(button);
    }
  }

  function failed(target, text) {
    target.textContent = "";
    target.appendChild(el("p", {"class": "error"}, text));
  }

  async function json(response) {
    const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  function loadExplanation() {
    const contributions = document.getElementById("contributions");
    fetch(`/api/cases/${index}/explanation${lesion}`).then(json).then(data => {
      renderContributions(contributions, data);
      if (!document.querySelector("#maps button")) renderMaps(data.maps || []);
      section.dataset.explained = "1";
    }).catch(err => {
      failed(contributions, err.message);
      const maps = document.getElementById("maps");
      if (maps) maps.textContent = "";
      section.dataset.explained = "error";
    });
  }
  if (section.dataset.explainable === "1") loadExplanation();

  const form = document.getElementById("correction");
  const out = document.getElementById("correction-result");
  if (form && out && !form.dataset.disabled) {
    form.addEventListener("submit", async event => {
      event.preventDefault();
      const corrections = {};
      form.querySelectorAll("select").forEach(s => { if (s.value) corrections[s.name] = s.value; });
      if (!Object.keys(corrections).length) { failed(out, "choose the class of at least one attribute"); return; }
      out.textContent = "diagnosing again…";
      try {
        const lesionIndex = lesion ? Number(new URLSearchParams(lesion).get("lesion")) : null;
        const data = await json(await fetch(`/api/cases/${index}/intervene`, {
          method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({corrections: corrections, lesion: lesionIndex})}));
        out.textContent = "";
        const box = el("div", {"class": "changed", "id": "new-diagnosis"});
        box.appendChild(el("p", {}, `before: ${data.before.label} (p = ${fmt(data.before.probability)})`));
        const after = el("p", {});
        after.appendChild(el("b", {}, "after correction: "));
        after.appendChild(el("span", {"id": "new-label"}, data.after.label));
        after.appendChild(document.createTextNode(" (p = "));
        after.appendChild(el("span", {"id": "new-probability"}, fmt(data.after.probability)));
        after.appendChild(document.createTextNode(")"));
        box.appendChild(after);
        box.appendChild(el("p", {"class": "muted"}, "set by the clinician: " +
          Object.entries(data.corrections).map(([a, c]) => `${a} = ${c}`).join(", ")));
        for (const note of data.notes || []) box.appendChild(el("p", {"class": "muted"}, note));
        out.appendChild(box);
        document.querySelectorAll("#probabilities tr").forEach(tr => {
          const p = data.after.probabilities[tr.dataset.class];
          tr.querySelector("td.after").textContent = p === undefined ? "" : "→ " + fmt(p);
        });
        const contributions = document.getElementById("contributions");
        if (contributions) renderContributions(contributions, data);
        section.dataset.corrected = "1";
      } catch (err) {
        failed(out, err.message);
      }
    });
    form.addEventListener("reset", () => {
      out.textContent = "";
      document.querySelectorAll("#probabilities td.after").forEach(td => { td.textContent = ""; });
      if (section.dataset.corrected) { delete section.dataset.corrected; loadExplanation(); }  // the run's again
    });
  }
})();
