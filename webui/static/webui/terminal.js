// xterm.js over /ws/containers/<id>/terminal/: bytes both ways, resize follows the window.
(function () {
  const box = document.getElementById("terminal");
  const form = document.getElementById("term-form");
  const status = document.getElementById("term-status");
  const term = new Terminal({ cursorBlink: true, fontSize: 14, convertEol: false, theme: { background: "#111820" } });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  const encoder = new TextEncoder();
  let ws = null;

  function sendSize() {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
  }

  function connect() {
    if (ws) { ws.onclose = null; ws.close(); }
    term.reset();
    const params = new URLSearchParams({
      mode: document.getElementById("term-mode").value,
      cmd: document.getElementById("term-cmd").value,
      idle: document.getElementById("term-idle").value,
    });
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${box.dataset.socket}?${params}`);
    ws.binaryType = "arraybuffer";
    status.textContent = "connecting…";
    ws.onopen = () => { status.textContent = "connected"; sendSize(); term.focus(); };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const m = JSON.parse(e.data);
        if (m.kind === "error") term.write(`\r\n[${m.message}]\r\n`);
        return;
      }
      term.write(new Uint8Array(e.data));
    };
    ws.onclose = (e) => {
      status.textContent = { 4401: "signed out", 4403: "not allowed", 4408: "closed: idle" }[e.code] || "disconnected";
    };
  }

  term.onData((data) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
  term.onResize(sendSize);
  window.addEventListener("resize", () => fit.fit());
  form.addEventListener("submit", (e) => { e.preventDefault(); connect(); });
  window.dockyardTerminal = term;
  connect();
})();
