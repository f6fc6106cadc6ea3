// A container's log over /ws/containers/<id>/logs/: follow, timestamps, search.
//
// A container printing flat out sends megabytes a second. The page keeps only the newest
// MAX_LINES lines (and at most MAX_CHARS of text), draws what arrived at most once a frame,
// and says so once older lines are let go: the download has the whole log.
(function () {
  const MAX_LINES = 5000;
  const MAX_CHARS = 1024 * 1024;
  // Longer lines, and output without any newline, are shown in pieces this long.
  const MAX_LINE = 16 * 1024;
  const box = document.getElementById("log");
  const note = document.getElementById("log-note");
  const droppedCount = document.getElementById("log-dropped");
  const follow = document.getElementById("follow");
  const stamps = document.getElementById("timestamps");
  const search = document.getElementById("search");
  const matches = document.getElementById("matches");
  let lines = []; // kept lines, oldest first: { n, fd, text }
  let chars = 0; // length of the text in `lines`
  let next = 0; // number of the next line
  let dropped = 0; // lines let go since the socket opened
  let fresh = []; // the newest kept lines, not drawn yet
  let partial = {}; // per fd, what came after its last newline
  let frame = 0;
  let ws = null;

  function row(line, term) {
    const div = document.createElement("div");
    div.n = line.n;
    if (line.fd === 2) div.className = "err";
    if (term && line.text.includes(term)) {
      const parts = line.text.split(term);
      parts.forEach((p, i) => {
        div.append(p);
        if (i < parts.length - 1) div.append(Object.assign(document.createElement("mark"), { textContent: term }));
      });
    } else {
      div.textContent = line.text;
    }
    return div;
  }

  function keep(fd, text) {
    for (let i = 0; i < text.length || i === 0; i += MAX_LINE) {
      const line = { n: next++, fd, text: text.slice(i, i + MAX_LINE) };
      lines.push(line);
      fresh.push(line);
      chars += line.text.length;
    }
  }

  function trim() {
    let cut = 0;
    while (lines.length - cut > MAX_LINES || (chars > MAX_CHARS && lines.length - cut > 1)) {
      chars -= lines[cut].text.length;
      cut++;
    }
    if (!cut) return;
    lines.splice(0, cut);
    dropped += cut;
    const stale = fresh.length ? lines[0].n - fresh[0].n : 0;
    if (stale > 0) fresh.splice(0, stale);
  }

  function add(fd, data) {
    const pieces = ((partial[fd] || "") + data).split("\n");
    let rest = pieces.pop();
    // Of a big batch only the newest MAX_LINES can stay: the others are counted, never kept.
    if (pieces.length > MAX_LINES) {
      const skipped = pieces.length - MAX_LINES;
      pieces.splice(0, skipped);
      dropped += skipped;
      next += skipped;
    }
    for (const text of pieces) keep(fd, text);
    if (rest.length > MAX_LINE) {
      const whole = rest.length - (rest.length % MAX_LINE);
      keep(fd, rest.slice(0, whole));
      rest = rest.slice(whole);
    }
    partial[fd] = rest;
    trim();
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function draw() {
    frame = 0;
    const term = search.value;
    const first = lines.length ? lines[0].n : next;
    if (fresh.length && fresh.length === lines.length) {
      box.replaceChildren();
    } else {
      while (box.firstChild && box.firstChild.n < first) box.firstChild.remove();
    }
    const rows = document.createDocumentFragment();
    for (const line of fresh) if (!term || line.text.includes(term)) rows.append(row(line, term));
    fresh = [];
    box.append(rows);
    note.hidden = dropped === 0;
    droppedCount.textContent = dropped.toLocaleString();
    matches.textContent = term ? `${box.childElementCount} matching lines` : "";
    if (follow.checked) box.scrollTop = box.scrollHeight;
  }

  function redraw() {
    box.replaceChildren();
    fresh = lines.slice();
    draw();
  }

  function flush() {
    for (const fd of Object.keys(partial)) {
      if (partial[fd]) keep(+fd, partial[fd]);
    }
    partial = {};
    trim();
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function connect() {
    if (ws) { ws.onclose = null; ws.close(); }
    if (frame) cancelAnimationFrame(frame);
    lines = []; chars = 0; next = 0; dropped = 0; fresh = []; partial = {}; frame = 0;
    box.replaceChildren();
    note.hidden = true;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${box.dataset.socket}?timestamps=${stamps.checked ? 1 : 0}`;
    ws = new WebSocket(url);
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.kind === "log") for (const [fd, text] of m.chunks) add(fd, text);
      else if (m.kind === "error") add(2, `[${m.message}]\n`);
    };
    ws.onclose = (e) => {
      flush();
      if (e.code === 4401) add(2, "[signed out]\n");
    };
  }

  stamps.addEventListener("change", connect);
  search.addEventListener("input", redraw);
  follow.addEventListener("change", () => { if (follow.checked) box.scrollTop = box.scrollHeight; });
  connect();
})();
