/* GeoJSON layers whose features come from a JSON data element of the page (a script
 * element of type application/json: gridmap/maps.py, DataLayer). Names, titles and
 * labels arrive as JSON data and reach the page through textContent only: "<b>",
 * "{{ 7*7 }}" or "${…}" in a grid name or a case title show as typed, and nothing of
 * them is ever markup or code. No other script is needed: the standalone map export
 * inlines this file.
 */
(function () {
  "use strict";
  var GM = (window.GM = window.GM || {});

  function text(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function hasText(value) {
    return value !== null && value !== undefined && value !== "";
  }

  // A tooltip's content: a table of the chosen properties (as folium's GeoJsonTooltip
  // drew it), or the feature's own text `t`, a string or a list of lines.
  GM.tooltipContent = function (props, tip) {
    var div = document.createElement("div");
    if (tip.fields) {
      var table = document.createElement("table");
      tip.fields.forEach(function (field, i) {
        var row = document.createElement("tr");
        if (tip.labels !== false) {
          var th = document.createElement("th");
          th.textContent = text(tip.aliases ? tip.aliases[i] : field);
          row.appendChild(th);
        }
        var td = document.createElement("td");
        td.textContent = text(props[field]);
        row.appendChild(td);
        table.appendChild(row);
      });
      div.appendChild(table);
      return div;
    }
    var lines = Array.isArray(props.t) ? props.t : [props.t];
    lines.forEach(function (line, i) {
      if (i) div.appendChild(document.createElement("br"));
      div.appendChild(document.createTextNode(text(line)));
    });
    return div;
  };

  GM.dataLayer = function (dataId, options) {
    var data = JSON.parse(document.getElementById(dataId).textContent);
    var base = options.style || {};
    var named = options.styles || {};
    var tip = options.tooltip;
    var tipOptions = null;
    if (tip) {
      tipOptions = { sticky: tip.sticky !== false };
      if (tip.className) tipOptions.className = tip.className;
    }
    function style(feature) {
      var props = feature.properties || {};
      return L.extend({}, base, named[props.s]);
    }
    return L.geoJson(data, {
      style: style,
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, style(feature));
      },
      onEachFeature: function (feature, layer) {
        var props = feature.properties || {};
        if (tip && (tip.fields || hasText(props.t))) {
          layer.bindTooltip(function () {
            return GM.tooltipContent(props, tip);
          }, tipOptions);
        }
        if (options.link && hasText(props.id)) {
          layer.on("click", function () {
            var params = new URLSearchParams(window.location.search);
            params.set(options.link, props.id);
            window.location.search = params.toString();
          });
        }
      },
    });
  };
})();
