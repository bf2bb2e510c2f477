/// The admin API's dashboard (`GET /`): one self-contained page, HTML, CSS and JavaScript in
/// the binary (no CDN, no build step), that reads `/status` every two seconds and shows what
/// runs: on a server, each client with its address, transport, uptime and round trip, its
/// proxies with their public ports, visitors and traffic rates, and the last disconnects with
/// their causes; on a client, its session and proxies. Rates are the difference between two
/// readings.
///
/// With an admin token the page asks for it once (or takes it from `#token=...` in the
/// address, which never reaches the server) and keeps it for the tab (sessionStorage). Each
/// successful refresh sets `data-refreshes` on `<body>`, which tests wait on.
public enum DashboardPage {
    public static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Burrow</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --accent: #2f6fdb; --bad: #c0392b; --good: #1e8e3e; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f6f7f9; }
  header { display: flex; align-items: baseline; gap: 1em; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 18px; }
  header .summary { color: var(--muted); }
  header .state { margin-left: auto; color: var(--muted); font-size: 12px; }
  main { padding: 18px 24px; max-width: 1200px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 16px; }
  section h2 { margin: 0; padding: 10px 14px; font-size: 15px; border-bottom: 1px solid var(--line); display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
  section h2 .meta { font-weight: normal; color: var(--muted); font-size: 13px; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 6px 14px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr:last-child td { border-bottom: none; }
  .empty { padding: 12px 14px; color: var(--muted); }
  .bad { color: var(--bad); }
  .good { color: var(--good); }
  form { padding: 14px; display: flex; gap: 8px; }
  input { flex: 1; padding: 6px 8px; font: inherit; }
  button { padding: 6px 12px; font: inherit; }
</style>
</head>
<body>
<header><h1>Burrow</h1><span class="summary" id="summary">connecting…</span><span class="state" id="state"></span></header>
<main id="main"></main>
<script>
"use strict";
const TOKEN_KEY = "burrow-admin-token";
const EVERY_MS = 2000;
const main = document.getElementById("main");
const previous = new Map();
let refreshes = 0;
let lastAt = 0;

// A token in the address (#token=...) is taken once and kept for the tab.
if (location.hash.startsWith("#token=")) {
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function rate(key, total, seconds) {
  const before = previous.get(key);
  previous.set(key, total);
  if (before === undefined || seconds <= 0 || total < before) return "–";
  return bytes((total - before) / seconds) + "/s";
}

function duration(seconds) {
  if (seconds < 60) return seconds + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  if (seconds < 86400) return Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min";
  return Math.floor(seconds / 86400) + " d " + Math.floor(seconds % 86400 / 3600) + " h";
}

function cells(tag, values, numeric) {
  return el("tr", {}, ...values.map((value, i) => el(tag, numeric.includes(i) ? {class: "num"} : {}, value)));
}

function proxyTable(key, proxies, seconds, showPort) {
  if (proxies.length === 0) return el("div", {class: "empty"}, "no proxies");
  const head = ["proxy", showPort ? "public port" : "server port", "visitors", "in", "out", "in total", "out total", "resets"];
  const table = el("table", {}, cells("th", head, [2, 3, 4, 5, 6, 7]));
  for (const proxy of proxies) {
    const t = proxy.traffic;
    const id = key + "/" + proxy.name;
    const port = showPort ? proxy.protocol + " " + proxy.port : (proxy.remotePort ?? (proxy.refusal ? "refused: " + proxy.refusal : "asking…"));
    table.append(cells("td", [proxy.name, port, t.visitors, rate(id + ">in", t.bytesIn, seconds), rate(id + ">out", t.bytesOut, seconds),
      bytes(t.bytesIn), bytes(t.bytesOut), t.resets], [2, 3, 4, 5, 6, 7]));
  }
  return table;
}

function renderServer(status, now, seconds) {
  const sessions = status.sessions;
  const visitors = sessions.reduce((sum, s) => sum + s.visitors, 0);
  document.getElementById("summary").textContent =
    "server · " + sessions.length + " client" + (sessions.length === 1 ? "" : "s") + " · " + visitors + " visitor" + (visitors === 1 ? "" : "s");
  const parts = [];
  if (sessions.length === 0) parts.push(el("section", {}, el("div", {class: "empty"}, "No client is connected.")));
  for (const session of sessions) {
    const rtt = session.roundTripMicroseconds == null ? "no answer" : (session.roundTripMicroseconds / 1000).toFixed(2) + " ms";
    parts.push(el("section", {class: "client", "data-client": session.client},
      el("h2", {}, session.client,
        el("span", {class: "meta"}, "from " + session.address + " over " + session.transport),
        el("span", {class: "meta"}, "up " + duration(Math.max(0, now - session.since))),
        el("span", {class: "meta"}, "round trip " + rtt),
        el("span", {class: "meta"}, "token " + session.token)),
      proxyTable(session.client, session.proxies, seconds, true)));
  }
  const gone = el("section", {}, el("h2", {}, "Recent disconnects"));
  if (status.recentDisconnects.length === 0) gone.append(el("div", {class: "empty"}, "none since the server started"));
  else {
    const table = el("table", {}, cells("th", ["when", "client", "from", "cause"], []));
    for (const entry of status.recentDisconnects) {
      table.append(cells("td", [duration(Math.max(0, now - entry.at)) + " ago", entry.client, entry.address, entry.cause], []));
    }
    gone.append(table);
  }
  parts.push(gone);
  return parts;
}

function renderClient(status, now, seconds) {
  const up = status.loggedInAt != null;
  document.getElementById("summary").textContent = "client " + status.name + " · " + status.server;
  const state = up ? el("span", {class: "meta good"}, "logged in, up " + duration(Math.max(0, now - status.loggedInAt)))
                   : el("span", {class: "meta bad"}, "not connected");
  return [el("section", {}, el("h2", {}, "Proxies", state), proxyTable(status.name, status.proxies, seconds, false))];
}

function askForToken(message) {
  const input = el("input", {type: "password", placeholder: "admin token", autocomplete: "off"});
  const form = el("form", {}, input, el("button", {type: "submit"}, "Open"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value);
    refresh();
  });
  main.replaceChildren(el("section", {}, el("h2", {}, message), form));
  input.focus();
}

let waitingForToken = false;
async function refresh() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  let answer;
  try {
    answer = await fetch("/status", {headers: token ? {Authorization: "Bearer " + token} : {}, cache: "no-store"});
  } catch (error) {
    document.getElementById("state").textContent = "cannot reach the admin API: " + error.message;
    return;
  }
  if (answer.status === 401) {
    if (!waitingForToken || token) askForToken(token ? "That token was refused: the admin token, please" : "This admin API needs its token");
    waitingForToken = true;
    if (token) sessionStorage.removeItem(TOKEN_KEY);
    return;
  }
  waitingForToken = false;
  if (!answer.ok) {
    document.getElementById("state").textContent = "/status answered " + answer.status;
    return;
  }
  const status = await answer.json();
  const at = Date.now();
  const seconds = lastAt ? (at - lastAt) / 1000 : 0;
  lastAt = at;
  const now = Math.floor(at / 1000);
  main.replaceChildren(...(status.sessions ? renderServer(status, now, seconds) : renderClient(status, now, seconds)));
  document.getElementById("state").textContent = "updated " + new Date(at).toLocaleTimeString();
  refreshes += 1;
  document.body.dataset.refreshes = String(refreshes);
}

refresh();
setInterval(() => { if (!waitingForToken) refresh(); }, EVERY_MS);
</script>
</body>
</html>
"""#
}
