/* gridmap map pages: shared styles and helpers (GM), and the command-centre wall map.
 * The map and its layers are composed in Python (gridmap/maps.py, folium); this script
 * styles the vector tiles, polls for new data and builds the popups. Every text from the
 * server goes into the page through textContent, never innerHTML.
 */
(function () {
  "use strict";
  var GM = (window.GM = window.GM || {});
  GM.stats = {};
  GM.mode = "open";
  GM.breaks = [1, 3, 6, 11];
  GM.k = Math.max(1, Math.min(2.5, (window.innerWidth || 1920) / 1920));

  // The page scripts below patch Leaflet and VectorGrid; a page without a map has neither.
  var L = window.L;
  var VG = L && L.VectorGrid;

  // Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid 1.3 still calls when a
  // feature is clicked: the click then dies in an exception. Since Leaflet 1.8 the map
  // ignores DOM events on a canvas renderer anyway (_leaflet_disable_events), so there is
  // nothing left to stop.
  if (L && L.DomEvent && !L.DomEvent.fakeStop) L.DomEvent.fakeStop = function () { return true; };

  // Each tile layer draws on canvases of its own, and the topmost canvas gets every click;
  // VectorGrid looks only at its own features. A click that hits nothing there is passed
  // on to whatever lies below (the grids under the case pins, and at last the map).
  var CanvasTile = L && L.Canvas && L.Canvas.Tile;
  if (CanvasTile && !CanvasTile.prototype._gmPassOn) {
    var tileClick = CanvasTile.prototype._onClick;
    CanvasTile.prototype._gmPassOn = true;
    CanvasTile.prototype._onClick = function (e) {
      var point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset());
      var layers = this._layers;
      var hit = Object.keys(layers).some(function (id) {
        return layers[id].options.interactive && layers[id]._containsPoint(point);
      });
      if (hit || e.type !== "click") return tileClick.call(this, e);
      var canvas = this._container;
      canvas.style.pointerEvents = "none";
      var below = document.elementFromPoint(e.clientX, e.clientY);
      canvas.style.pointerEvents = "";
      if (below && below !== canvas) {
        below.dispatchEvent(new MouseEvent("click", {
          bubbles: true, cancelable: true, view: window,
          clientX: e.clientX, clientY: e.clientY, screenX: e.screenX, screenY: e.screenY,
        }));
      }
    };
  }

  // A clicked point of a tile is a CircleMarker to Leaflet 1.9, which then asks it for its
  // latitude/longitude; VectorGrid's point symbolizers have none, and the click dies.
  // Without getLatLng the event carries the mouse position, which the handlers use.
  if (VG && !VG.prototype._gmPoints) {
    var createLayer = L.VectorGrid.prototype._createLayer;
    L.VectorGrid.prototype._gmPoints = true;
    L.VectorGrid.prototype._createLayer = function (feat, pxPerExtent, layerStyle) {
      var layer = createLayer.call(this, feat, pxPerExtent, layerStyle);
      if (layer && layer.getLatLng && !layer._latlng) layer.getLatLng = null;
      return layer;
    };
  }

  // PostGIS puts a row's id in the MVT feature id (ST_AsMVT's feature_id_name), not among
  // its properties, and VectorGrid hands styles, getFeatureId and click handlers only the
  // properties: copy the id over as each tile arrives.
  if (VG && VG.Protobuf && !VG.Protobuf.prototype._gmIds) {
    var fetchTile = L.VectorGrid.Protobuf.prototype._getVectorTilePromise;
    L.VectorGrid.Protobuf.prototype._gmIds = true;
    L.VectorGrid.Protobuf.prototype._getVectorTilePromise = function (coords) {
      return fetchTile.call(this, coords).then(function (tile) {
        Object.keys(tile.layers || {}).forEach(function (name) {
          (tile.layers[name].features || []).forEach(function (f) {
            if (f.id !== undefined && f.properties.id === undefined) f.properties.id = f.id;
          });
        });
        return tile;
      });
    };
  }

  var STATUS_COLOURS = {
    registered: "#74c0fc",
    accepted: "#4dabf7",
    dispatched: "#ffd43b",
    in_progress: "#fab005",
    resolved: "#8ce99a",
    verified: "#51cf66",
    called_back: "#40c057",
  };
  var STATUS_NAMES = {
    registered: "已登记",
    accepted: "已受理",
    dispatched: "已派遣",
    in_progress: "处置中",
    resolved: "已办结",
    verified: "已核查",
    called_back: "已回访",
  };
  var OPEN_COLOURS = ["#1864ab", "#f0b429", "#f08c00", "#e8590c", "#e03131"];
  var HOT_COLOURS = {
    3: "#d7191c", 2: "#f46d43", 1: "#fdae61", "-1": "#abd9e9", "-2": "#74add1", "-3": "#4575b4",
  };
  var HOT_NAMES = {
    3: "热点 99%", 2: "热点 95%", 1: "热点 90%", "-1": "冷点 90%", "-2": "冷点 95%", "-3": "冷点 99%",
  };
  GM.STATUS_COLOURS = STATUS_COLOURS;
  GM.STATUS_NAMES = STATUS_NAMES;

  // --- helpers ---------------------------------------------------------------------------
  GM.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };
  GM.url = function (template, id) {
    return template.replace("{id}", encodeURIComponent(id));
  };
  GM.csrf = function () {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  };
  GM.getJSON = function (url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.detail || r.statusText);
          return body;
        });
      });
  };
  GM.setVersion = function (layer, version) {
    if (!layer || layer.options.v === version) return false;
    layer.options.v = version;
    if (layer._map) layer.redraw();
    return true;
  };

  // Restyle the features of the tiles on screen in place (new counts or hot-spot classes),
  // instead of redraw(), which would fetch every tile again. Uses VectorGrid's own
  // per-tile feature index (kept because the layers set getFeatureId).
  GM.restyle = function (layer) {
    var styles = layer.options.vectorTileLayerStyles;
    Object.keys(layer._vectorTiles || {}).forEach(function (key) {
      var tile = layer._vectorTiles[key], features = tile._features || {};
      Object.keys(features).forEach(function (id) {
        var style = styles[features[id].layerName];
        if (style) layer._updateStyles(features[id].feature, tile, style);
      });
    });
  };

  // --- tile styles (VectorGrid: function (properties, zoom) -> path options) ----------------
  function openColour(n) {
    var colour = null;
    for (var i = 0; i < GM.breaks.length; i++) if (n >= GM.breaks[i]) colour = OPEN_COLOURS[i + 1];
    return colour;
  }
  GM.style = {
    grids: function (p, z) {
      if (p.cid !== undefined) {
        // Coarse zooms: a community, coloured by its mean open cases per grid.
        var mean = p.n / Math.max(1, p.g);
        return { weight: 1 * GM.k, color: p.od > 0 ? "#ff8fa3" : "#4a6b8a", opacity: 0.9, fill: true,
          fillColor: mean > 0 ? openColour(Math.max(1, Math.round(mean))) || OPEN_COLOURS[0] : "#0b1620",
          fillOpacity: mean > 0 ? 0.5 : 0.01 };
      }
      var s = GM.stats[p.id];
      var base = { weight: (z >= 14 ? 1.5 : 0.8) * GM.k, color: "#4a6b8a", opacity: 0.9, fill: true,
        fillColor: "#0b1620", fillOpacity: 0.01 };
      if (!s) return base;
      if (GM.mode === "hot") {
        if (s[2]) { base.fillColor = HOT_COLOURS[s[2]]; base.fillOpacity = 0.6; }
      } else if (s[0] > 0) {
        base.fillColor = openColour(s[0]) || OPEN_COLOURS[0];
        base.fillOpacity = 0.55;
      }
      if (s[1] > 0 && GM.mode !== "hot") { base.color = "#ff2d55"; base.weight = 2 * GM.k; }
      return base;
    },
    streets: { weight: 3, color: "#8fb3d9", opacity: 0.9, fill: false },
    communities: { weight: 1.5, color: "#5c85ad", opacity: 0.8, fill: false, dashArray: "6 4" },
    cases: function (p) {
      if (p.n !== undefined) {
        // Aggregated: one bubble per grid; overdue ones ringed in red.
        var r = Math.min(28, 4 + 2.2 * Math.sqrt(p.n)) * GM.k;
        return { radius: r, fill: true, fillColor: p.od > 0 ? "#ff2d55" : "#ff922b",
          fillOpacity: 0.75, color: p.od > 0 ? "#ffffff" : "#ffd8a8", weight: (p.od > 0 ? 3 : 1) * GM.k };
      }
      if (p.od) {
        return { radius: 10 * GM.k, fill: true, fillColor: "#ff2d55", fillOpacity: 1,
          color: "#ffffff", weight: 3 * GM.k };
      }
      return { radius: (p.u ? 7 : 5.5) * GM.k, fill: true, fillColor: STATUS_COLOURS[p.s] || "#adb5bd",
        fillOpacity: 0.95, color: p.u ? "#ffe066" : "#0b1620", weight: (p.u ? 2.5 : 1) * GM.k };
    },
    rentals: function (p) {
      if (p.n !== undefined) {
        return { radius: Math.min(20, 3 + 1.5 * Math.sqrt(p.n)) * GM.k, fill: true,
          fillColor: "#20c997", fillOpacity: 0.35 + 0.5 * Math.min(1, p.due / Math.max(1, p.n)),
          color: "#96f2d7", weight: 1 };
      }
      return { radius: 4 * GM.k, fill: true, fillColor: p.due ? "#f76707" : "#20c997",
        fillOpacity: 0.9, color: p.risk ? "#ff2d55" : "#0b1620", weight: p.risk ? 2 : 1 };
    },
    persons: function (p) {
      // Density only: one disc per grid, area proportional to its population.
      return { radius: Math.min(40, 2 + Math.sqrt(p.n) / 2.5) * GM.k, fill: true,
        fillColor: "#cc5de8", fillOpacity: 0.15 + 0.45 * (p.fl / Math.max(1, p.n)),
        color: "#e599f7", weight: 0.5, opacity: 0.6 };
    },
    workers: function (p) {
      return { radius: 6 * GM.k, fill: true, fillColor: p.live ? "#3bc9db" : "#868e96",
        fillOpacity: 0.95, color: "#ffffff", weight: 1.5 * GM.k };
    },
  };

  // --- popups ---------------------------------------------------------------------------
  function row(label, value, cls) {
    return GM.el("tr", {}, [GM.el("td", { text: label }),
      GM.el("td", { text: value === null || value === undefined ? "—" : String(value), className: cls || "" })]);
  }

  GM.casePopup = function (map, latlng, url, urls) {
    var popup = L.popup({ maxWidth: 560 }).setLatLng(latlng).setContent("…").openOn(map);
    GM.getJSON(url).then(function (c) {
      var box = GM.el("div", { className: "gm-popup gm-case-popup" }, [
        GM.el("h3", { text: c.number + " " + (c.title || "") }),
        GM.el("table", {}, [
          row("类别", c.category), row("状态", c.status_label), row("来源", c.source),
          row("网格", c.grid), row("地址", c.address), row("受理时间", c.reported_at),
          row("期限", c.deadline + (c.overdue ? "（已超期）" : ""), c.overdue ? "overdue" : ""),
        ]),
        GM.el("div", { className: "desc", text: c.description }),
      ]);
      if (c.can_dispatch && urls && urls.dispatch) {
        var msg = GM.el("span", { className: "gm-msg" });
        var btn = GM.el("button", { type: "button", className: "gm-btn gm-dispatch", text: "派遣 Dispatch" });
        btn.addEventListener("click", function () {
          btn.disabled = true;
          var body = new URLSearchParams();
          body.set("version", c.version);
          fetch(GM.url(urls.dispatch, c.id), { method: "POST", credentials: "same-origin", body: body,
            headers: { "X-CSRFToken": GM.csrf(), Accept: "application/json" } })
            .then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
            .then(function (res) {
              msg.textContent = res[0] ? " 已派遣 dispatched (" + res[1].status + ")" : " " + res[1].detail;
              if (!res[0]) btn.disabled = false;
              if (GM.wall && GM.wall.poll) GM.wall.poll();
            })
            .catch(function () { msg.textContent = " 网络错误 network error"; btn.disabled = false; });
        });
        box.appendChild(GM.el("div", {}, [btn, msg]));
      } else if (c.page) {
        box.appendChild(GM.el("a", { href: c.page, className: "gm-btn", text: "打开案件 Open case" }));
      }
      popup.setContent(box);
    }).catch(function (err) { popup.setContent(GM.el("div", { text: String(err.message || err) })); });
  };

  function gridPopup(map, latlng, url, urls) {
    var popup = L.popup({ maxWidth: 560 }).setLatLng(latlng).setContent("…").openOn(map);
    GM.getJSON(url).then(function (g) {
      var workers = g.workers.map(function (w) { return w.name + (w.phone ? " " + w.phone : ""); });
      var list = GM.el("ul", {}, g.open_cases.map(function (c) {
        var li = GM.el("li", { className: c.overdue ? "overdue" : "" }, [
          GM.el("a", { href: "#", text: c.number }), " " + (c.title || "") + " · " + c.status_label +
          (c.overdue ? " · 超期" : "")]);
        li.firstChild.addEventListener("click", function (ev) {
          ev.preventDefault();
          GM.casePopup(map, L.latLng(c.lat, c.lon), GM.url(urls.case, c.id), urls);
        });
        return li;
      }));
      popup.setContent(GM.el("div", { className: "gm-popup gm-grid-popup" }, [
        GM.el("h3", { text: g.name }),
        GM.el("table", {}, [
          row("社区/街道", g.community + " / " + g.street),
          row("网格员", workers.join("、") || "—"),
          row("在办 / 超期", g.counts.open + " / " + g.counts.overdue, g.counts.overdue ? "overdue" : ""),
          row("出租房（待巡查）", g.counts.rentals + "（" + g.counts.inspection_due + "）"),
          row("人口（流动）", g.counts.persons + "（" + g.counts.floating + "）"),
        ]),
        GM.el("div", { text: "在办案件 Open cases" }),
        list,
      ]));
    }).catch(function (err) { popup.setContent(GM.el("div", { text: String(err.message || err) })); });
  }
  GM.gridPopup = gridPopup;

  // --- the wall map -----------------------------------------------------------------------
  var wall = (GM.wall = {});

  function legend() {
    var box = document.getElementById("gm-legend");
    if (!box) return;
    box.textContent = "";
    if (GM.mode === "hot") {
      box.appendChild(GM.el("div", { text: "网格热点（Gi*，近 90 日）" }));
      [3, 2, 1, -1, -2, -3].forEach(function (b) {
        var i = GM.el("i"); i.style.background = HOT_COLOURS[b];
        box.appendChild(GM.el("div", {}, [i, HOT_NAMES[b]]));
      });
    } else {
      box.appendChild(GM.el("div", { text: "网格在办案件数" }));
      GM.breaks.forEach(function (b, idx) {
        var i = GM.el("i"); i.style.background = OPEN_COLOURS[idx + 1];
        var next = GM.breaks[idx + 1];
        var label = !next ? "≥ " + b : next - 1 > b ? b + "–" + (next - 1) : String(b);
        box.appendChild(GM.el("div", {}, [i, label]));
      });
    }
    var od = GM.el("i", { className: "dot overdue" });
    box.appendChild(GM.el("div", {}, [od, "超期案件 Overdue"]));
    Object.keys(STATUS_COLOURS).forEach(function (s) {
      var i = GM.el("i", { className: "dot" }); i.style.background = STATUS_COLOURS[s];
      box.appendChild(GM.el("div", {}, [i, STATUS_NAMES[s]]));
    });
  }

  function computeBreaks() {
    var values = Object.keys(GM.stats).map(function (k) { return GM.stats[k][0]; })
      .filter(function (n) { return n > 0; }).sort(function (a, b) { return a - b; });
    if (values.length < 8) { GM.breaks = [1, 3, 6, 11]; return; }
    var q = function (f) { return values[Math.min(values.length - 1, Math.floor(f * values.length))]; };
    var b = [1, q(0.5), q(0.75), q(0.9)];
    for (var i = 1; i < b.length; i++) if (b[i] <= b[i - 1]) b[i] = b[i - 1] + 1;
    GM.breaks = b;
  }

  wall.loadStats = function () {
    var url = wall.config.urls.stats + (GM.mode === "hot" ? "?hotspots=1" : "");
    return GM.getJSON(url).then(function (data) {
      GM.stats = data.grids;
      computeBreaks();
      legend();
      if (wall.layers.grids._map) GM.restyle(wall.layers.grids);
    });
  };

  function kpis(k) {
    var set = function (id, value, suffix) {
      document.getElementById(id).textContent =
        value === null || value === undefined ? "—" : String(value) + (suffix || "");
    };
    set("kpi-today", k.today); set("kpi-open", k.open); set("kpi-overdue", k.overdue);
    set("kpi-closure", k.closure_rate, "%"); set("kpi-satisfaction", k.satisfaction_rate, "%");
    if (!window.Chart) return;
    if (!wall.chart) {
      wall.chart = new Chart(document.getElementById("gm-trend"), {
        type: "bar",
        data: { labels: k.trend.labels, datasets: [{ data: k.trend.values, backgroundColor: "#1c7ed6" }] },
        options: { animation: false, maintainAspectRatio: false, responsive: true,
          plugins: { legend: { display: false } },
          scales: { x: { ticks: { color: "#8aa4bd", font: { size: 11 * GM.k } }, grid: { display: false } },
            y: { beginAtZero: true, ticks: { color: "#8aa4bd", precision: 0, font: { size: 11 * GM.k } },
              grid: { color: "#1f3a52" } } } },
      });
    } else {
      wall.chart.data.labels = k.trend.labels;
      wall.chart.data.datasets[0].data = k.trend.values;
      wall.chart.update();
    }
  }

  function feedItem(c, fresh) {
    var li = GM.el("li", { className: (fresh ? "new " : "") + (c.overdue ? "overdue" : ""),
      "data-case-id": c.id, "data-number": c.number }, [
      GM.el("span", { className: "no", text: c.number }), " ",
      GM.el("span", { className: "tt", text: c.title || "" }), GM.el("br"),
      GM.el("small", { text: c.reported_at + " · " + c.category + " · " + (c.grid || "未落格") + " · " }),
      GM.el("small", { className: "st", text: c.overdue ? "超期" : c.status_label }),
    ]);
    li.addEventListener("click", function () {
      var ll = L.latLng(c.lat, c.lon);
      wall.map.setView(ll, Math.max(wall.map.getZoom(), 16));
      GM.casePopup(wall.map, ll, GM.url(wall.config.urls.case, c.id), wall.config.urls);
    });
    return li;
  }

  function pulse(c) {
    var marker = L.marker([c.lat, c.lon], {
      icon: L.divIcon({ className: "", html: '<div class="gm-pulse"></div>', iconSize: null }),
      keyboard: false, title: c.number,
    }).addTo(wall.map);
    marker.on("click", function () {
      GM.casePopup(wall.map, marker.getLatLng(), GM.url(wall.config.urls.case, c.id), wall.config.urls);
    });
    setTimeout(function () { wall.map.removeLayer(marker); }, 120000);
  }

  wall.poll = function () {
    var url = wall.config.urls.live + (wall.maxId !== null ? "?since=" + wall.maxId : "");
    return GM.getJSON(url).then(function (data) {
      document.getElementById("gm-clock").textContent = data.now;
      document.getElementById("gm-live").classList.remove("stale");
      kpis(data.kpis);
      var feed = document.getElementById("gm-feed");
      var first = wall.maxId === null;
      data.feed.slice().reverse().forEach(function (c) {
        feed.insertBefore(feedItem(c, !first), feed.firstChild);
        if (!first) pulse(c);
        wall.maxId = Math.max(wall.maxId || 0, c.id);
      });
      if (first && wall.maxId === null) wall.maxId = 0;
      while (feed.children.length > 60) feed.removeChild(feed.lastChild);
      var changed = false;
      Object.keys(wall.layers).forEach(function (key) {
        if (data.versions[key] && GM.setVersion(wall.layers[key], data.versions[key]) && key === "cases") {
          changed = true;
        }
      });
      if (changed) wall.loadStats();
    }).catch(function () {
      document.getElementById("gm-live").classList.add("stale");
    });
  };

  // Called before the tile layers are added (gridmap/maps.py), so that they ask only for
  // the tiles of the fitted view, not first for those of folium's starting view.
  wall.fit = function (map, layers, config) {
    if (!config.bounds) return;
    // Keep the district clear of the header and of the KPI panel on the right.
    var top = document.querySelector(".gm-top"), panel = document.querySelector(".gm-panel");
    map.fitBounds(config.bounds, {
      paddingTopLeft: [20, (top ? top.offsetHeight : 0) + 20],
      paddingBottomRight: [(panel ? panel.offsetWidth : 0) + 20, 20],
      animate: false,
    });
    wall.fitted = true;
  };

  wall.init = function (map, layers, config) {
    wall.map = map;
    wall.layers = layers;
    wall.config = config;
    wall.maxId = null;
    if (!wall.fitted) wall.fit(map, layers, config);
    layers.grids.on("click", function (e) {
      var p = e.layer && e.layer.properties;
      if (p && p.cid !== undefined) { map.setView(e.latlng, map.getZoom() + 2); return; }
      if (e.layer && e.layer.properties) gridPopup(map, e.latlng, GM.url(config.urls.grid, e.layer.properties.id), config.urls);
    });
    layers.cases.on("click", function (e) {
      var p = e.layer && e.layer.properties;
      if (!p) return;
      if (p.n !== undefined) {
        map.setView(e.latlng, Math.max(map.getZoom() + 2, config.pointZoom.cases));
      } else {
        GM.casePopup(map, e.latlng, GM.url(config.urls.case, p.id), config.urls);
      }
    });
    ["rentals", "persons", "workers"].forEach(function (key) {
      layers[key].on("click", function (e) {
        var p = e.layer && e.layer.properties;
        if (p && p.cid !== undefined) map.setView(e.latlng, map.getZoom() + 2);
        else if (p && p.gid) gridPopup(map, e.latlng, GM.url(config.urls.grid, p.gid), config.urls);
        else if (p && p.n === undefined && key === "rentals") map.setView(e.latlng, map.getZoom() + 1);
      });
    });
    document.querySelectorAll(".gm-mode button").forEach(function (btn) {
      btn.addEventListener("click", function () {
        document.querySelectorAll(".gm-mode button").forEach(function (b) { b.classList.remove("active"); });
        btn.classList.add("active");
        GM.mode = btn.getAttribute("data-mode");
        wall.loadStats();
      });
    });
    var exp = document.getElementById("gm-export");
    if (exp) {
      exp.addEventListener("click", function () {
        exp.href = config.urls.export + "?bbox=" + map.getBounds().toBBoxString();
      });
    }
    legend();
    wall.loadStats();
    wall.poll();
    wall.timer = setInterval(wall.poll, config.poll || 4000);
    GM.ready = true;
  };
})();
