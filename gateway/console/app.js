// FieldPatrol console: reads the REST API and draws cases and evidence; no external assets.
"use strict";
const I18N = {
  en: { title: "FieldPatrol inspection console", map: "Map: cases and evidence", cases: "Cases",
        number: "Number", class: "Class", state: "State", evidence: "Evidence",
        gallery: "Evidence gallery", audit: "Full-process record", verified: "verified", broken: "NOT verified",
        entries: "entries" },
  zh: { title: "FieldPatrol 巡查执法控制台", map: "地图：案件与证据", cases: "案件",
        number: "编号", class: "类别", state: "状态", evidence: "证据",
        gallery: "证据图库", audit: "全过程记录", verified: "校验通过", broken: "校验失败", entries: "条记录" },
};
let lang = "zh";
function t(key) { return I18N[lang][key] || key; }
function applyLang() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = lang === "zh" ? "English" : "中文";
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}
async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}
function drawMap(cases, evidence) {
  const svg = document.getElementById("map");
  svg.innerHTML = "";
  const points = cases.map((c) => [c.lon, c.lat]).concat(evidence.map((e) => [e.lon, e.lat]));
  if (!points.length) return;
  const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
  const pad = 0.0005;
  const minX = Math.min(...lons) - pad, maxX = Math.max(...lons) + pad;
  const minY = Math.min(...lats) - pad, maxY = Math.max(...lats) + pad;
  const sx = (x) => ((x - minX) / (maxX - minX)) * 780 + 10;
  const sy = (y) => 490 - ((y - minY) / (maxY - minY)) * 480;
  const ns = "http://www.w3.org/2000/svg";
  for (const e of evidence) {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", sx(e.lon)); dot.setAttribute("cy", sy(e.lat)); dot.setAttribute("r", 4);
    dot.setAttribute("fill", "#1e88e5"); dot.setAttribute("class", "evidence-marker");
    svg.appendChild(dot);
  }
  for (const c of cases) {
    const ring = document.createElementNS(ns, "circle");
    ring.setAttribute("cx", sx(c.lon)); ring.setAttribute("cy", sy(c.lat)); ring.setAttribute("r", 10);
    ring.setAttribute("fill", "none"); ring.setAttribute("stroke", "#e53935"); ring.setAttribute("stroke-width", 2);
    ring.setAttribute("class", "case-marker");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", sx(c.lon) + 12); label.setAttribute("y", sy(c.lat) + 4);
    label.setAttribute("font-size", "11"); label.textContent = c.number;
    svg.appendChild(ring); svg.appendChild(label);
  }
}
function drawCases(cases) {
  const body = document.querySelector("#cases tbody");
  body.innerHTML = "";
  for (const c of cases) {
    const row = document.createElement("tr");
    for (const value of [c.number, c.class_name, c.state, c.evidence_count]) {
      const cell = document.createElement("td"); cell.textContent = value; row.appendChild(cell);
    }
    body.appendChild(row);
  }
}
function drawGallery(evidence) {
  const gallery = document.getElementById("gallery");
  gallery.innerHTML = "";
  for (const e of evidence.slice(0, 24)) {
    if (!e.media.length) continue;
    const figure = document.createElement("figure"); figure.className = "shot";
    const img = document.createElement("img");
    img.src = "/api/media/" + e.media[0]; img.alt = e.class_name;
    img.onload = () => {
      const k = 240 / img.naturalWidth;
      const [x1, y1, x2, y2] = e.box_px;
      const box = document.createElement("div"); box.className = "box";
      Object.assign(box.style, { left: x1 * k + "px", top: y1 * k + "px",
        width: (x2 - x1) * k + "px", height: (y2 - y1) * k + "px" });
      figure.appendChild(box);
    };
    const caption = document.createElement("figcaption");
    caption.textContent = e.class_name + " " + (e.confidence * 100).toFixed(0) + "%";
    figure.appendChild(img); figure.appendChild(caption); gallery.appendChild(figure);
  }
}
async function refresh() {
  try {
    const [cases, evidence, audit] = await Promise.all([
      getJSON("/api/cases?limit=200"), getJSON("/api/evidence?limit=200"), getJSON("/api/audit/verify"),
    ]);
    drawMap(cases.items, evidence.items);
    drawCases(cases.items);
    drawGallery(evidence.items);
    document.getElementById("audit").textContent =
      audit.entries + " " + t("entries") + " — " + (audit.ok ? t("verified") : t("broken"));
  } catch (error) {
    document.getElementById("audit").textContent = String(error);
  }
}
document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh"; applyLang(); refresh();
});
applyLang();
refresh();
setInterval(refresh, 5000);
