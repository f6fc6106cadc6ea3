// Keeps the containers table current from the /ws/containers/ socket.
(function () {
  const table = document.querySelector("#containers tbody");
  const live = document.getElementById("live");
  const stateFilter = JSON.parse(document.getElementById("filter-state").textContent || '""');
  const query = (JSON.parse(document.getElementById("filter-q").textContent || '""') || "").toLowerCase();

  function human(bytes) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return bytes.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function render(row) {
    const tr = document.createElement("tr");
    tr.dataset.id = row.id;
    const check = document.createElement("td");
    check.innerHTML = '<input type="checkbox" name="id">';
    check.firstChild.value = row.id;
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/ui/containers/" + row.id + "/";
    link.textContent = row.name;
    name.append(link, " ", Object.assign(document.createElement("span"), { className: "muted mono", textContent: row.short_id }));
    const state = document.createElement("td");
    state.append(Object.assign(document.createElement("span"), { className: "state " + row.state, textContent: row.state }));
    if (row.health) state.append(" ", Object.assign(document.createElement("span"), { className: "health " + row.health, textContent: row.health }));
    const image = cell(row.image, "mono");
    if (row.stale) image.append(Object.assign(document.createElement("span"), { className: "stale", textContent: "newer image available" }));
    tr.append(check, name, state, image, cell(row.ports, "mono"), cell(row.status), cell("–", "cpu"), cell("–", "mem"), cell(row.node), cell(row.owner));
    return tr;
  }

  function wanted(row) {
    if (stateFilter && row.state !== stateFilter) return false;
    return !query || row.name.toLowerCase().includes(query) || row.image.toLowerCase().includes(query);
  }

  function upsert(row) {
    const old = table.querySelector(`tr[data-id="${row.id}"]`);
    if (!wanted(row)) { if (old) old.remove(); return; }
    const fresh = render(row);
    if (old) {
      fresh.querySelector("input").checked = old.querySelector("input").checked;
      if (row.running) {
        fresh.querySelector(".cpu").textContent = old.querySelector(".cpu").textContent;
        fresh.querySelector(".mem").textContent = old.querySelector(".mem").textContent;
      }
      old.replaceWith(fresh);
    } else {
      const empty = table.querySelector("tr.empty");
      if (empty) empty.remove();
      table.prepend(fresh);
    }
  }

  function connect() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/containers/`);
    ws.onopen = () => { live.textContent = "live"; };
    ws.onclose = (e) => {
      live.textContent = e.code === 4401 ? "signed out: reload the page" : "reconnecting…";
      if (e.code !== 4401 && e.code !== 4403) setTimeout(connect, 2000);
    };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.kind === "row") upsert(m.row);
      else if (m.kind === "gone") { const tr = table.querySelector(`tr[data-id="${m.id}"]`); if (tr) tr.remove(); }
      else if (m.kind === "stats") {
        const tr = table.querySelector(`tr[data-id="${m.id}"]`);
        if (!tr) return;
        tr.querySelector(".cpu").textContent = m.cpu.toFixed(1) + " %";
        tr.querySelector(".mem").textContent = human(m.mem);
      }
    };
  }
  connect();
})();
