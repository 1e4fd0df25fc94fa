// Poll the import job's status until it finishes, then reload to show the report.
(function () {
  var box = document.getElementById("job");
  if (!box) return;
  var url = box.dataset.statusUrl;
  function tick() {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        var bar = document.getElementById("job-bar");
        bar.style.width = s.percent + "%";
        bar.textContent = s.percent + "%";
        bar.setAttribute("aria-valuenow", s.percent);
        document.getElementById("job-status").textContent = s.status_label;
        document.getElementById("job-rows").textContent = s.processed + " / " + s.total;
        if (s.finished) { window.location.reload(); } else { setTimeout(tick, 1000); }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 500);
})();
