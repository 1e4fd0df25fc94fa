#!/usr/bin/env bash
# Copy the front-end files the pages use from node_modules/ into static/vendor/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
V=static/vendor
NM=node_modules
rm -rf "$V"
mkdir -p "$V"
cp -r "$NM/leaflet/dist" "$V/leaflet"
mkdir -p "$V/jquery" && cp "$NM/jquery/dist/jquery.min.js" "$V/jquery/"
mkdir -p "$V/bootstrap" && cp "$NM/bootstrap/dist/js/bootstrap.bundle.min.js" "$NM/bootstrap/dist/css/bootstrap.min.css" "$V/bootstrap/"
cp -r "$NM/leaflet.awesome-markers/dist" "$V/awesome-markers"
mkdir -p "$V/fontawesome" && cp -r "$NM/@fortawesome/fontawesome-free/css" "$NM/@fortawesome/fontawesome-free/webfonts" "$V/fontawesome/"
mkdir -p "$V/markercluster" && cp "$NM/leaflet.markercluster/dist/"*.js "$NM/leaflet.markercluster/dist/"*.css "$V/markercluster/"
mkdir -p "$V/leaflet-heat" && cp "$NM/leaflet.heat/dist/leaflet-heat.js" "$V/leaflet-heat/"
mkdir -p "$V/fullscreen" && cp "$NM/leaflet.fullscreen/"Control.FullScreen.* "$V/fullscreen/" && cp "$NM/leaflet.fullscreen/"*.svg "$V/fullscreen/" 2>/dev/null || true
mkdir -p "$V/vectorgrid" && cp "$NM/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js" "$V/vectorgrid/"
mkdir -p "$V/chartjs" && cp "$NM/chart.js/dist/chart.umd.min.js" "$V/chartjs/" 2>/dev/null || cp "$NM/chart.js/dist/chart.umd.js" "$V/chartjs/chart.umd.min.js"
mkdir -p "$V/ol" && cp "$NM/ol/dist/ol.js" "$NM/ol/ol.css" "$V/ol/"
mkdir -p "$V/swagger-ui" && cp "$NM/swagger-ui-dist/"swagger-ui.css "$NM/swagger-ui-dist/"swagger-ui-bundle.js "$NM/swagger-ui-dist/"swagger-ui-standalone-preset.js "$NM/swagger-ui-dist/"favicon-32x32.png "$V/swagger-ui/"
