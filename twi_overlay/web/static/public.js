// The public queue page (/q/<login>): one snapshot per change over SSE, a search box that finds a
// viewer's own name. Only JS that Chromium 103 runs (no toSorted, Object.groupBy or
// Promise.withResolvers; public.css has no :has() or nesting).
(function () {
  "use strict";
  var entries = [];
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function needle() { return $("find").value.trim().toLowerCase(); }

  function render() {
    var q = needle();
    var first = null;
    var list = $("entries");
    list.replaceChildren.apply(list, entries.map(function (e) {
      var li = el("li", e.playing ? "playing" : "");
      li.appendChild(el("span", "pos", String(e.position)));
      var who = el("span", "");
      who.appendChild(el("span", "name", e.name));
      if (e.note) who.appendChild(el("span", "note", e.note));
      li.appendChild(who);
      if (q && e.name.toLowerCase().indexOf(q) !== -1) {
        li.className += " hit";
        if (!first) first = { li: li, entry: e };
      }
      return li;
    }));
    $("empty").hidden = entries.length !== 0;
    if (!q) $("found").textContent = "";
    else if (!first) $("found").textContent = "Not in the queue.";
    else {
      var e = first.entry;
      $("found").textContent = e.playing ? e.name + " is up now!" :
        e.name + " is number " + e.position + " (" + (e.position - 1) + " ahead).";
      first.li.scrollIntoView({ block: "nearest" });
    }
  }

  function connect() {
    var source = new EventSource(location.pathname.replace(/\/+$/, "") + "/sse");
    source.addEventListener("public.queue", function (msg) {
      var snap = JSON.parse(msg.data);
      entries = snap.entries;
      $("channel").textContent = snap.channel;
      document.title = snap.channel + " queue";
      $("status").textContent = (snap.open ? "Open" : "Closed") + " · " + entries.length + " in the queue · live";
      render();
    });
    source.addEventListener("public.off", function () {
      source.close();
      entries = [];
      render();
      $("empty").hidden = true;
      $("off").hidden = false;
      $("status").textContent = "";
    });
    source.onerror = function () {
      if (!$("off").hidden) return;
      $("status").textContent = "Reconnecting…";
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    };
    source.onopen = function () { $("off").hidden = true; };
  }

  $("find").addEventListener("input", render);
  window.twiPublic = { entries: function () { return entries; } };
  connect();
})();
