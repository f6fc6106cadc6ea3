// Pull and build through the Engine API on this same server, streaming its JSON progress lines.
(function () {
  async function* jsonLines(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const line of lines) if (line.trim()) yield JSON.parse(line);
    }
    if (buffer.trim()) yield JSON.parse(buffer);
  }

  async function failure(response, what) {
    if (response.status === 404) return `${what} is not available on this server yet`;
    try { return (await response.json()).message; } catch { return `${what} failed (${response.status})`; }
  }

  // The Engine API accepts the dashboard session only with Django's CSRF token.
  function csrfHeaders() {
    const token = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1];
    return token ? { "X-CSRFToken": decodeURIComponent(token) } : {};
  }

  const pull = document.getElementById("pull-form");
  pull.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = document.getElementById("pull-progress");
    out.replaceChildren();
    const ref = pull.querySelector("[name=reference]").value.trim();
    const at = ref.lastIndexOf(":");
    const [name, tag] = at > ref.lastIndexOf("/") ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, "latest"];
    const response = await fetch(`/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`, { method: "POST", headers: csrfHeaders() });
    if (!response.ok) { out.textContent = await failure(response, "Pull"); return; }
    const bars = {};
    let status = out.appendChild(document.createElement("p"));
    for await (const m of jsonLines(response)) {
      if (m.error) { status.textContent = m.error; return; }
      if (!m.id || !m.progressDetail) { status.textContent = m.status || ""; continue; }
      if (!bars[m.id]) {
        const row = out.appendChild(document.createElement("div"));
        row.innerHTML = '<span class="mono"></span> <span class="muted"></span><div class="progress"><div></div></div>';
        row.firstChild.textContent = m.id;
        bars[m.id] = row;
      }
      const row = bars[m.id];
      row.children[1].textContent = m.status;
      const { current, total } = m.progressDetail;
      const bar = row.querySelector(".progress > div");
      if (total) bar.style.width = `${Math.min(100, (100 * current) / total)}%`;
      if (/complete|exists/i.test(m.status)) bar.style.width = "100%";
    }
    status.textContent += " — done. Reload to see it in the list.";
  });

  // A one-file tar (ustar), enough to send a pasted Dockerfile as a build context.
  function tarOf(name, text) {
    const data = new TextEncoder().encode(text);
    const header = new Uint8Array(512);
    const put = (value, offset, length) => header.set(new TextEncoder().encode(value).slice(0, length), offset);
    put(name, 0, 100);
    put("0000644\0", 100, 8); put("0000000\0", 108, 8); put("0000000\0", 116, 8);
    put(data.length.toString(8).padStart(11, "0") + "\0", 124, 12);
    put(Math.floor(Date.now() / 1000).toString(8).padStart(11, "0") + "\0", 136, 12);
    put("        ", 148, 8); put("0", 156, 1); put("ustar\x0000", 257, 8);
    const sum = header.reduce((a, b) => a + b, 0);
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    return new Blob([header, padded, new Uint8Array(1024)], { type: "application/x-tar" });
  }

  const build = document.getElementById("build-form");
  build.addEventListener("submit", async (e) => {
    e.preventDefault();
    const log = document.getElementById("build-log");
    log.hidden = false;
    log.textContent = "";
    const file = build.querySelector("[name=context]").files[0];
    const dockerfile = build.querySelector("[name=dockerfile]").value;
    if (!file && !dockerfile.trim()) { log.textContent = "Paste a Dockerfile or choose a context."; return; }
    const body = file || tarOf("Dockerfile", dockerfile);
    const tag = build.querySelector("[name=tag]").value.trim();
    const response = await fetch(`/build?rm=1${tag ? "&t=" + encodeURIComponent(tag) : ""}`, {
      method: "POST", body, headers: { ...csrfHeaders(), "Content-Type": "application/x-tar" },
    });
    if (!response.ok) { log.textContent = await failure(response, "Build"); return; }
    for await (const m of jsonLines(response)) {
      log.textContent += m.stream || (m.error ? `ERROR: ${m.error}\n` : m.status ? m.status + "\n" : "");
      if (m.aux && m.aux.ID) log.textContent += `built ${m.aux.ID}\n`;
      log.scrollTop = log.scrollHeight;
    }
  });
})();
