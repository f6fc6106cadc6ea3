// Live charts of /ws/containers/<id>/stats/ samples.
(function () {
  const root = document.getElementById("charts");
  const note = document.getElementById("stats-note");
  const KEEP = 120;
  const MiB = 1024 * 1024;

  function chart(id, title, series, unit) {
    return new Chart(document.getElementById(id), {
      type: "line",
      data: { labels: [], datasets: series.map((label, i) => ({ label, data: [], borderWidth: 1.5, pointRadius: 0, tension: 0.2, borderColor: ["#2563a8", "#c2410c"][i], backgroundColor: "transparent" })) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { title: { display: true, text: title } },
        scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true, title: { display: true, text: unit } } },
      },
    });
  }

  const charts = {
    cpu: chart("chart-cpu", "CPU", ["CPU %"], "%"),
    mem: chart("chart-mem", "Memory", ["used", "limit"], "MiB"),
    net: chart("chart-net", "Network", ["received", "sent"], "KiB/s"),
    blk: chart("chart-blk", "Block I/O", ["read", "written"], "KiB/s"),
  };
  let previous = null;

  function push(c, label, values) {
    c.data.labels.push(label);
    values.forEach((v, i) => c.data.datasets[i].data.push(v));
    if (c.data.labels.length > KEEP) { c.data.labels.shift(); c.data.datasets.forEach((d) => d.data.shift()); }
    c.update("none");
  }

  function rate(now, key) {
    return previous ? Math.max(0, (now[key] - previous[key]) / 1024) : 0;
  }

  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.socket}`);
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.kind === "error") { note.textContent = m.message; return; }
    const label = new Date().toLocaleTimeString();
    // Without a limit of its own the container may use the whole host: not worth a line.
    const limit = root.dataset.limited && m.mem_limit ? m.mem_limit / MiB : null;
    push(charts.cpu, label, [m.cpu]);
    push(charts.mem, label, [m.mem / MiB, limit]);
    push(charts.net, label, [rate(m, "rx"), rate(m, "tx")]);
    push(charts.blk, label, [rate(m, "blk_read"), rate(m, "blk_write")]);
    previous = m;
    root.dataset.samples = String((+root.dataset.samples || 0) + 1);
  };
  ws.onclose = (e) => { if (e.code !== 1000) note.textContent = "Stats stopped (the container is not running?)."; };
})();
