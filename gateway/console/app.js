// FieldPatrol console: log in, map (sites, exclusion zones, planned paths, live tracks,
// evidence), mission planning and launch with confirmation, cases and the case page, sortie
// mission reports, scheduled patrols (runs, preflight gates, pause/resume) and their notices.
// Plain DOM and SVG, no external assets: it works on a network with no internet.
"use strict";
const I18N = {
  en: { title: "FieldPatrol inspection console", map: "Map: sites, no-fly zones, paths, live tracks, evidence",
        cases: "Cases", case: "Case", number: "Number", class: "Class", state: "State", evidence: "Evidence",
        gallery: "Evidence gallery", audit: "Full-process record", verified: "verified",
        broken: "NOT verified", entries: "entries", login: "Log in", logout: "Log out",
        username: "User name", password: "Password", missions: "Plan and launch",
        site: "Site", pattern: "Pattern", survey: "Survey", perimeter: "Perimeter",
        altitude: "Altitude (m)", plan: "Plan and check", vehicle: "Vehicle", launch: "Confirm launch",
        confirm_text: "Check the validated plan and its estimates, then confirm the launch:",
        steps: "Procedure steps", take_step: "Take step", reason: "Reason", deadlines: "Deadlines",
        discretion: "Discretion recommendation", documents: "Documents", valid: "plan valid",
        invalid: "plan NOT valid", distance_m: "Distance (m)", duration_s: "Duration (s)",
        photos: "Photos", coverage_pct: "Coverage (%)", waypoints: "Waypoints", live: "live stream",
        offline: "live stream offline", sortie: "Sortie", due: "due", none: "none",
        sortie_results: "What this sortie found", completed: "completed", aborted: "aborted",
        failed: "failed", lost: "lost", blocked: "blocked (preflight)",
        interrupted: "interrupted", mission_report: "Mission report",
        mission_reports: "Mission reports", schedules: "Scheduled patrols", name: "Name",
        recurrence: "Recurrence", next_due: "Next run", runs: "Runs", due_at: "Due",
        decision: "Decision", status: "Status", gates: "Preflight checks and reason",
        pause: "Pause", resume: "Resume", show_runs: "Runs", no_runs: "no runs yet",
        no_schedules: "no schedules", dismiss: "Dismiss", schedule: "Schedule", window: "window",
        s_active: "active", s_paused: "paused", s_removed: "removed",
        n_preflight_failed: "Preflight check failed: the automatic patrol did not launch",
        n_schedule_run_skipped: "Automatic patrol skipped",
        n_schedule_calendar_unknown: "Holiday calendar does not cover this date: automatic patrol skipped",
        d_run: "run", d_run_late: "run late", d_skip_holiday: "skipped: holiday / non-working day",
        d_skip_window: "skipped: outside the time window", d_skip_missed: "skipped: missed",
        d_skip_busy: "skipped: no free vehicle", d_skip_calendar: "skipped: calendar unknown",
        d_blocked: "blocked by a preflight check", r_pending: "pending", r_launched: "launched",
        r_flying: "flying", r_completed: "completed", r_failed: "failed", r_aborted: "aborted",
        r_interrupted: "interrupted", r_skipped: "skipped", r_blocked: "blocked",
        g_healthy: "vehicle health", g_battery: "battery", g_gps: "GPS", g_connected: "link",
        g_fence: "fence", g_plan: "route check", g_no_fly: "no-fly window" },
  zh: { title: "FieldPatrol 巡查执法控制台", map: "地图：站点、禁飞区、航线、实时轨迹与证据",
        cases: "案件", case: "案件", number: "编号", class: "类别", state: "状态", evidence: "证据",
        gallery: "证据图库", audit: "全过程记录", verified: "校验通过", broken: "校验失败",
        entries: "条记录", login: "登录", logout: "退出", username: "用户名", password: "密码",
        missions: "任务规划与起飞", site: "站点", pattern: "方式", survey: "测绘扫描",
        perimeter: "周界巡查", altitude: "高度 (m)", plan: "规划并校验", vehicle: "飞行器",
        launch: "确认起飞", confirm_text: "请核对已校验的航线与估算，确认后起飞：",
        steps: "程序步骤", take_step: "执行步骤", reason: "理由", deadlines: "期限",
        discretion: "裁量建议", documents: "文书", valid: "航线校验通过", invalid: "航线校验未通过",
        distance_m: "航程 (m)", duration_s: "时长 (s)", photos: "照片", coverage_pct: "覆盖率 (%)",
        waypoints: "航点", live: "实时数据已连接", offline: "实时数据未连接", sortie: "架次",
        due: "截止", none: "无", sortie_results: "本架次成果", completed: "已完成",
        aborted: "已中止", failed: "失败", lost: "失联", blocked: "起飞前检查未通过",
        interrupted: "已中断", mission_report: "任务报告",
        mission_reports: "巡查任务报告", schedules: "计划巡查", name: "名称", recurrence: "周期",
        next_due: "下次执行", runs: "执行记录", due_at: "到期时间", decision: "决定",
        status: "执行状态", gates: "起飞前检查与原因", pause: "暂停", resume: "恢复",
        show_runs: "执行记录", no_runs: "暂无执行记录", no_schedules: "暂无计划巡查",
        dismiss: "关闭", schedule: "计划", window: "时段",
        s_active: "启用", s_paused: "已暂停", s_removed: "已删除",
        n_preflight_failed: "起飞前检查未通过，自动巡查未起飞",
        n_schedule_run_skipped: "自动巡查已跳过",
        n_schedule_calendar_unknown: "节假日日历未覆盖该日期，自动巡查已跳过",
        d_run: "按时执行", d_run_late: "补飞", d_skip_holiday: "跳过：节假日/非工作日",
        d_skip_window: "跳过：不在允许时段", d_skip_missed: "跳过：已错过",
        d_skip_busy: "跳过：无空闲飞行器", d_skip_calendar: "跳过：日历未知",
        d_blocked: "起飞前检查拦截", r_pending: "待执行", r_launched: "已起飞", r_flying: "执行中",
        r_completed: "已完成", r_failed: "失败", r_aborted: "已中止", r_interrupted: "已中断",
        r_skipped: "已跳过", r_blocked: "已拦截",
        g_healthy: "飞行器状态", g_battery: "电量", g_gps: "卫星定位", g_connected: "链路",
        g_fence: "电子围栏", g_plan: "航线校验", g_no_fly: "禁飞时段" },
};
const S = { lang: "zh", csrf: null, user: null, sites: [], cases: [], evidence: [], plan: null,
            tracks: {}, caseNumber: null, caseVersion: null, ws: null, sortieId: null,
            schedules: [], scheduleId: null, runs: [], notices: [] };
// Who may see, pause and resume scheduled patrols (gateway/api/schedules.py SCHEDULE_ROLES).
const SCHEDULE_ROLES = ["supervisor", "admin", "head"];
// Events of the scheduler (patrol/scheduler) the live stream carries as "progress".
const SCHEDULER_EVENTS = ["preflight_failed", "schedule_run_skipped", "schedule_calendar_unknown"];
// A sortie in one of these has ended (patrol.sortie FINAL_STATUSES, and "interrupted" when a
// crashed run was recovered): its results can be shown.
const SORTIE_FINAL = ["completed", "aborted", "failed", "lost", "blocked", "interrupted"];
const NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
function t(key) { return I18N[S.lang][key] || key; }
// A code word (decision, status, gate) in the user's language, or the word itself.
function tc(prefix, word) { return I18N[S.lang][prefix + word] || word; }
function localTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(S.lang === "zh" ? "zh-CN" : "en-GB",
    { timeZone: "Asia/Shanghai", hour12: false, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}
function cell(row, text, className) {
  const td = document.createElement("td"); td.textContent = text ?? "";
  if (className) td.className = className;
  row.appendChild(td); return td;
}
function applyLang() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("lang").textContent = S.lang === "zh" ? "English" : "中文";
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  if (S.user) { drawNotices(); drawSchedules(); drawRuns(); }
}
class ApiError extends Error {}
async function api(url, options = {}) {
  const opts = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (opts.method && opts.method !== "GET") {
    opts.headers["X-CSRF-Token"] = S.csrf || "";
    if (opts.body && typeof opts.body !== "string") {
      opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.body);
    }
  }
  const response = await fetch(url, opts);
  if (response.status === 401 && !url.startsWith("/api/auth/")) { showLogin(); throw new ApiError("401"); }
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError((data && data.detail) || url + ": " + response.status);
  return data;
}

// --- map ------------------------------------------------------------------------------
let view = null;
function ringsOf(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}
function circle(lon, lat, r) {
  const pts = [];
  for (let i = 0; i <= 24; i++) {
    const a = (i / 24) * 2 * Math.PI;
    pts.push([lon + (r * Math.cos(a)) / (111320 * Math.cos((lat * Math.PI) / 180)), lat + (r * Math.sin(a)) / 110540]);
  }
  return [pts];
}
function fitView() {
  const pts = [];
  for (const s of S.sites) for (const f of s.geojson.features || [])
    if (f.properties?.role === "keep_in") for (const poly of ringsOf(f.geometry)) pts.push(...poly[0]);
  for (const e of S.evidence) pts.push([e.lon, e.lat]);
  if (!pts.length) { view = null; return; }
  let minX = Math.min(...pts.map((p) => p[0])), maxX = Math.max(...pts.map((p) => p[0]));
  let minY = Math.min(...pts.map((p) => p[1])), maxY = Math.max(...pts.map((p) => p[1]));
  const k = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const w = Math.max((maxX - minX) * k, 1e-4), h = Math.max(maxY - minY, 1e-4);
  const scale = Math.min(760 / w, 460 / h);
  view = { minX, maxY, k, scale, ox: (800 - w * scale) / 2, oy: (500 - h * scale) / 2 };
}
function px(lon, lat) { return [view.ox + (lon - view.minX) * view.k * view.scale, view.oy + (view.maxY - lat) * view.scale]; }
function pathD(points) { return points.map((p, i) => (i ? "L" : "M") + px(p[0], p[1]).map((v) => v.toFixed(1)).join(",")).join(" "); }
function add(layer, tag, attrs, title) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (title) { const tt = document.createElementNS(NS, "title"); tt.textContent = title; el.appendChild(tt); }
  $(layer).appendChild(el); return el;
}
function drawMap() {
  fitView();
  for (const id of ["layer-sites", "layer-exclusions", "layer-paths", "layer-evidence", "layer-cases"]) $(id).innerHTML = "";
  if (!view) return;
  for (const s of S.sites) for (const f of s.geojson.features || []) {
    const role = f.properties?.role;
    let rings = ringsOf(f.geometry);
    if (role === "exclusion" && f.geometry?.type === "Point") rings = [circle(...f.geometry.coordinates, f.properties.radius_m || 20)];
    for (const poly of rings) {
      const d = poly.map((ring) => pathD(ring) + " Z").join(" ");
      if (role === "keep_in") add("layer-sites", "path", { d, class: "site", "fill-rule": "evenodd" }, s.name);
      else if (role === "exclusion") add("layer-exclusions", "path", { d, class: "exclusion" }, t("map"));
    }
  }
  if (S.plan && S.plan.path_lonlat.length) add("layer-paths", "path", { d: pathD(S.plan.path_lonlat), class: "path" });
  for (const e of S.evidence) {
    const [x, y] = px(e.lon, e.lat);
    add("layer-evidence", "circle", { cx: x, cy: y, r: 4, class: "evidence-marker" }, e.class_name);
  }
  for (const c of S.cases) {
    const [x, y] = px(c.lon, c.lat);
    const ring = add("layer-cases", "circle", { cx: x, cy: y, r: 10, class: "case-marker" }, c.number);
    ring.addEventListener("click", () => openCase(c.number));
  }
  drawTracks();
}
function drawTracks() {
  $("layer-tracks").innerHTML = "";
  if (!view) return;
  for (const [vehicle, pts] of Object.entries(S.tracks)) {
    if (pts.length > 1) add("layer-tracks", "path", { d: pathD(pts), class: "track" });
    const [x, y] = px(...pts[pts.length - 1]);
    add("layer-tracks", "circle", { cx: x, cy: y, r: 6, class: "vehicle-marker", "data-vehicle": vehicle }, vehicle);
  }
}

// --- live stream -------------------------------------------------------------------------
function connectLive() {
  if (S.ws) S.ws.close();
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live");
  S.ws = ws;
  ws.onopen = () => { $("live-status").textContent = t("live"); };
  ws.onclose = () => { $("live-status").textContent = t("offline"); if (S.user && S.ws === ws) setTimeout(connectLive, 3000); };
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.kind === "position") {
      const track = (S.tracks[m.vehicle_id] ||= []);
      track.push([m.lon, m.lat]);
      if (track.length > 2000) track.shift();
      drawTracks();
      $("live-status").textContent = `${t("live")} · ${m.vehicle_id} ${m.mode || ""} ${m.alt_agl_m?.toFixed(0)} m`;
    } else if (m.kind === "progress" && SCHEDULER_EVENTS.includes(m.event)) {
      addNotice(m);
    } else if (m.kind === "progress" || m.kind === "fence") {
      $("sortie-status").textContent = `${m.vehicle_id || ""} ${m.event}`;
      if (String(m.event).startsWith("sortie_")) {
        refresh();
        if (m.sortie_id && m.sortie_id === S.sortieId) showSortieResults(m.sortie_id, String(m.event).slice(7));
      }
    } else if (m.kind === "evidence") {
      refresh();
    }
  };
}

// --- lists -------------------------------------------------------------------------------
function drawCases(selector = "#cases tbody", cases = S.cases) {
  const body = document.querySelector(selector);
  body.innerHTML = "";
  for (const c of cases) {
    const row = document.createElement("tr");
    row.dataset.number = c.number;
    for (const value of [c.number, c.class_name, c.state, c.evidence_count]) {
      const cell = document.createElement("td"); cell.textContent = value; row.appendChild(cell);
    }
    row.addEventListener("click", () => openCase(c.number));
    body.appendChild(row);
  }
}
function shot(e) {
  const figure = document.createElement("figure"); figure.className = "shot";
  if (!e.media || !e.media.length) return null;
  const img = document.createElement("img");
  img.src = "/api/media/" + e.media[0]; img.alt = e.class_name;
  img.onload = () => {
    const k = 240 / img.naturalWidth;
    const [x1, y1, x2, y2] = e.box_px;
    const box = document.createElement("div"); box.className = "box";
    Object.assign(box.style, { left: x1 * k + "px", top: y1 * k + "px", width: (x2 - x1) * k + "px", height: (y2 - y1) * k + "px" });
    figure.appendChild(box);
  };
  const caption = document.createElement("figcaption");
  caption.textContent = `${e.class_name} ${(e.confidence * 100).toFixed(0)}% · ${String(e.captured_at).slice(0, 19)}`;
  figure.appendChild(img); figure.appendChild(caption);
  return figure;
}
function drawGallery(target, items) {
  const gallery = $(target);
  gallery.innerHTML = "";
  for (const e of items.slice(0, 24)) { const f = shot(e); if (f) gallery.appendChild(f); }
}
async function refresh() {
  try {
    const [sites, cases, evidence] = await Promise.all([
      api("/api/sites?limit=100"), api("/api/cases?limit=200"), api("/api/evidence?limit=200"),
    ]);
    S.sites = sites.items; S.cases = cases.items; S.evidence = evidence.items;
    const select = $("plan-site"), chosen = select.value;
    select.innerHTML = "";
    for (const s of S.sites) { const o = document.createElement("option"); o.value = s.id; o.textContent = s.name; select.appendChild(o); }
    if (chosen) select.value = chosen;
    drawMap(); drawCases(); drawGallery("gallery", S.evidence);
    // The stream's end-of-sortie message may be missed (a reconnect): ask for the status.
    if (S.sortieId && $("sortie-results").dataset.sortie !== S.sortieId) {
      const sortie = await api("/api/sorties/" + encodeURIComponent(S.sortieId));
      if (SORTIE_FINAL.includes(sortie.status)) showSortieResults(S.sortieId, sortie.status);
    }
    // A report made after the sortie ended (`patrol sortie report`) gets its link.
    const shown = $("sortie-results").dataset.sortie;
    if (shown && $("sortie-report").hidden) showSortieReport(shown);
  } catch (error) { if (!(error instanceof ApiError && error.message === "401")) console.error(error); }
  try {
    const audit = await api("/api/audit/verify");
    $("audit").textContent = `${audit.entries} ${t("entries")} — ${audit.ok ? t("verified") : t("broken")}`;
  } catch (error) { $("audit").textContent = ""; }
  await loadSchedules();
}

// --- mission planning and launch ------------------------------------------------------------
$("plan-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("launch-confirm").hidden = true; $("plan-result").textContent = "…";
  try {
    S.plan = await api("/api/missions/plan", { method: "POST", body: {
      site_id: $("plan-site").value, pattern: $("plan-pattern").value, altitude_agl_m: Number($("plan-alt").value) } });
    const s = S.plan.summary;
    $("plan-result").textContent = `${S.plan.id}: ${s.valid ? t("valid") : t("invalid")} ${s.problems.join("; ")}`;
    $("plan-result").className = s.valid ? "" : "error";
    const table = $("estimates"); table.innerHTML = "";
    for (const key of ["distance_m", "duration_s", "photos", "coverage_pct", "waypoints"]) {
      const row = document.createElement("tr");
      row.innerHTML = `<th>${t(key)}</th><td data-key="${key}">${s[key]}</td>`; table.appendChild(row);
    }
    $("launch-confirm").hidden = !s.valid;
    drawMap();
  } catch (error) { $("plan-result").textContent = error.message; $("plan-result").className = "error"; }
});
$("launch-button").addEventListener("click", async () => {
  try {
    const r = await api(`/api/missions/${S.plan.id}/launch`, { method: "POST", body: {
      vehicle_id: $("launch-vehicle").value, confirm_digest: S.plan.digest } });
    S.sortieId = r.sortie_id; $("sortie-results").hidden = true; delete $("sortie-results").dataset.sortie;
    $("sortie-status").textContent = `${t("sortie")} ${r.sortie_id}: ${r.status}`;
    $("launch-confirm").hidden = true;
  } catch (error) { $("sortie-status").textContent = error.message; }
});

// The evidence a finished sortie produced and the cases it went into (opened or joined).
async function showSortieResults(id, status) {
  const q = "sortie_id=" + encodeURIComponent(id);
  const [evidence, cases] = await Promise.all([api(`/api/evidence?${q}&limit=1`), api(`/api/cases?${q}&limit=200`)]);
  $("sortie-results").hidden = false;
  $("sortie-results").dataset.sortie = id; $("sortie-results").dataset.status = status;
  $("sortie-id").textContent = id;
  $("sortie-summary").textContent = `${t(status)} · ${t("evidence")} ${evidence.total} · ${t("cases")} ${cases.total}`;
  drawCases("#sortie-cases tbody", cases.items);
  showSortieReport(id);
}

// --- mission reports -----------------------------------------------------------------------
// A sortie's report exists once `patrol sortie report` made it; the sortie lists the formats.
async function sortieReports(id) {
  try { return (await api("/api/sorties/" + encodeURIComponent(id))).reports || []; }
  catch (error) { return []; }  // a sortie not on record (evidence from elsewhere): no report
}
function reportLink(a, id, fmt, formats) {
  a.hidden = !formats.includes(fmt);
  a.href = `/api/sorties/${encodeURIComponent(id)}/report/${fmt}`;
}
async function showSortieReport(id) {
  const formats = await sortieReports(id);
  if ($("sortie-results").dataset.sortie !== id) return;
  reportLink($("sortie-report-html"), id, "html", formats);
  reportLink($("sortie-report-pdf"), id, "pdf", formats);
  $("sortie-report").hidden = !formats.length;
}
// The reports of the sorties whose evidence is in the case.
async function showCaseReports(number, evidence) {
  const ids = [...new Set(evidence.map((e) => e.sortie_id).filter(Boolean))];
  const found = await Promise.all(ids.map(async (id) => [id, await sortieReports(id)]));
  if (S.caseNumber !== number) return;
  const list = $("case-reports"); list.innerHTML = "";
  for (const [id, formats] of found) {
    if (!formats.length) continue;
    const li = document.createElement("li"); li.dataset.sortie = id;
    li.append(`${t("sortie")} ${id}: `);
    for (const fmt of formats) {
      const a = document.createElement("a"); a.target = "_blank"; a.rel = "noopener";
      a.className = "report-" + fmt; a.textContent = fmt.toUpperCase();
      reportLink(a, id, fmt, formats); li.append(a, " ");
    }
    list.appendChild(li);
  }
  $("case-reports-box").hidden = !list.children.length;
  $("case-reports-box").dataset.checked = number;
}

// --- case page -----------------------------------------------------------------------------
async function openCase(number) {
  const c = await api("/api/cases/" + encodeURIComponent(number));
  S.caseNumber = c.number; S.caseVersion = c.version;
  delete $("case-reports-box").dataset.checked;
  $("case-panel").hidden = false;
  $("case-number").textContent = c.number;
  $("case-title").textContent = c.title + (c.facts ? " — " + c.facts : "");
  $("case-state").textContent = c.state;
  const steps = $("case-steps"); steps.innerHTML = "";
  for (const s of c.steps) {
    const li = document.createElement("li");
    li.textContent = `${s.label || s.action} · ${s.actor} (${s.actor_role}) · ${String(s.taken_at).slice(0, 16)} · ${s.reason}`;
    steps.appendChild(li);
  }
  const select = $("step-action"); select.innerHTML = "";
  for (const a of c.available_actions) { const o = document.createElement("option"); o.value = a.action; o.textContent = `${a.label} (${a.action})`; select.appendChild(o); }
  $("step-form").hidden = !c.available_actions.length;
  const table = $("case-deadlines"); table.innerHTML = "";
  for (const d of c.deadlines) {
    const row = document.createElement("tr"); row.className = d.status;
    row.innerHTML = `<td>${d.kind}</td><td>${d.basis}</td><td>${t("due")} ${d.due_on}</td><td>${d.status}</td>`;
    table.appendChild(row);
  }
  if (!c.deadlines.length) table.innerHTML = `<tr><td>${t("none")}</td></tr>`;
  const disc = $("case-discretion"); disc.innerHTML = "";
  if (c.discretion) {
    const p = document.createElement("p");
    p.textContent = `${c.discretion.tier || ""} ${c.discretion.min_yuan ?? ""}–${c.discretion.max_yuan ?? ""} 元`;
    disc.appendChild(p);
    const ul = document.createElement("ul");
    for (const reason of c.discretion.reasons || []) { const li = document.createElement("li"); li.textContent = reason; ul.appendChild(li); }
    disc.appendChild(ul);
  } else disc.textContent = t("none");
  const docs = $("case-documents"); docs.innerHTML = "";
  for (const d of c.documents) {
    const li = document.createElement("li");
    li.innerHTML = `${d.number} ${d.title} ` + (d.pdf ? `<a href="/api/documents/${d.id}/pdf" target="_blank">PDF</a> ` : "") +
      (d.docx ? `<a href="/api/documents/${d.id}/docx">DOCX</a>` : "");
    docs.appendChild(li);
  }
  const items = await Promise.all(c.evidence_ids.slice(0, 12).map((id) => api("/api/evidence/" + encodeURIComponent(id))));
  drawGallery("case-gallery", items);
  await showCaseReports(c.number, items);
  $("case-panel").scrollIntoView({ block: "start" });
}
$("step-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("step-error").textContent = "";
  try {
    await api(`/api/cases/${encodeURIComponent(S.caseNumber)}/steps`, { method: "POST", body: {
      action: $("step-action").value, reason: $("step-reason").value, expected_version: S.caseVersion } });
    $("step-reason").value = "";
    await openCase(S.caseNumber); refresh();
    const results = $("sortie-results").dataset;
    if (results.sortie) showSortieResults(results.sortie, results.status);
  } catch (error) { $("step-error").textContent = error.message; }
});
$("case-close").addEventListener("click", () => { $("case-panel").hidden = true; });

// --- scheduled patrols -----------------------------------------------------------------------
function maySchedule() { return !!S.user && SCHEDULE_ROLES.includes(S.user.role); }
async function loadSchedules() {
  if (!maySchedule()) return;
  try {
    S.schedules = (await api("/api/schedules?limit=200")).items;
    drawSchedules(); drawNotices();
    if (S.scheduleId !== null) await loadRuns(S.scheduleId);
  } catch (error) { $("schedules-error").textContent = error.message; }
}
function drawSchedules() {
  const body = document.querySelector("#schedules tbody");
  body.innerHTML = "";
  for (const s of S.schedules) {
    const row = document.createElement("tr");
    row.dataset.schedule = s.id; row.dataset.state = s.state;
    cell(row, `#${s.id} ${s.name}`);
    cell(row, s.site_id);
    cell(row, s.rrule + (s.window ? ` · ${t("window")} ${s.window}` : ""));
    cell(row, tc("s_", s.state), s.state === "paused" ? "warning" : "");
    cell(row, localTime(s.next_due));
    const actions = cell(row, "");
    const runs = document.createElement("button");
    runs.type = "button"; runs.className = "show-runs"; runs.textContent = t("show_runs");
    runs.addEventListener("click", () => loadRuns(s.id));
    actions.appendChild(runs);
    if (s.state === "active" || s.state === "paused") {
      const change = s.state === "active" ? "pause" : "resume";
      const button = document.createElement("button");
      button.type = "button"; button.className = change; button.textContent = t(change);
      button.addEventListener("click", () => changeSchedule(s.id, change));
      actions.append(" ", button);
    }
    body.appendChild(row);
  }
  if (!S.schedules.length) body.innerHTML = `<tr><td colspan="6">${t("no_schedules")}</td></tr>`;
}
async function changeSchedule(id, change) {
  $("schedules-error").textContent = "";
  try {
    const updated = await api(`/api/schedules/${id}/${change}`, { method: "POST" });
    S.schedules = S.schedules.map((s) => (s.id === updated.id ? updated : s));
    drawSchedules();
  } catch (error) { $("schedules-error").textContent = error.message; }
}
async function loadRuns(id) {
  const runs = await api(`/api/schedules/${id}/runs?limit=50`);
  S.scheduleId = id; S.runs = runs.items;
  drawRuns();
}
function drawRuns() {
  if (S.scheduleId === null) return;
  const schedule = S.schedules.find((s) => s.id === S.scheduleId);
  $("schedule-runs").hidden = false;
  $("schedule-runs").dataset.schedule = S.scheduleId;
  $("runs-schedule").textContent = `#${S.scheduleId} ${schedule ? schedule.name : ""}`;
  const body = document.querySelector("#runs tbody");
  body.innerHTML = "";
  for (const r of S.runs) {
    const row = document.createElement("tr");
    row.dataset.run = r.id; row.dataset.decision = r.decision;
    cell(row, localTime(r.due_at));
    cell(row, tc("d_", r.decision), r.decision === "blocked" ? "error" : "");
    cell(row, tc("r_", r.status));
    cell(row, r.vehicle_id || "");
    const why = cell(row, "");
    // Each preflight gate with its result; a failed one shows what it found.
    for (const g of r.gates || []) {
      const span = document.createElement("span");
      span.className = g.ok ? "gate gate-ok" : "gate gate-failed";
      span.dataset.gate = g.gate;
      span.textContent = `${g.ok ? "✓" : "✗"} ${tc("g_", g.gate)}${g.ok ? "" : ": " + g.detail}`;
      span.title = g.detail;
      why.append(span, " ");
    }
    if (r.reason) { const p = document.createElement("div"); p.className = "run-reason"; p.textContent = r.reason; why.appendChild(p); }
    body.appendChild(row);
  }
  if (!S.runs.length) body.innerHTML = `<tr><td colspan="5">${t("no_runs")}</td></tr>`;
}

// --- notices: what the scheduler tells the supervisor, from the live stream --------------------
function addNotice(m) {
  S.notices.unshift(m);
  S.notices.length = Math.min(S.notices.length, 10);
  drawNotices();
  loadSchedules();
}
function drawNotices() {
  const box = $("notices");
  box.innerHTML = "";
  S.notices.forEach((m, i) => {
    const d = m.detail || {};
    const div = document.createElement("div");
    div.className = "notice"; div.dataset.event = m.event;
    if (d.schedule_id) div.dataset.schedule = d.schedule_id;
    const schedule = S.schedules.find((s) => s.id === d.schedule_id);
    const parts = [t("n_" + m.event)];
    if (d.schedule_id) parts.push(`${t("schedule")} #${d.schedule_id}${schedule ? " " + schedule.name : ""}`);
    if (d.due_at) parts.push(localTime(d.due_at));
    if (m.vehicle_id) parts.push(m.vehicle_id);
    if (d.gate) parts.push(tc("g_", d.gate));
    const text = document.createElement("span");
    text.textContent = parts.join(" · ") + (d.reason ? " — " + d.reason : "");
    div.appendChild(text);
    if (d.schedule_id && maySchedule()) {
      const open = document.createElement("button");
      open.type = "button"; open.className = "notice-runs"; open.textContent = t("show_runs");
      open.addEventListener("click", async () => {
        await loadRuns(d.schedule_id); $("schedules-panel").scrollIntoView({ block: "start" });
      });
      div.append(" ", open);
    }
    const close = document.createElement("button");
    close.type = "button"; close.className = "notice-close"; close.textContent = "×"; close.title = t("dismiss");
    close.addEventListener("click", () => { S.notices.splice(i, 1); drawNotices(); });
    div.append(" ", close);
    box.appendChild(div);
  });
}

// --- session -------------------------------------------------------------------------------
function showLogin() {
  S.user = null; $("app").hidden = true; $("login-panel").hidden = false; $("logout").hidden = true; $("who").textContent = "";
  S.notices = []; S.schedules = []; S.scheduleId = null; S.runs = []; $("notices").innerHTML = "";
  if (S.ws) { const ws = S.ws; S.ws = null; ws.close(); }
}
function showApp(user) {
  S.user = user; $("login-panel").hidden = true; $("app").hidden = false; $("logout").hidden = false;
  $("who").textContent = `${user.name} · ${user.role}${user.department ? " · " + user.department : ""}`;
  $("schedules-panel").hidden = !maySchedule(); $("schedule-runs").hidden = true;
  refresh(); connectLive();
}
$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const r = await api("/api/auth/login", { method: "POST", body: { username: $("username").value, password: $("password").value } });
    S.csrf = r.csrf_token; $("password").value = ""; showApp(r.user);
  } catch (error) { $("login-error").textContent = error.message; }
});
$("logout").addEventListener("click", async () => { try { await api("/api/auth/logout", { method: "POST" }); } finally { showLogin(); } });
$("lang").addEventListener("click", () => { S.lang = S.lang === "zh" ? "en" : "zh"; applyLang(); });
async function start() {
  applyLang();
  try { const me = await api("/api/auth/me"); S.csrf = me.csrf_token; showApp(me); } catch (error) { showLogin(); }
}
start();
setInterval(() => { if (S.user) refresh(); }, 10000);
