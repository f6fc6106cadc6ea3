// A container's log over /ws/containers/<id>/logs/: follow, timestamps, search.
(function () {
  const box = document.getElementById("log");
  const follow = document.getElementById("follow");
  const stamps = document.getElementById("timestamps");
  const search = document.getElementById("search");
  const matches = document.getElementById("matches");
  let lines = [];
  let partial = { fd: 1, text: "" };
  let ws = null;

  function show(line) {
    const div = document.createElement("div");
    if (line.fd === 2) div.className = "err";
    const term = search.value;
    if (term && line.text.includes(term)) {
      const parts = line.text.split(term);
      parts.forEach((p, i) => {
        div.append(p);
        if (i < parts.length - 1) div.append(Object.assign(document.createElement("mark"), { textContent: term }));
      });
    } else {
      div.textContent = line.text;
    }
    box.append(div);
  }

  function redraw() {
    box.replaceChildren();
    const term = search.value;
    const shown = term ? lines.filter((l) => l.text.includes(term)) : lines;
    shown.forEach(show);
    matches.textContent = term ? `${shown.length} matching lines` : "";
    if (follow.checked) box.scrollTop = box.scrollHeight;
  }

  function add(fd, data) {
    const pieces = (partial.text + data).split("\n");
    partial = { fd, text: pieces.pop() };
    const term = search.value;
    for (const text of pieces) {
      const line = { fd, text };
      lines.push(line);
      if (!term || text.includes(term)) show(line);
    }
    if (lines.length > 20000) { lines = lines.slice(-10000); redraw(); }
    if (follow.checked) box.scrollTop = box.scrollHeight;
  }

  function connect() {
    if (ws) { ws.onclose = null; ws.close(); }
    lines = []; partial = { fd: 1, text: "" }; box.replaceChildren();
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${box.dataset.socket}?timestamps=${stamps.checked ? 1 : 0}`;
    ws = new WebSocket(url);
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.kind === "log") add(m.fd, m.data);
      else if (m.kind === "error") add(2, `[${m.message}]\n`);
    };
    ws.onclose = (e) => { if (partial.text) add(partial.fd, "\n"); if (e.code === 4401) add(2, "[signed out]\n"); };
  }

  stamps.addEventListener("change", connect);
  search.addEventListener("input", redraw);
  follow.addEventListener("change", () => { if (follow.checked) box.scrollTop = box.scrollHeight; });
  connect();
})();
