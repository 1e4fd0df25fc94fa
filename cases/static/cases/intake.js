// The intake form's map: a click sets the WGS84 coordinates; a rental house search fills the
// house code and its position. Text from the server is only ever set as textContent/value.
(function () {
  "use strict";
  var el = document.getElementById("intake-map");
  if (!el || !window.L) { return; }
  var center = (el.dataset.center || "24.99,102.63").split(",").map(Number);
  var map = L.map(el).setView(center, 13);
  L.Icon.Default.imagePath = el.dataset.images || "/static/vendor/leaflet/images/";
  var lon = document.getElementById("id_lon");
  var lat = document.getElementById("id_lat");
  var crs = document.getElementById("id_crs");
  var house = document.getElementById("id_rental_house");
  var address = document.getElementById("id_address");
  var marker = null;

  function place(latlng) {
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
  }
  var grids = document.getElementById("grid-data");
  if (grids) {
    L.geoJSON(JSON.parse(grids.textContent), {
      style: {color: "#c55a11", weight: 1, fillOpacity: 0.05},
      interactive: false
    }).addTo(map);
  }
  if (lon.value && lat.value && crs.value === "wgs84") {
    place([Number(lat.value), Number(lon.value)]);
  }
  map.on("click", function (e) {
    lon.value = e.latlng.lng.toFixed(7);
    lat.value = e.latlng.lat.toFixed(7);
    crs.value = "wgs84";
    house.value = "";
    place(e.latlng);
  });

  var search = document.getElementById("place-search");
  var list = document.getElementById("place-list");
  var found = {};
  var timer = null;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    var q = search.value.trim();
    if (found[q]) { pick(found[q]); return; }
    if (q.length < 2) { return; }
    timer = setTimeout(function () {
      fetch("/cases/places/?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          list.textContent = "";
          found = {};
          data.results.forEach(function (h) {
            var label = h.code + " " + h.address;
            found[label] = h;
            var opt = document.createElement("option");
            opt.value = label;
            list.appendChild(opt);
          });
        }).catch(function () {});
    }, 250);
  });
  function pick(h) {
    house.value = h.code;
    if (!address.value) { address.value = h.address; }
    lon.value = ""; lat.value = "";
    place([h.lat, h.lon]);
    map.setView([h.lat, h.lon], 17);
  }
})();
