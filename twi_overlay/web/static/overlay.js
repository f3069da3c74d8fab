// The OBS overlay: renders the queue and counters from the overlay SSE stream.
// Viewer text is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  // The key is in the fragment (#key=…): browsers never send it to a server, so no log holds it.
  var key = new URLSearchParams(location.hash.slice(1)).get("key");
  var oldUrl = new URLSearchParams(location.search).get("update_url") === "1";
  var state = { queue: [], counters: {}, settings: null };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var DEFAULTS = { max_visible: 10, show_counters: true, theme: "dark", animations: true, position: "top-right",
    width: 560, font_scale: 100, accent: "", text: "", panel: "", hide_empty: false, sound: false,
    sound_volume: 50, sound_file: "builtin" };
  var preview = null;  // the admin page's unsaved form, while this page is its preview

  function overlaySettings() {
    var s = state.settings || {};
    var o = Object.assign({}, DEFAULTS, s.overlay || {}, preview || {});
    return { queue: s.queue || { open: true }, overlay: o };
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // Corner, width, text size and colours from the settings (CSS variables: Chromium 103 has them all).
  function layout(o) {
    var box = $("overlay").style;
    var bottom = o.position.indexOf("bottom") === 0;
    var left = o.position.indexOf("left") !== -1;
    box.top = bottom ? "auto" : "40px";
    box.bottom = bottom ? "40px" : "auto";
    box.left = left ? "40px" : "auto";
    box.right = left ? "auto" : "40px";
    box.width = o.width + "px";
    box.flexDirection = bottom ? "column-reverse" : "column";
    var root = document.body.style;
    root.setProperty("--scale", String(o.font_scale / 100));
    ["accent", "fg", "panel"].forEach(function (name) { root.removeProperty("--" + name); });
    if (o.accent) root.setProperty("--accent", o.accent);
    if (o.text) root.setProperty("--fg", o.text);
    if (o.panel) root.setProperty("--panel", rgba(o.panel, 0.8));
  }

  var sounds = [];
  function chime(o) {
    if (!o.sound) return;
    var url = o.sound_file === "builtin" ? "/static/chime.wav" : "/overlay/sounds/" + o.sound_file;
    var audio = new Audio(url);
    audio.volume = Math.max(0, Math.min(1, o.sound_volume / 100));
    sounds.push({ url: url, volume: audio.volume });
    audio.play().catch(function () {});  // OBS plays it; a browser tab may want a click first
  }

  function entryNode(entry, fresh) {
    var li = el("li", fresh ? "enter" : "");
    li.dataset.id = entry.id;
    li.appendChild(el("span", "pos", String(entry.position)));
    li.appendChild(el("span", "name", entry.user_name));
    if (entry.user_input) li.appendChild(el("span", "note", entry.user_input));
    return li;
  }

  var seen = new Set();
  function render() {
    var s = overlaySettings();
    document.body.className = "theme-" + (s.overlay.theme === "light" ? "light" : "dark");
    layout(s.overlay);
    $("overlay").classList.toggle("animate", !!s.overlay.animations);
    var pill = $("queue-state");
    pill.textContent = s.queue.open ? "open" : "queue closed";
    pill.classList.toggle("closed", !s.queue.open);
    var picked = state.queue.filter(function (e) { return e.status === "picked"; });
    var waiting = state.queue.filter(function (e) { return e.status === "waiting"; });
    var max = s.overlay.max_visible || 10;
    var shownPicked = picked.slice(0, max);
    var shownWaiting = waiting.slice(0, Math.max(0, max - shownPicked.length));
    var fill = function (list, entries) {
      list.replaceChildren.apply(list, entries.map(function (e) {
        var fresh = !seen.has(e.id);
        seen.add(e.id);
        return entryNode(e, fresh);
      }));
    };
    fill($("picked"), shownPicked);
    fill($("waiting"), shownWaiting);
    $("now-playing").hidden = shownPicked.length === 0;
    $("empty").hidden = state.queue.length !== 0;
    $("queue-panel").hidden = !!s.overlay.hide_empty && state.queue.length === 0;
    var hidden = waiting.length - shownWaiting.length;
    $("more").hidden = hidden <= 0;
    $("more").textContent = "+" + hidden + " more";
    var names = Object.keys(state.counters).sort();
    $("counters-panel").hidden = !s.overlay.show_counters || names.length === 0;
    $("counters").replaceChildren.apply($("counters"), names.map(function (n) {
      var li = el("li", "", n);
      li.appendChild(el("span", "value", String(state.counters[n])));
      return li;
    }));
  }

  function removeEntries(ids) { state.queue = QueueDelta.remove(state.queue, ids); }

  var handlers = {
    "state.replace": function (d) {
      state.queue = d.queue || [];
      state.counters = d.counters || {};
      state.settings = d.settings || null;
      state.queue.forEach(function (e) { seen.add(e.id); });
    },
    "queue.enqueued": function (d) {
      if (!seen.has(d.entry.id)) chime(overlaySettings().overlay);  // not again for a replayed one
      state.queue = QueueDelta.move(state.queue, d.entry);  // at its position: a priority join goes ahead
    },
    "queue.picked": function (d) {
      var byId = {};
      d.entries.forEach(function (e) { byId[e.id] = e; });
      state.queue = state.queue.map(function (e) { return byId[e.id] || e; });
    },
    "queue.completed": function (d) { removeEntries([d.entry.id]); },
    "queue.canceled": function (d) { removeEntries([d.entry.id]); },
    "queue.cleared": function (d) { removeEntries(d.entry_ids); },
    "queue.moved": function (d) { state.queue = QueueDelta.move(state.queue, d.entry); },
    "counter.updated": function (d) { state.counters[d.name] = d.value; },
    "settings.updated": function (d) { state.settings = d.settings; },
  };

  if (oldUrl && key) {
    $("update-url").hidden = false;
    setTimeout(function () { $("update-url").hidden = true; }, 30000);
  }

  if (!key) {
    $("setup").hidden = false;
    return;
  }

  async function getToken() {
    var r = await fetch("/api/sse-token", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key: key }),
      cache: "no-store",
    });
    if (!r.ok) {
      if (r.status === 401) {
        $("setup").textContent = "This overlay key is no longer valid. Copy the new overlay URL from the admin page.";
        $("setup").hidden = false;
      }
      throw new Error("token " + r.status);
    }
    $("setup").hidden = true;
    return (await r.json()).token;
  }

  var stream = new LiveStream({
    path: "/overlay/sse",
    types: SSE_EVENT_TYPES,
    getToken: getToken,
    onEvent: function (type, data) {
      var h = handlers[type];
      if (h && data) { h(data); render(); }
    },
    onStatus: function (up) { $("badge").hidden = up; },
  });
  window.addEventListener("message", function (ev) {
    if (ev.origin !== location.origin || !ev.data || ev.data.type !== "twi-preview") return;
    preview = ev.data.overlay;
    render();
  });
  window.twiOverlay = { state: state, stream: stream, sounds: sounds };
  render();
  stream.start();
})();
