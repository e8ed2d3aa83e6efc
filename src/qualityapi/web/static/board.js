// The live board. Plain JavaScript, no build step, no outside assets.
//
// Auth: the API key is asked for once and kept in localStorage; every request sends it as
// "Authorization: Bearer ...". Nothing is shown until the server accepted it; a key the
// server refuses later (revoked) is forgotten and the board hidden again.
//
// Updates: GET /v1/board/stream (server-sent events) read with fetch, because EventSource
// cannot send an Authorization header. Each "board" event is the whole board; its id is
// sent back as Last-Event-ID on reconnect, so the server resends only if it changed.
// While the stream is not delivering (connecting, a proxy that buffers, an error), the page
// polls GET /v1/board every data-poll-ms milliseconds instead.
(() => {
  "use strict";

  const STORAGE_KEY = "qualityapi.board.key";
  const LEVELS = ["red", "yellow", "blue"];
  const KIND_LABEL = { work_order: "work order", complaint: "complaint", survey_callback: "callback" };
  const KIND_PLURAL = { work_order: "work orders", complaint: "complaints", survey_callback: "callbacks" };
  const body = document.body;
  const POLL_MS = Number(body.dataset.pollMs) || 2000;
  const WATCHDOG_MS = 40000; // > the server's 15 s heartbeat: a silent stream is dead
  const $ = (id) => document.getElementById(id);

  let key = null;
  let board = null;
  let lastEventId = "";
  let streamLive = false;
  let generation = 0; // bumped when the key changes: loops of an older key stop
  let controller = null;
  let filter = "";
  let chartUrl = null;

  class KeyRefused extends Error {}

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function headers() {
    return { Authorization: "Bearer " + key };
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: headers(), cache: "no-store" });
    if (response.status === 401 || response.status === 403) throw new KeyRefused(String(response.status));
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  function setStatus(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = "status " + (kind || "");
    body.dataset.connection = kind || "";
  }

  // --- rendering -------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function dueOf(item) {
    return item.next_due_at ? Date.parse(item.next_due_at) : Number.POSITIVE_INFINITY;
  }

  function render() {
    if (!board) return;
    for (const level of LEVELS) {
      const items = (board.items[level] || [])
        .filter((item) => !filter || item.subject_type === filter)
        // The longest overdue (earliest deadline) first; then the oldest.
        .sort((a, b) => dueOf(a) - dueOf(b) || Date.parse(a.since) - Date.parse(b.since));
      const count = filter ? ((board.by_subject[filter] || {})[level] || 0) : board.counts[level];
      document.querySelector(`[data-count="${level}"]`).textContent = String(count);
      const parts = Object.keys(board.by_subject)
        .filter((kind) => !filter || kind === filter)
        .map((kind) => [kind, board.by_subject[kind][level] || 0])
        .filter(([, n]) => n > 0)
        .map(([kind, n]) => `${n} ${n === 1 ? KIND_LABEL[kind] || kind : KIND_PLURAL[kind] || kind}`);
      document.querySelector(`[data-breakdown="${level}"]`).textContent = parts.join(" · ");
      const list = document.querySelector(`[data-items="${level}"]`);
      const rows = items.map((item) => {
        const li = el("li", "item");
        li.dataset.id = item.id;
        li.dataset.number = item.number || "";
        li.dataset.subjectType = item.subject_type;
        const head = el("div", "head");
        head.append(el("span", "number", item.number || "—"));
        head.append(el("span", "kind", KIND_LABEL[item.subject_type] || item.subject_type));
        li.append(head);
        li.append(el("div", "title", item.title || ""));
        const who = item.assignee ? item.assignee.name || "(staff record gone)" : "unassigned";
        li.append(el("div", "assignee", who));
        const remaining = el("div", "remaining");
        if (item.next_due_at) remaining.dataset.due = item.next_due_at;
        li.append(remaining);
        return li;
      });
      list.replaceChildren(...rows);
      const more = document.querySelector(`[data-more="${level}"]`);
      const hiddenCount = count - items.length;
      more.hidden = hiddenCount <= 0;
      more.textContent = hiddenCount > 0 ? `and ${hiddenCount} more` : "";
    }
    tick();
  }

  function duration(ms) {
    const total = Math.floor(ms / 1000);
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (d > 0) return `${d}d ${two(h)}h`;
    if (h > 0) return `${h}h ${two(m)}m`;
    return `${m}:${two(s)}`;
  }

  // The server's clock minus this browser's, learnt from each board's generated_at: a
  // wall screen's clock can be minutes off, and a countdown from it would be too. A sample
  // is (the server's time when it computed the board) - (our time when it arrived): the
  // true offset less the delay on the way, so the largest recent sample is the best one.
  // Recent ones only, so that a correction of this machine's own clock is followed.
  const offsets = [];
  let clockOffset = 0;

  function learnOffset(generatedAt) {
    const at = Date.parse(generatedAt || "");
    if (Number.isNaN(at)) return;
    offsets.push(at - Date.now());
    if (offsets.length > 20) offsets.shift();
    clockOffset = Math.max(...offsets);
  }

  // Time remaining or overdue, counted down every second from each item's deadline, on
  // the server's clock.
  function tick() {
    const now = Date.now() + clockOffset;
    for (const node of document.querySelectorAll(".item .remaining")) {
      const due = node.dataset.due;
      if (!due) {
        node.textContent = "paused";
        node.classList.remove("overdue");
        continue;
      }
      const left = Date.parse(due) - now;
      node.textContent = left >= 0 ? `${duration(left)} left` : `${duration(-left)} overdue`;
      node.classList.toggle("overdue", left < 0);
    }
  }

  function show(data) {
    learnOffset(data.generated_at);
    board = data;
    $("key-section").hidden = true;
    $("board").hidden = false;
    const controls = $("controls");
    if (controls) controls.hidden = false;
    render();
  }

  async function loadChart(gen) {
    try {
      const response = await fetch("/v1/board/attainment.svg", { headers: headers(), cache: "no-store" });
      if (gen !== generation || !response.ok) return;
      const url = URL.createObjectURL(await response.blob());
      const img = $("chart");
      img.src = url;
      img.hidden = false;
      if (chartUrl) URL.revokeObjectURL(chartUrl);
      chartUrl = url;
    } catch (error) {
      // The chart is optional; the board goes on without it.
    }
  }

  // --- key -------------------------------------------------------------------------------

  function askForKey(message) {
    generation += 1;
    if (controller) controller.abort();
    key = null;
    board = null;
    lastEventId = "";
    streamLive = false;
    $("board").hidden = true;
    const controls = $("controls");
    if (controls) controls.hidden = true;
    $("key-section").hidden = false;
    const error = $("key-error");
    error.hidden = !message;
    error.textContent = message || "";
    setStatus("no key", "offline");
    $("key-input").focus();
  }

  function refused() {
    localStorage.removeItem(STORAGE_KEY);
    askForKey("The server refused this key (unknown or revoked). Please enter a valid key.");
  }

  async function start(candidate) {
    generation += 1;
    const gen = generation;
    key = candidate;
    setStatus("connecting", "");
    let data;
    try {
      data = await getJson("/v1/board?limit=100");
    } catch (error) {
      if (gen !== generation) return;
      if (error instanceof KeyRefused) {
        refused();
      } else {
        askForKey("The server could not be reached: " + error.message);
      }
      return;
    }
    if (gen !== generation) return;
    localStorage.setItem(STORAGE_KEY, candidate);
    show(data);
    setStatus("polling", "polling");
    loadChart(gen);
    stream(gen);
    poll(gen);
    chartLoop(gen);
  }

  // --- updates ---------------------------------------------------------------------------

  function handleFrame(frame) {
    let id = null;
    let event = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (!line || line.startsWith(":")) continue; // a comment: the heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (event !== "board" || !data.length) return;
    if (id !== null) lastEventId = id;
    show(JSON.parse(data.join("\n")));
    streamLive = true;
    setStatus("live", "live");
  }

  async function stream(gen) {
    let failures = 0;
    while (gen === generation) {
      controller = new AbortController();
      const mine = controller;
      let watchdog = null;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => mine.abort(), WATCHDOG_MS);
      };
      try {
        const h = headers();
        if (lastEventId) h["Last-Event-ID"] = lastEventId;
        const response = await fetch("/v1/board/stream", { headers: h, signal: mine.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          if (gen === generation) refused();
          return;
        }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        arm();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          buffer = (buffer + value).replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (gen === generation) handleFrame(frame);
          }
        }
        failures = 0; // it ended on purpose (its time was up, or a restart): reconnect
      } catch (error) {
        failures += 1;
      } finally {
        clearTimeout(watchdog);
        if (gen === generation) {
          streamLive = false;
          setStatus("polling", "polling");
        }
      }
      await sleep(Math.min(1000 * 2 ** failures, 15000));
    }
  }

  // The fallback: poll while the stream is not delivering.
  async function poll(gen) {
    while (gen === generation) {
      await sleep(POLL_MS);
      if (gen !== generation || streamLive) continue;
      try {
        const data = await getJson("/v1/board?limit=100");
        if (gen !== generation || streamLive) continue;
        show(data);
        setStatus("polling", "polling");
      } catch (error) {
        if (gen !== generation) return;
        if (error instanceof KeyRefused) {
          refused();
          return;
        }
        setStatus("offline: retrying", "offline");
      }
    }
  }

  async function chartLoop(gen) {
    while (gen === generation) {
      await sleep(60000);
      if (gen === generation) await loadChart(gen);
    }
  }

  // --- start -----------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("key-input").value.trim();
      if (value) start(value);
    });
    const forget = $("forget-key");
    if (forget) {
      forget.addEventListener("click", () => {
        localStorage.removeItem(STORAGE_KEY);
        askForKey("");
      });
    }
    const select = $("subject-filter");
    if (select) {
      select.addEventListener("change", () => {
        filter = select.value;
        render();
      });
    }
    setInterval(tick, 1000);
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored) start(stored);
    else askForKey("");
  });
})();
