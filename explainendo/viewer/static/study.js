// explainendo reader study, a case page: the reading time as the browser sees it (from the page shown to the
// answer), and in the with-AI arm the model's Grad-CAM maps toggled on the frame. Plain JavaScript, nothing loaded
// from outside.
(function () {
  "use strict";
  const section = document.getElementById("study-case");
  if (!section) return;
  const started = performance.now();
  const form = document.getElementById("answer-form");
  form.addEventListener("submit", () => {
    document.getElementById("client-ms").value = (performance.now() - started).toFixed(0);
  });
  const svg = document.getElementById("overlay");
  const image = document.getElementById("frame-image");
  if (svg && image && !svg.getAttribute("viewBox")) {
    const size = () => svg.setAttribute("viewBox", `0 0 ${image.naturalWidth} ${image.naturalHeight}`);
    if (image.complete && image.naturalWidth) size(); else image.addEventListener("load", size);
  }
  if (section.dataset.explainable !== "1") return;
  const target = document.getElementById("maps");
  const NS = "http://www.w3.org/2000/svg";
  fetch(`/api/ai/${encodeURIComponent(section.dataset.case)}/maps`).then(r => r.json()).then(data => {
    target.textContent = "";
    if (data.error) { target.textContent = data.error; return; }
    target.appendChild(document.createTextNode("Grad-CAM: "));
    for (const map of data.maps) {
      const button = document.createElement("button");
      button.type = "button"; button.textContent = map.text; button.dataset.map = map.name;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => {
        const layer = document.getElementById("cam-layer");
        const shown = layer.querySelector("image");
        const same = shown && shown.dataset.map === map.name;
        layer.textContent = "";
        target.querySelectorAll("button").forEach(b => b.setAttribute("aria-pressed", "false"));
        if (same) return;
        const img = document.createElementNS(NS, "image");
        img.setAttribute("href", map.url);
        img.setAttribute("x", map.x); img.setAttribute("y", map.y);
        img.setAttribute("width", map.width); img.setAttribute("height", map.height);
        img.setAttribute("preserveAspectRatio", "none");
        img.dataset.map = map.name;
        img.addEventListener("load", () => { section.dataset.camLoaded = map.name; });
        layer.appendChild(img);
        button.setAttribute("aria-pressed", "true");
      });
      target.appendChild(button);
    }
    section.dataset.mapsReady = "1";
  }).catch(err => { target.textContent = "Grad-CAM unavailable: " + err; });
})();
