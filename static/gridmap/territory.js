/* gridmap territory view: a grid worker's grids, due lists, cases, and field reports.
 * Needs wall.js (GM helpers and tile styles). Small payloads: the lists come with the
 * page, the map data as vector tiles of the worker's grids only.
 */
(function () {
  "use strict";
  var GM = (window.GM = window.GM || {});
  var t = (GM.territory = {});

  function tabs() {
    var buttons = document.querySelectorAll(".gm-t-tabs button");
    buttons.forEach(function (btn) {
      btn.addEventListener("click", function () {
        buttons.forEach(function (b) { b.classList.toggle("active", b === btn); });
        document.querySelectorAll("[data-panel]").forEach(function (panel) {
          panel.hidden = panel.getAttribute("data-panel") !== btn.getAttribute("data-tab");
        });
      });
    });
  }

  function refresh() {
    return GM.getJSON(t.config.urls.live + "?since=" + 2147483647).then(function (data) {
      Object.keys(t.layers).forEach(function (key) {
        if (data.versions[key]) GM.setVersion(t.layers[key], data.versions[key]);
      });
    }).catch(function () {});
  }

  // DRF answers {"field": ["message"]} or {"detail": "message"}: show every message.
  function errorText(body) {
    if (!body || typeof body !== "object") return "提交失败 / failed";
    return Object.keys(body).map(function (k) {
      var v = body[k];
      return Array.isArray(v) ? v.join("；") : typeof v === "object" ? errorText(v) : String(v);
    }).join("；");
  }

  function report() {
    var form = document.getElementById("gm-report");
    if (!form) return;
    var msg = document.getElementById("gm-report-msg");
    var key = function () { return "t-" + Date.now() + "-" + Math.random().toString(36).slice(2, 10); };
    form.elements.idempotency_key.value = key();
    document.getElementById("gm-locate").addEventListener("click", function () {
      if (!navigator.geolocation) { msg.textContent = "此设备无法定位，请手动输入 / no geolocation"; return; }
      msg.textContent = "定位中… locating";
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.elements.lon.value = pos.coords.longitude.toFixed(6);
        form.elements.lat.value = pos.coords.latitude.toFixed(6);
        form.elements.crs.value = "wgs84"; // the browser gives WGS84
        msg.textContent = "已定位（±" + Math.round(pos.coords.accuracy) + " 米）";
        t.map.setView([pos.coords.latitude, pos.coords.longitude], 17);
      }, function (err) {
        msg.textContent = "定位失败：" + err.message + " / locating failed";
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = form.elements;
      var lon = parseFloat(f.lon.value), lat = parseFloat(f.lat.value);
      var data = { source: "patrol", category: f.category.value, title: f.title.value,
        description: f.description.value, address: f.address.value, crs: f.crs.value };
      if (isFinite(lon) && isFinite(lat)) data.location = { type: "Point", coordinates: [lon, lat] };
      msg.className = "";
      msg.textContent = "提交中… sending";
      var submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      fetch(t.config.urls.report, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(data),
        headers: { "Content-Type": "application/json", "X-CSRFToken": GM.csrf(), Accept: "application/json",
          "Idempotency-Key": f.idempotency_key.value },
      }).then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
        .then(function (res) {
          submit.disabled = false;
          if (!res[0]) { msg.className = "error"; msg.textContent = errorText(res[1]); return; }
          msg.className = "ok";
          msg.textContent = "已上报 " + res[1].number + (res[1].grid_name ? "（" + res[1].grid_name + "）" : "");
          form.reset();
          form.elements.idempotency_key.value = key();
          refresh();
        })
        .catch(function () {
          submit.disabled = false; // the same idempotency key makes a retry safe
          msg.className = "error"; msg.textContent = "网络错误，请重试 / network error, retry";
        });
    });
  }

  t.init = function (map, layers, config) {
    t.map = map; t.layers = layers; t.config = config;
    layers.cases.on("click", function (e) {
      var p = e.layer && e.layer.properties;
      if (!p) return;
      if (p.n !== undefined) map.setView(e.latlng, config.pointZoom.cases);
      else GM.casePopup(map, e.latlng, GM.url(config.urls.case, p.id), null);
    });
    document.querySelectorAll("#gm-t-cases li[data-lat]").forEach(function (li) {
      li.addEventListener("click", function () {
        map.setView([parseFloat(li.getAttribute("data-lat")), parseFloat(li.getAttribute("data-lon"))], 17);
        window.scrollTo(0, 0);
      });
    });
    tabs();
    report();
    setInterval(refresh, config.poll || 15000);
    GM.ready = true;
  };
})();
