/* scintnet event display: PMT sphere (orthographic, drag to rotate), Mollweide projection, proper-time
   slices (KamNet paper eq. 1-2), vertices, truth deposits and a model's attention S(t).  Canvas 2D only:
   no WebGL, no network.  SNDisplay.mount(element, payload) draws one event; window.SN_DISPLAYS lists them. */
(function () {
  "use strict";
  // viridis, 9 stops (matplotlib), interpolated linearly
  var VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                 [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  function cmap(u) {
    u = Math.min(1, Math.max(0, u)) * (VIRIDIS.length - 1);
    var i = Math.min(VIRIDIS.length - 2, Math.floor(u)), f = u - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return "rgb(" + Math.round(a[0] + f * (b[0] - a[0])) + "," + Math.round(a[1] + f * (b[1] - a[1])) + "," +
      Math.round(a[2] + f * (b[2] - a[2])) + ")";
  }
  function el(tag, attrs, parent) {
    var e = document.createElement(tag);
    for (var k in attrs) { if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function mollweide(lon, lat) { // lon, lat in rad -> x in [-2, 2], y in [-1, 1]
    var t = lat;
    for (var k = 0; k < 12; k++) {
      var d = (2 * t + Math.sin(2 * t) - Math.PI * Math.sin(lat)) / (2 + 2 * Math.cos(2 * t));
      t -= d;
      if (Math.abs(d) < 1e-7) break;
    }
    return [2 * lon / Math.PI * Math.cos(t), Math.sin(t)];
  }
  function fmt(x, nd) { return (x === null || x === undefined) ? "–" : Number(x).toFixed(nd); }

  function Display(root, d) {
    this.d = d; this.root = root;
    var n = d.pmt_pos_mm.length / 3, R = d.pmt_radius_mm;
    this.n = n;
    this.lon = new Float64Array(n); this.lat = new Float64Array(n); this.u = new Float64Array(3 * n);
    for (var i = 0; i < n; i++) {
      var x = d.pmt_pos_mm[3 * i], y = d.pmt_pos_mm[3 * i + 1], z = d.pmt_pos_mm[3 * i + 2];
      var r = Math.sqrt(x * x + y * y + z * z) || 1;
      this.u[3 * i] = x / R; this.u[3 * i + 1] = y / R; this.u[3 * i + 2] = z / R;
      this.lon[i] = Math.atan2(y, x); this.lat[i] = Math.asin(Math.max(-1, Math.min(1, z / r)));
    }
    this.molw = new Float64Array(2 * n);
    for (i = 0; i < n; i++) { var m = mollweide(this.lon[i], this.lat[i]); this.molw[2 * i] = m[0]; this.molw[2 * i + 1] = m[1]; }
    this.yaw = 0.6; this.pitch = 0.35; this.slice = d.spec.n_t - 1; this.cumulative = true; this.colorBy = "tau";
    this.qmax = 1; for (i = 0; i < d.hits.q_pe.length; i++) this.qmax = Math.max(this.qmax, d.hits.q_pe[i]);
    this.build();
    this.draw();
  }

  Display.prototype.build = function () {
    var self = this, d = this.d, root = this.root;
    var head = el("div", {"class": "sn-controls"}, root);
    el("strong", {text: d.source + " — event " + d.event + " (" + d.detector + ")"}, head);
    var sel = el("select", {"class": "sn-color", "aria-label": "colour by"}, head);
    el("option", {value: "tau", text: "colour: proper time τ [ns]"}, sel);
    el("option", {value: "q", text: "colour: charge [p.e.]"}, sel);
    sel.onchange = function () { self.colorBy = sel.value; self.draw(); };
    var play = el("button", {"class": "sn-play", type: "button", text: "▶ play"}, head);
    var slider = el("input", {"class": "sn-slider", type: "range", min: 0, max: d.spec.n_t - 1, step: 1,
                              value: this.slice, "aria-label": "time slice"}, head);
    var lab = el("span", {"class": "sn-slice-label"}, head);
    var cum = el("label", {}, head); var cb = el("input", {type: "checkbox"}, cum); cb.checked = true;
    cum.appendChild(document.createTextNode(" cumulative"));
    cb.onchange = function () { self.cumulative = cb.checked; self.draw(); };
    slider.oninput = function () { self.setSlice(parseInt(slider.value, 10)); };
    play.onclick = function () {
      if (self.timer) { clearInterval(self.timer); self.timer = null; play.textContent = "▶ play"; return; }
      play.textContent = "❚❚ pause";
      self.timer = setInterval(function () { self.setSlice((self.slice + 1) % d.spec.n_t); }, 250);
    };
    this.sliderEl = slider; this.labelEl = lab;
    var row = el("div", {"class": "sn-row"}, root);
    this.sphere = el("canvas", {"class": "sn-sphere", width: 430, height: 430}, row);
    var col = el("div", {}, row);
    this.moll = el("canvas", {"class": "sn-mollweide", width: 600, height: 330}, col);
    if (d.attention && d.attention.values) this.att = el("canvas", {"class": "sn-attention", width: 600, height: 150}, col);
    this.info = el("div", {"class": "sn-info"}, row);
    // drag to rotate the sphere
    var drag = null;
    this.sphere.onmousedown = function (e) { drag = [e.clientX, e.clientY, self.yaw, self.pitch]; };
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      self.yaw = drag[2] + (e.clientX - drag[0]) * 0.01;
      self.pitch = Math.max(-1.5, Math.min(1.5, drag[3] + (e.clientY - drag[1]) * 0.01));
      self.draw();
    });
    this.writeInfo();
  };

  Display.prototype.setSlice = function (i) { this.slice = i; this.sliderEl.value = i; this.draw(); };

  Display.prototype.visible = function (k) { // hit k drawn at the current slice?
    var s = this.d.hits.slice[k];
    return this.cumulative ? s <= this.slice : s === this.slice;
  };

  Display.prototype.colour = function (k) {
    var h = this.d.hits, sp = this.d.spec;
    if (this.colorBy === "q") return cmap(Math.log(1 + h.q_pe[k]) / Math.log(1 + this.qmax));
    return cmap((h.tau_ns[k] - sp.t_min_ns) / (sp.t_max_ns - sp.t_min_ns));
  };

  Display.prototype.rot = function (x, y, z) { // yaw about z, then pitch about the screen x axis
    var cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    var X = cy * x - sy * y, Y = sy * x + cy * y;
    return [X, cp * z - sp * Y, sp * z + cp * Y]; // screen x, screen y (up), depth (towards viewer < 0)
  };

  Display.prototype.draw = function () {
    var t0 = performance.now();
    this.drawSphere(); this.drawMollweide(); if (this.att) this.drawAttention();
    var sp = this.d.spec, lo = sp.t_min_ns + this.slice * sp.dt_ns;
    this.labelEl.textContent = "slice " + (this.slice + 1) + "/" + sp.n_t + ": τ " + (this.cumulative ? "< " : "∈ [" +
      lo.toFixed(1) + ", ") + (lo + sp.dt_ns).toFixed(1) + (this.cumulative ? "" : ")") + " ns";
    this.lastDrawMs = performance.now() - t0;
  };

  Display.prototype.drawSphere = function () {
    var c = this.sphere, g = c.getContext("2d"), W = c.width, H = c.height, cx = W / 2, cy = H / 2 + 6;
    var S = Math.min(W, H) / 2 - 28, d = this.d, n = this.n, i, p;
    g.clearRect(0, 0, W, H);
    g.fillStyle = "#222"; g.font = "12px sans-serif";
    g.fillText("PMT sphere (R = " + (d.pmt_radius_mm / 1000).toFixed(2) + " m), drag to rotate", 8, 15);
    g.strokeStyle = "#bbb"; g.beginPath(); g.arc(cx, cy, S, 0, 2 * Math.PI); g.stroke();
    g.setLineDash([4, 4]); g.beginPath(); g.arc(cx, cy, S * d.balloon_radius_mm / d.pmt_radius_mm, 0, 2 * Math.PI);
    g.stroke(); g.setLineDash([]);
    // all PMTs, far side light
    for (i = 0; i < n; i++) {
      p = this.rot(this.u[3 * i], this.u[3 * i + 1], this.u[3 * i + 2]);
      g.fillStyle = p[2] < 0 ? "#c8c8c8" : "#ececec";
      g.fillRect(cx + S * p[0] - 1, cy - S * p[1] - 1, 2, 2);
    }
    // hits: the far side first, then the near side on top
    var h = d.hits, order = [], drawn = 0;
    for (var k = 0; k < h.pmt.length; k++) if (this.visible(k)) order.push(k);
    var self = this, depth = order.map(function (k) { var j = h.pmt[k]; return self.rot(self.u[3 * j], self.u[3 * j + 1], self.u[3 * j + 2]); });
    var idx = order.map(function (_, m) { return m; }).sort(function (a, b) { return depth[b][2] - depth[a][2]; });
    for (var m = 0; m < idx.length; m++) {
      k = order[idx[m]]; p = depth[idx[m]];
      var r = 1.6 + 1.4 * Math.sqrt(h.q_pe[k]);
      g.globalAlpha = p[2] < 0 ? 1.0 : 0.35;
      g.fillStyle = this.colour(k);
      g.beginPath(); g.arc(cx + S * p[0], cy - S * p[1], r, 0, 2 * Math.PI); g.fill();
      drawn++;
    }
    g.globalAlpha = 1;
    this.nDrawn = drawn;
    // truth deposits (sites)
    if (d.deposits) {
      var dp = d.deposits.pos_mm;
      g.fillStyle = "rgba(230,120,0,0.85)";
      for (i = 0; i < d.deposits.edep_MeV.length; i++) {
        p = this.rot(dp[3 * i] / d.pmt_radius_mm, dp[3 * i + 1] / d.pmt_radius_mm, dp[3 * i + 2] / d.pmt_radius_mm);
        g.beginPath(); g.arc(cx + S * p[0], cy - S * p[1], 1 + 6 * Math.sqrt(d.deposits.edep_MeV[i]), 0, 2 * Math.PI); g.fill();
      }
    }
    this.marker(g, d.vertex_true_mm, cx, cy, S, "#1a9850", "x");
    if (d.vertex_reco_mm) this.marker(g, d.vertex_reco_mm, cx, cy, S, "#d73027", "o");
    this.legend(g, 8, H - 30);
  };

  Display.prototype.marker = function (g, v, cx, cy, S, col, kind) {
    var R = this.d.pmt_radius_mm, p = this.rot(v[0] / R, v[1] / R, v[2] / R), x = cx + S * p[0], y = cy - S * p[1];
    g.strokeStyle = col; g.lineWidth = 2.5; g.beginPath();
    if (kind === "x") { g.moveTo(x - 7, y - 7); g.lineTo(x + 7, y + 7); g.moveTo(x + 7, y - 7); g.lineTo(x - 7, y + 7); }
    else g.arc(x, y, 8, 0, 2 * Math.PI);
    g.stroke(); g.lineWidth = 1;
  };

  Display.prototype.legend = function (g, x, y) { // colour bar with its axis label and units
    var sp = this.d.spec, w = 200;
    for (var i = 0; i < w; i++) { g.fillStyle = cmap(i / (w - 1)); g.fillRect(x + i, y, 1, 10); }
    g.fillStyle = "#222"; g.font = "11px sans-serif";
    if (this.colorBy === "q") {
      g.fillText("0", x, y + 22); g.fillText(this.qmax.toFixed(1), x + w - 18, y + 22);
      g.fillText("charge [p.e.] (log scale)", x + w + 8, y + 9);
    } else {
      g.fillText(sp.t_min_ns.toFixed(0), x, y + 22); g.fillText(sp.t_max_ns.toFixed(0), x + w - 14, y + 22);
      g.fillText("proper time τ [ns]", x + w + 8, y + 9);
    }
    g.fillStyle = "#1a9850"; g.fillText("× true vertex", x + w + 8, y + 22);
    if (this.d.vertex_reco_mm) { g.fillStyle = "#d73027"; g.fillText("○ reco", x + w + 95, y + 22); }
  };

  Display.prototype.drawMollweide = function () {
    var c = this.moll, g = c.getContext("2d"), W = c.width, H = c.height, d = this.d;
    var sx = (W - 20) / 4, sy = (H - 50) / 2, cx = W / 2, cy = (H - 20) / 2 + 12, i, j, p;
    g.clearRect(0, 0, W, H);
    g.fillStyle = "#222"; g.font = "12px sans-serif";
    g.fillText("Mollweide projection (equal area): azimuth φ, latitude 90° − θ", 8, 14);
    g.strokeStyle = "#bbb"; g.beginPath(); g.ellipse(cx, cy, 2 * sx, sy, 0, 0, 2 * Math.PI); g.stroke();
    g.strokeStyle = "#eee";
    for (var lat = -60; lat <= 60; lat += 30) { // parallels
      p = mollweide(0, lat * Math.PI / 180); g.beginPath();
      var q = mollweide(Math.PI, lat * Math.PI / 180);
      g.moveTo(cx - sx * q[0], cy - sy * p[1]); g.lineTo(cx + sx * q[0], cy - sy * p[1]); g.stroke();
      g.fillStyle = "#999"; g.fillText(lat + "°", cx - sx * q[0] - 30, cy - sy * p[1] + 4);
    }
    for (var lon = -120; lon <= 120; lon += 60) { // meridians
      g.beginPath();
      for (j = -90; j <= 90; j += 5) {
        p = mollweide(lon * Math.PI / 180, j * Math.PI / 180);
        if (j === -90) g.moveTo(cx + sx * p[0], cy - sy * p[1]); else g.lineTo(cx + sx * p[0], cy - sy * p[1]);
      }
      g.stroke();
    }
    g.fillStyle = "#d0d0d0";
    for (i = 0; i < this.n; i++) g.fillRect(cx + sx * this.molw[2 * i] - 1, cy - sy * this.molw[2 * i + 1] - 1, 2, 2);
    var h = d.hits;
    for (var k = 0; k < h.pmt.length; k++) {
      if (!this.visible(k)) continue;
      j = h.pmt[k];
      g.fillStyle = this.colour(k);
      g.beginPath(); g.arc(cx + sx * this.molw[2 * j], cy - sy * this.molw[2 * j + 1], 1.4 + 1.2 * Math.sqrt(h.q_pe[k]), 0, 2 * Math.PI);
      g.fill();
    }
    g.fillStyle = "#222"; g.font = "11px sans-serif";
    g.fillText("φ = −180°", cx - 2 * sx, H - 6); g.fillText("φ = 180°", cx + 2 * sx - 50, H - 6); g.fillText("0°", cx - 5, H - 6);
  };

  Display.prototype.drawAttention = function () {
    var c = this.att, g = c.getContext("2d"), W = c.width, H = c.height, a = this.d.attention;
    var v = a.values, e = a.t_edges_ns, x0 = 45, x1 = W - 10, y0 = H - 28, y1 = 20, vmax = 0, i;
    for (i = 0; i < v.length; i++) vmax = Math.max(vmax, v[i]);
    vmax = vmax || 1;
    g.clearRect(0, 0, W, H);
    g.fillStyle = "#222"; g.font = "12px sans-serif";
    g.fillText("attention S(t) of " + a.model + " (score " + a.score.toFixed(3) + ")", x0, 13);
    var sp = this.d.spec, tlo = sp.t_min_ns + this.slice * sp.dt_ns, thi = tlo + sp.dt_ns;
    var X = function (t) { return x0 + (x1 - x0) * (t - e[0]) / (e[e.length - 1] - e[0]); };
    for (i = 0; i < v.length; i++) {
      var cur = e[i] < thi && e[i + 1] > tlo && !this.cumulative || (this.cumulative && e[i] < thi);
      g.fillStyle = cur ? "#3b528b" : "#c6cbe0";
      var hgt = (y0 - y1) * v[i] / vmax;
      g.fillRect(X(e[i]) + 1, y0 - hgt, X(e[i + 1]) - X(e[i]) - 2, hgt);
    }
    g.strokeStyle = "#555"; g.beginPath(); g.moveTo(x0, y1); g.lineTo(x0, y0); g.lineTo(x1, y0); g.stroke();
    g.font = "11px sans-serif"; g.fillStyle = "#222";
    for (var t = Math.ceil(e[0] / 10) * 10; t <= e[e.length - 1]; t += 10) g.fillText(t.toFixed(0), X(t) - 6, y0 + 13);
    g.fillText("proper time τ [ns]", (x0 + x1) / 2 - 40, H - 2);
    g.save(); g.translate(12, (y0 + y1) / 2 + 20); g.rotate(-Math.PI / 2); g.fillText("S(t)", 0, 0); g.restore();
  };

  Display.prototype.writeInfo = function () {
    var d = this.d, vt = d.vertex_true_mm, vr = d.vertex_reco_mm;
    var r = function (v) { return v ? Math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) / 10 : null; };
    var rows = [["source", d.source + (d.vertex_spec ? " @ " + d.vertex_spec : "")], ["file", d.file.split("/").pop()],
                ["hits / p.e.", d.nhit + " / " + d.npe], ["E vis (true)", fmt(d.evis_true_MeV, 3) + " MeV"],
                ["E (reco)", d.energy_reco_MeV === null ? "–" : fmt(d.energy_reco_MeV, 3) + " MeV"],
                ["r true", fmt(r(vt), 1) + " cm"], ["r reco", vr ? fmt(r(vr), 1) + " cm" : "– (" + d.reco + ")"],
                ["|reco − true|", vr ? fmt(Math.hypot(vr[0] - vt[0], vr[1] - vt[1], vr[2] - vt[2]) / 10, 1) + " cm" : "–"],
                ["τ from", d.tau_vertex + " vertex"], ["slices", d.spec.n_t + " × " + d.spec.dt_ns.toFixed(2) + " ns"],
                ["deposits", d.deposits ? d.deposits.edep_MeV.length + " (orange, size ∝ √E)" : "not stored"]];
    if (d.attention) rows.push(["model score", fmt(d.attention.score, 4) + " (" + d.attention.model + ")"]);
    this.info.innerHTML = "";
    for (var i = 0; i < rows.length; i++) {
      var line = el("div", {}, this.info); el("b", {text: rows[i][0]}, line); line.appendChild(document.createTextNode(rows[i][1]));
    }
  };

  window.SN_DISPLAYS = window.SN_DISPLAYS || [];
  window.SNDisplay = {
    mount: function (root, data) { var v = new Display(root, data); root._sn = v; window.SN_DISPLAYS.push(v); return v; }
  };
})();
