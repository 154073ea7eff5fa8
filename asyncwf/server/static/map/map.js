// The map page of an XYZ layer: its tiles in a Leaflet map, and its session's tile errors, live.
(function () {
  "use strict";
  var page = new URL(window.location.href);
  var query = new URLSearchParams(page.search);
  var placed = query.has("lat") && query.has("lon");
  var lat = parseFloat(query.get("lat") || "0"), lon = parseFloat(query.get("lon") || "0");
  var zoom = parseInt(query.get("zoom") || "1", 10);
  // [west, south, east, north] of the images the layer reads (null when they are parameters).
  var bounds = JSON.parse(document.getElementById("map").dataset.bounds || "null");
  ["lat", "lon", "zoom"].forEach(function (name) { query.delete(name); });
  if (!query.get("session_id")) {
    query.set("session_id", Math.random().toString(16).slice(2));
  }
  var base = page.pathname.replace(/\/map$/, "");
  document.getElementById("session").textContent = "session " + query.get("session_id");
  var map = L.map("map", { fadeAnimation: false, zoomAnimation: false });
  if (!placed && bounds) {
    map.fitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]]);
  } else {
    map.setView([lat, lon], zoom);
  }
  L.tileLayer(base + "/{z}/{x}/{y}.png?" + query.toString(), { maxZoom: 22, tileSize: 256 }).addTo(map);

  // The legend of a one-band layer with a colormap: the colours, and the values at their ends when
  // the scales are given (otherwise each tile stretches its own range).
  if (query.get("colormap")) {
    var legend = document.getElementById("legend");
    legend.querySelector("img").src = "/v1/colormaps/" + encodeURIComponent(query.get("colormap")) + ".png";
    var ends = ["each tile's", "own range"];
    try {
      var scales = JSON.parse(query.get("scales") || "null");
      var pair = Array.isArray(scales) && Array.isArray(scales[0]) ? scales[0] : scales;
      if (Array.isArray(pair) && pair.length === 2) { ends = [String(pair[0]), String(pair[1])]; }
    } catch (e) { /* not JSON: the tiles say so */ }
    document.getElementById("low").textContent = ends[0];
    document.getElementById("high").textContent = ends[1];
    legend.style.display = "block";
  }

  var errors = document.getElementById("errors"), status = document.getElementById("status");
  var stream = new URLSearchParams({ session_id: query.get("session_id") });
  if (query.get("access_token")) { stream.set("access_token", query.get("access_token")); }
  var source = new EventSource(base + "/errors?" + stream.toString());
  source.onopen = function () { status.textContent = "listening"; };
  source.onerror = function () { status.textContent = "reconnecting..."; };
  // One line per distinct error, with how many tiles have had it and which (z/x/y, the first few).
  var seen = {};
  source.addEventListener("tile-error", function (event) {
    var error = JSON.parse(event.data);
    var text = error.code + ": " + error.message;
    var entry = seen[text];
    if (!entry) {
      var item = document.createElement("li");
      item.className = "error";
      var label = document.createElement("span");
      label.className = "message";
      label.textContent = text;
      var count = document.createElement("span");
      count.className = "count";
      var tiles = document.createElement("div");
      tiles.className = "tiles";
      item.appendChild(label);
      item.appendChild(count);
      item.appendChild(tiles);
      errors.appendChild(item);
      entry = seen[text] = { count: 0, badge: count, tiles: tiles, names: [] };
    }
    entry.count += 1;
    entry.badge.textContent = entry.count > 1 ? " \u00d7" + entry.count : "";
    if (error.tile && entry.names.length < 5) {
      entry.names.push(error.tile.join("/"));
      entry.tiles.textContent = "tiles " + entry.names.join(", ") + (entry.count > entry.names.length ? ", ..." : "");
    } else if (entry.count > entry.names.length) {
      entry.tiles.textContent = "tiles " + entry.names.join(", ") + ", ...";
    }
  });
  window.asyncwfMap = map;
})();
