// The admin page: every write goes through the JSON API with the session's CSRF token.
// Viewer text is only ever set with textContent.
"use strict";

(function () {
  var $ = function (id) { return document.getElementById(id); };
  var csrf = null;
  var moderator = false;  // signed in as one of the channel's moderators: the queue and counters only
  var state = { queue: [], counters: {}, settings: null, broadcaster: null };
  var rewards = [];
  var settingsDirty = false;
  var formVersion = null;  // the settings version the form was filled from: saves are checked against it

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function button(label, cls, onclick, title) {
    var b = el("button", cls, label);
    b.type = "button";
    if (title) b.title = title;
    b.addEventListener("click", onclick);
    return b;
  }

  function notice(message, kind) {
    var n = $("notice");
    n.textContent = message;
    n.className = "notice" + (kind === "error" ? " error" : "");
    n.hidden = !message;
    clearTimeout(notice.timer);
    if (message) notice.timer = setTimeout(function () { n.hidden = true; }, 8000);
  }

  async function api(method, path, body, extraHeaders) {
    var headers = Object.assign({ "Accept": "application/json" }, extraHeaders || {});
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    var r = await fetch(path, { method: method, headers: headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
    var data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data: data };
  }

  function errorText(res) {
    if (res.data && res.data.error) return res.data.error.message;
    return "request failed (" + res.status + ")";
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  async function command(type, payload) {
    var res = await api("POST", "/api/commands", { type: type, payload: payload || {} }, { "Idempotency-Key": uuid() });
    if (!res.ok) {
      notice(errorText(res), "error");
    } else if (res.data.result === "rejected") {
      notice("Not done: " + res.data.reason.replace(/_/g, " "));
    }
    return res;
  }

  // -- queue ------------------------------------------------------------------------------------
  function helixTag(entry) {
    var s = entry.helix_status;
    if (!s) return null;
    var cls = s === "fulfilled" || s === "refunded" ? "tag ok" : s.indexOf("failed") === 0 ? "tag bad" : "tag warn";
    var t = el("span", cls, s === "pending" ? "Twitch: pending" : "Twitch: " + s);
    t.title = "Redemption status on Twitch";
    return t;
  }

  function renderQueue() {
    var list = $("queue");
    var n = state.queue.length;
    list.replaceChildren.apply(list, state.queue.map(function (e, i) {
      var li = el("li", e.status);
      li.dataset.id = e.id;
      li.appendChild(el("span", "pos", String(e.position)));
      var who = el("span", "who");
      who.appendChild(el("span", "name", e.user_name));
      if (e.user_input) who.appendChild(el("span", "note", e.user_input));
      li.appendChild(who);
      var actions = el("span", "actions");
      if (e.status === "picked") actions.appendChild(el("span", "tag ok", "playing"));
      var tag = helixTag(e);
      if (tag) actions.appendChild(tag);
      var up = button("↑", "small secondary", function () { command("queue.move", { entry_id: e.id, position: e.position - 1 }); }, "Move up");
      var down = button("↓", "small secondary", function () { command("queue.move", { entry_id: e.id, position: e.position + 1 }); }, "Move down");
      up.disabled = i === 0;
      down.disabled = i === n - 1;
      actions.appendChild(up);
      actions.appendChild(down);
      actions.appendChild(button("Done", "small", function () { command("queue.complete", { entry_id: e.id }); }, "Complete (fulfil on Twitch)"));
      actions.appendChild(button("Refund", "small danger", function () { command("queue.cancel", { entry_id: e.id }); }, "Cancel (refund on Twitch)"));
      li.appendChild(actions);
      return li;
    }));
    $("queue-empty").hidden = n !== 0;
    $("queue-count").textContent = n ? "(" + n + ")" : "";
    renderQueueOpen();
  }

  // Open or closed to new entries: the one setting a moderator may change.
  function renderQueueOpen() {
    var open = !state.settings || state.settings.queue.open;
    $("queue-state").hidden = open;
    $("queue-toggle").textContent = open ? "Close queue" : "Open queue";
  }

  function toggleQueue() {
    var open = state.settings.queue.open;
    command("settings.update", { version: state.settings.version, settings: { queue: { open: !open } } });
  }

  async function loadHistory() {
    var res = await api("GET", "/api/history");
    if (!res.ok) return;
    var list = $("history");
    list.replaceChildren.apply(list, res.data.data.map(function (e) {
      var li = el("li", "", e.user_name + " — " + e.status);
      var tag = helixTag(e);
      if (tag) { li.appendChild(document.createTextNode(" ")); li.appendChild(tag); }
      return li;
    }));
  }

  async function loadFailedUpdates() {
    var res = await api("GET", "/api/twitch-updates/failed");
    if (!res.ok) return;
    var list = $("failed-updates");
    list.replaceChildren.apply(list, res.data.data.map(function (f) {
      var what = f.action === "CANCELED" ? "refund" : "fulfil";
      var li = el("li", "", (f.user_name || "redemption " + f.redemption_id) + " — " + what + ": " + (f.result || ""));
      li.dataset.redemption = f.redemption_id;
      li.appendChild(document.createTextNode(" "));
      li.appendChild(button("Retry", "small", function () { command("redemption.retry", { redemption_id: f.redemption_id }); }, "Send this status update to Twitch again"));
      return li;
    }));
    $("failed-card").hidden = res.data.data.length === 0;
  }

  // -- counters ---------------------------------------------------------------------------------
  function renderCounters() {
    var names = Object.keys(state.counters).sort();
    var list = $("counters");
    list.replaceChildren.apply(list, names.map(function (name) {
      var li = el("li");
      li.dataset.name = name;
      li.appendChild(el("span", "cname", name));
      li.appendChild(el("span", "cvalue", String(state.counters[name])));
      li.appendChild(button("−", "small secondary", function () { command("counter.increment", { name: name, by: -1 }); }));
      li.appendChild(button("+", "small", function () { command("counter.increment", { name: name, by: 1 }); }));
      var input = el("input");
      input.type = "number";
      input.placeholder = "set";
      input.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && input.value !== "") { command("counter.set", { name: name, value: parseInt(input.value, 10) }); input.value = ""; }
      });
      li.appendChild(input);
      li.appendChild(button("Reset", "small secondary", function () { command("counter.reset", { name: name }); }));
      return li;
    }));
  }

  // -- settings and rewards -----------------------------------------------------------------------
  function fillSettings() {
    var s = state.settings;
    if (!s) return;
    $("settings-version").textContent = "v" + s.version;
    formVersion = s.version;
    $("s-open").checked = !!s.queue.open;
    $("s-max-length").value = s.queue.max_length;
    $("s-per-user").value = s.queue.per_user_limit;
    $("s-max-visible").value = s.overlay.max_visible;
    $("s-show-counters").checked = !!s.overlay.show_counters;
    $("s-animations").checked = !!s.overlay.animations;
    $("s-theme").value = s.overlay.theme;
    var o = s.overlay;
    $("s-position").value = o.position;
    $("s-width").value = o.width;
    $("s-font-scale").value = o.font_scale;
    colours = { accent: o.accent, text: o.text, panel: o.panel };
    showColours();
    $("s-hide-empty").checked = !!o.hide_empty;
    $("s-sound").checked = !!o.sound;
    $("s-sound-volume").value = o.sound_volume;
    soundChoice(o.sound_file);
    $("s-public").checked = !!(s.public_page && s.public_page.enabled);
    $("s-public-notes").checked = !!(s.public_page && s.public_page.show_notes);
    $("s-moderators").checked = !s.moderators || s.moderators.enabled !== false;
    $("s-eligibility").value = s.queue.eligibility || "everyone";
    $("s-priority-subs").checked = (s.queue.priority || []).indexOf("subscribers") >= 0;
    $("s-priority-vips").checked = (s.queue.priority || []).indexOf("vips") >= 0;
    fillChat(s.chat || {});
    preview();
    renderRewards();
    settingsDirty = false;
  }

  function managedTag(r) {
    if (r.managed === true) return el("span", "tag ok", "✓ refundable");
    if (r.managed === false) {
      var t = el("span", "tag bad", "✗ not this app's");
      t.title = "Created outside this app: Twitch will not let us fulfil or refund it. Create an app-owned copy below.";
      return t;
    }
    return el("span", "tag", "? unknown");
  }

  function renderRewards() {
    var bindings = (state.settings && state.settings.rewards) || {};
    var ids = {};
    rewards.forEach(function (r) { ids[r.id] = true; });
    var all = rewards.slice();
    Object.keys(bindings).forEach(function (id) { if (!ids[id]) all.push({ id: id, title: id, cost: null, managed: null }); });
    var body = $("rewards");
    body.replaceChildren.apply(body, all.map(function (r) {
      var tr = el("tr");
      tr.dataset.reward = r.id;
      tr.appendChild(el("td", "", r.title || r.id));
      tr.appendChild(el("td", "", r.cost === null ? "" : String(r.cost)));
      var td = el("td");
      td.appendChild(managedTag(r));
      tr.appendChild(td);
      var sel = el("select");
      [["", "nothing"], ["queue", "join the queue"], ["counter", "count in…"], ["ignore", "ignore"]].forEach(function (o) {
        var opt = el("option", "", o[1]);
        opt.value = o[0];
        sel.appendChild(opt);
      });
      var name = el("input");
      name.placeholder = "counter name";
      name.size = 10;
      var b = bindings[r.id] || "";
      if (b.indexOf("counter:") === 0) { sel.value = "counter"; name.value = b.slice(8); } else { sel.value = b; }
      name.hidden = sel.value !== "counter";
      sel.addEventListener("change", function () { name.hidden = sel.value !== "counter"; settingsDirty = true; });
      name.addEventListener("input", function () { settingsDirty = true; });
      var cell = el("td");
      cell.appendChild(sel);
      cell.appendChild(name);
      tr.appendChild(cell);
      return tr;
    }));
    $("rewards-empty").hidden = all.length !== 0;
  }

  function settingsPatch() {
    var rewardsPatch = {};
    document.querySelectorAll("#rewards tr").forEach(function (tr) {
      var sel = tr.querySelector("select");
      var name = tr.querySelector("input");
      var v = sel.value === "counter" ? "counter:" + name.value.trim() : sel.value;
      rewardsPatch[tr.dataset.reward] = v === "" ? null : v;
    });
    return {
      queue: { open: $("s-open").checked, max_length: parseInt($("s-max-length").value, 10),
        per_user_limit: parseInt($("s-per-user").value, 10), eligibility: $("s-eligibility").value,
        priority: [["s-priority-subs", "subscribers"], ["s-priority-vips", "vips"]]
          .filter(function (p) { return $(p[0]).checked; }).map(function (p) { return p[1]; }) },
      overlay: overlayForm(),
      public_page: { enabled: $("s-public").checked, show_notes: $("s-public-notes").checked },
      moderators: { enabled: $("s-moderators").checked },
      rewards: rewardsPatch,
      chat: chatForm(),
    };
  }

  // -- chat: switches, and a field for each command's name and each reply ---------------------------
  function pairs(id, values, kind) {
    var box = $(id);
    box.replaceChildren.apply(box, Object.keys(values).map(function (key) {
      var label = el("label", "", key + " ");
      var input = el("input");
      input.dataset[kind] = key;
      input.value = values[key];
      if (kind === "reply") input.size = 40;
      label.appendChild(input);
      return label;
    }));
  }

  function fillChat(c) {
    $("s-chat").checked = !!c.enabled;
    $("s-chat-join").checked = !!c.join;
    $("s-chat-announce").checked = c.announce_picked !== false;
    $("s-chat-prefix").value = c.prefix || "!";
    $("s-chat-cooldown").value = c.cooldown_secs;
    document.querySelectorAll(".prefix").forEach(function (n) { n.textContent = c.prefix || "!"; });
    pairs("chat-commands", c.commands || {}, "command");
    pairs("chat-replies", c.replies || {}, "reply");
  }

  function chatForm() {
    var commands = {}, replies = {};
    document.querySelectorAll("#chat-commands input").forEach(function (i) { commands[i.dataset.command] = i.value.trim().toLowerCase(); });
    document.querySelectorAll("#chat-replies input").forEach(function (i) { replies[i.dataset.reply] = i.value; });
    return { enabled: $("s-chat").checked, join: $("s-chat-join").checked, announce_picked: $("s-chat-announce").checked,
      prefix: $("s-chat-prefix").value, cooldown_secs: parseInt($("s-chat-cooldown").value, 10),
      commands: commands, replies: replies };
  }

  // -- the overlay's look: the form, a live preview of it, the sound ---------------------------------
  var colours = { accent: "", text: "", panel: "" };  // "" = the theme's own
  var THEME_COLOURS = { dark: { accent: "#9b6bff", text: "#f5f5f7", panel: "#12121c" },
    light: { accent: "#6b3fe0", text: "#17171f", panel: "#fafaff" } };

  function showColours() {
    var theme = THEME_COLOURS[$("s-theme").value] || THEME_COLOURS.dark;
    ["accent", "text", "panel"].forEach(function (k) { $("s-" + k).value = colours[k] || theme[k]; });
  }

  function overlayForm() {
    return {
      max_visible: parseInt($("s-max-visible").value, 10), show_counters: $("s-show-counters").checked,
      animations: $("s-animations").checked, theme: $("s-theme").value,
      position: $("s-position").value, width: parseInt($("s-width").value, 10),
      font_scale: parseInt($("s-font-scale").value, 10),
      accent: colours.accent, text: colours.text, panel: colours.panel,
      hide_empty: $("s-hide-empty").checked, sound: $("s-sound").checked,
      sound_volume: parseInt($("s-sound-volume").value, 10), sound_file: $("s-sound-file").value,
    };
  }

  function soundChoice(value) {
    var sel = $("s-sound-file");
    if (value !== "builtin" && !sel.querySelector("option[value='" + value + "']")) {
      var opt = el("option", "", "your file");
      opt.value = value;
      sel.appendChild(opt);
    }
    sel.value = value;
  }

  function soundUrl(file) { return file === "builtin" ? "/static/chime.wav" : "/overlay/sounds/" + file; }

  // The preview is the real overlay page in a frame; the form's values reach it by postMessage (same
  // origin only) and show at once, before they are saved.
  function preview() {
    var frame = $("preview");
    var url = $("overlay-url").value;
    $("preview-box").hidden = !url;
    $("preview-none").hidden = !!url;
    if (!url) return;
    var path = url.slice(url.indexOf("/overlay/"));
    if (frame.dataset.src !== path) { frame.dataset.src = path; frame.src = path; }
    frame.style.transform = "scale(" + ($("preview-box").clientWidth / 1920) + ")";
    if (frame.contentWindow) frame.contentWindow.postMessage({ type: "twi-preview", overlay: overlayForm() }, location.origin);
  }

  async function uploadSound() {
    var file = $("sound-upload").files[0];
    if (!file) return;
    var r = await fetch("/api/overlay-sound", { method: "POST", body: file, credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": csrf } });
    var body = await r.json().catch(function () { return {}; });
    if (!r.ok) { notice(body.error ? body.error.message : "upload failed (" + r.status + ")", "error"); return; }
    soundChoice(body.id);
    settingsDirty = true;
    notice("Sound uploaded: save settings to use it.");
    preview();
  }

  async function saveSettings(ev) {
    ev.preventDefault();
    $("settings-status").textContent = "saving…";
    var res = await api("POST", "/api/commands", { type: "settings.update",
      payload: { version: formVersion, settings: settingsPatch() } });
    if (res.ok) {
      $("settings-status").textContent = "saved (v" + res.data.data.settings.version + ")";
      state.settings = res.data.data.settings;
      fillSettings();
    } else if (res.status === 409) {
      $("settings-status").textContent = "";
      await loadState();
      fillSettings();  // first, so that the notice below is true when it shows
      notice("Settings were changed elsewhere in the meantime. The form now shows the current settings: " +
        "make your change again and save.", "error");
    } else {
      $("settings-status").textContent = "";
      notice(errorText(res), "error");
    }
  }

  async function loadRewards() {
    var res = await api("GET", "/api/rewards");
    if (res.ok) rewards = res.data.data;
    if (!settingsDirty) renderRewards();
  }

  async function createReward() {
    var title = $("new-reward-title").value.trim();
    if (!title) { notice("Give the new reward a title", "error"); return; }
    var res = await api("POST", "/api/rewards", { title: title, cost: parseInt($("new-reward-cost").value, 10) || 100, bind: "queue" });
    if (res.ok) { notice("Reward created on Twitch and bound to the queue"); $("new-reward-title").value = ""; loadRewards(); }
    else if (res.status === 404 || res.status === 405) notice("Creating rewards needs the Twitch integration, which this server does not offer yet.", "error");
    else notice(errorText(res), "error");
  }

  // -- status, log, overlay key -------------------------------------------------------------------
  async function loadStatus() {
    var o = await api("GET", "/api/oauth/status");
    var oauth = $("oauth-status");
    oauth.replaceChildren();
    if (o.ok) {
      var d = o.data;
      oauth.textContent = d.needs_reconsent ? "Twitch needs you to sign in again. " :
        !d.connected ? "not connected to Twitch (sign in with Twitch to connect)" :
        d.valid === false ? "token not valid" : "connected (" + d.scopes.join(", ") + ")";
      if (d.needs_reconsent && d.reconsent_url) {
        var a = el("a", "button", "Re-connect Twitch");
        a.href = d.reconsent_url;
        oauth.appendChild(a);
      }
      // Turned on a feature the grant has no scopes for (chat): the same link asks for them.
      $("chat-reconsent").hidden = !(d.connected && d.missing_scopes && d.missing_scopes.length);
      $("chat-reconsent-link").href = d.reconsent_url;
      var bot = d.chat_bot;
      $("chat-account").textContent = bot ? bot.user_name + (bot.usable ? " (bot)" : " (bot: must sign in again)") : "the channel's own";
      $("chat-bot-remove").hidden = !bot;
    } else {
      oauth.textContent = o.status === 404 ? "not available on this server yet" : errorText(o);
    }
    var s = await api("GET", "/api/subscriptions");
    $("subs-status").textContent = s.ok ? (s.data.summary || "ok") : (s.status === 404 ? "not available on this server yet" : errorText(s));
    $("transport-status").textContent = s.ok && s.data.transport ? transportText(s.data.transport) : "";
    loadModerators();
  }

  async function loadModerators() {
    var m = await api("GET", "/api/moderators");
    if (!m.ok) return;
    var names = m.data.data.map(function (x) { return x.user_name || x.user_login; });
    $("moderators").textContent = (names.length ? names.join(", ") : "none") +
      (m.data.complete ? "" : " (sign in with Twitch again to read the list)");
  }

  // How Twitch reaches this server: a webhook, or our WebSocket shards of a conduit and their state.
  function transportText(t) {
    if (t.transport !== "conduit") return "webhook (Twitch calls this server)";
    var shards = (t.shards || []).map(function (s) {
      var text = "shard " + s.id + ": " + s.status;
      if (s.connected_at && s.status === "connected") text += " since " + new Date(s.connected_at * 1000).toLocaleTimeString();
      if (s.status !== "connected" && s.last_end) text += " (" + s.last_end.replace(/_/g, " ") + ")";
      return text;
    });
    return "conduit, " + t.connected_shards + " of " + shards.length + " WebSocket shards connected — " + shards.join("; ");
  }

  function logLine(row) {
    var li = el("li", row.result);
    var when = new Date(row.ts * 1000).toLocaleTimeString();
    var who = row.actor ? row.source + ", " + row.actor : row.source;
    li.textContent = when + "  " + row.type + " (" + who + "): " + row.result + (row.reason ? " — " + row.reason : "");
    return li;
  }

  async function loadLog() {
    var res = await api("GET", "/api/commands?limit=50");
    if (!res.ok) return;
    var list = $("log");
    list.replaceChildren.apply(list, res.data.data.map(logLine));
  }

  // The current overlay URL is shown every time the page loads; rotating is a separate, confirmed choice.
  async function loadOverlayUrl() {
    var res = await api("GET", "/api/overlay-key");
    if (!res.ok) return;
    $("overlay-url").value = res.data.url || "";
    $("overlay-url").placeholder = res.data.url ? "" : res.data.message;
    preview();
  }

  async function rotateKey() {
    if ($("overlay-url").value && !confirm("Make a new overlay URL? The current one stops working at once, and every OBS source using it must get the new one.")) return;
    var res = await api("POST", "/api/overlay-key", {});
    if (res.ok) { $("overlay-url").value = res.data.url; notice("New overlay URL ready: paste it into OBS."); preview(); }
    else notice(errorText(res), "error");
  }

  // -- live stream -------------------------------------------------------------------------------
  function removeEntries(ids) { state.queue = QueueDelta.remove(state.queue, ids); }
  var handlers = {
    "state.replace": function (d) { state.queue = d.queue; state.counters = d.counters; state.broadcaster = d.broadcaster;
      if (!settingsDirty) { state.settings = d.settings; fillSettings(); } renderAll(); },
    "queue.enqueued": function (d) { state.queue = QueueDelta.move(state.queue, d.entry); renderQueue(); },
    "queue.picked": function (d) { var by = {}; d.entries.forEach(function (e) { by[e.id] = e; });
      state.queue = state.queue.map(function (e) { return by[e.id] || e; }); renderQueue(); },
    "queue.completed": function (d) { removeEntries([d.entry.id]); renderQueue(); loadHistory(); },
    "queue.canceled": function (d) { removeEntries([d.entry.id]); renderQueue(); loadHistory(); },
    "queue.cleared": function (d) { removeEntries(d.entry_ids); renderQueue(); loadHistory(); },
    "queue.moved": function (d) { state.queue = QueueDelta.move(state.queue, d.entry); renderQueue(); },
    "counter.updated": function (d) { state.counters[d.name] = d.value; renderCounters(); },
    "settings.updated": function (d) {
      state.settings = d.settings;
      renderQueueOpen();
      if (moderator) return;
      if (!settingsDirty) fillSettings();
      else if (d.settings.version !== formVersion) $("settings-version").textContent = "v" + formVersion + " (changed elsewhere: now v" + d.settings.version + ")";
    },
    "stream.status": function (d) { $("live").hidden = !d.live; },
    "reward.updated": function () { if (!moderator) loadRewards(); },
    "command.logged": function (d) { var list = $("log"); list.insertBefore(logLine(d), list.firstChild);
      while (list.children.length > 200) list.removeChild(list.lastChild); },
    "subscription.revoked": function () { if (!moderator) loadStatus(); },
    "moderators.changed": function () { if (!moderator) loadModerators(); },
    "chat.switched": function () { if (!moderator) loadStatus(); },
    "chat.bot_changed": function () { if (!moderator) { $("chat-bot-link-box").hidden = true; loadStatus(); } },
    "helix.result": function () { loadHistory(); if (!moderator) loadFailedUpdates(); },
  };

  function renderAll() {
    renderQueue();
    renderCounters();
    $("live").hidden = !(state.broadcaster && state.broadcaster.live);
  }

  async function loadState() {
    var res = await api("GET", "/api/state");
    if (!res.ok) return false;
    state.queue = res.data.queue; state.counters = res.data.counters; state.settings = res.data.settings;
    state.broadcaster = res.data.broadcaster;
    renderAll();
    return true;
  }

  async function start() {
    var session = await api("GET", "/api/session");
    if (!session.ok || !session.data.signed_in) {
      $("login").hidden = false;
      $("dev-login").hidden = !(session.ok && session.data.development);
      return;
    }
    csrf = session.data.csrf_token;
    var b = session.data.broadcaster || {};
    moderator = session.data.role === "moderator";
    $("who").textContent = moderator ?
      session.data.user_name + ", moderating " + (b.display_name || session.data.broadcaster_id) + " (queue and counters)" :
      "signed in as " + (b.display_name || session.data.broadcaster_id);
    // A moderator runs the queue and counters: keys, settings, rewards and Twitch are the broadcaster's.
    document.querySelectorAll(".broadcaster-only").forEach(function (node) { if (moderator) node.hidden = true; });
    if (b.login) { $("public-link").href = "/q/" + b.login; $("public-link").textContent = location.host + "/q/" + b.login; }
    $("app").hidden = false;
    $("mock").hidden = !session.data.development || moderator;
    $("maintenance").hidden = !session.data.operator;  // the TTL job is the whole server's: operators only
    await loadState();
    loadHistory(); loadLog();
    if (!moderator) { fillSettings(); loadRewards(); loadFailedUpdates(); loadStatus(); loadOverlayUrl(); }

    $("queue-toggle").addEventListener("click", toggleQueue);
    $("pick-next").addEventListener("click", function () { command("queue.pick", { count: 1 }); });
    $("pick-random").addEventListener("click", function () { command("queue.pick", { count: 1, random: true }); });
    $("clear-complete").addEventListener("click", function () { if (confirm("Complete everyone in the queue?")) command("queue.clear", { mode: "complete" }); });
    $("clear-cancel").addEventListener("click", function () { if (confirm("Remove everyone and refund their points?")) command("queue.clear", { mode: "cancel" }); });
    $("add-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      command("queue.enqueue", { user_name: $("add-name").value, note: $("add-note").value }).then(function (r) {
        if (r.ok && r.data.result === "ok") { $("add-name").value = ""; $("add-note").value = ""; }
      });
    });
    $("counter-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      command("counter.set", { name: $("counter-name").value.trim(), value: 0 }).then(function (r) { if (r.ok) $("counter-name").value = ""; });
    });
    $("settings-form").addEventListener("submit", saveSettings);
    $("settings-form").addEventListener("input", function (ev) {
      if (ev.target.id && ev.target.id.indexOf("new-reward") === 0) return;  // not a setting
      if (ev.target.id === "sound-upload") return;
      if (ev.target.type === "color") colours[ev.target.id.slice(2)] = ev.target.value;
      if (ev.target.id === "s-theme") showColours();
      settingsDirty = true;
      preview();
    });
    $("settings-form").addEventListener("change", function () { preview(); });
    $("s-colours-reset").addEventListener("click", function () {
      colours = { accent: "", text: "", panel: "" };
      showColours();
      settingsDirty = true;
      preview();
    });
    $("sound-upload").addEventListener("change", uploadSound);
    $("sound-test").addEventListener("click", function () {
      var a = new Audio(soundUrl($("s-sound-file").value));
      a.volume = parseInt($("s-sound-volume").value, 10) / 100;
      a.play().catch(function () { notice("The browser did not play the sound", "error"); });
    });
    $("preview").addEventListener("load", preview);
    window.addEventListener("resize", preview);
    $("create-reward").addEventListener("click", createReward);
    $("chat-bot-invite").addEventListener("click", async function () {
      var res = await api("POST", "/api/chat-bot/invite", {});
      if (!res.ok) { notice(errorText(res), "error"); return; }
      $("chat-bot-link").value = res.data.url;
      $("chat-bot-link-box").hidden = false;
      $("chat-bot-link").select();
    });
    $("chat-bot-remove").addEventListener("click", async function () {
      if (!confirm("Read and answer chat with the channel's own account again?")) return;
      var res = await api("DELETE", "/api/chat-bot");
      if (!res.ok) notice(errorText(res), "error");
      loadStatus();
    });
    $("rotate-key").addEventListener("click", rotateKey);
    $("copy-url").addEventListener("click", function () {
      var v = $("overlay-url").value;
      if (v && navigator.clipboard) navigator.clipboard.writeText(v).then(function () { notice("Copied"); });
    });
    $("maintenance").addEventListener("click", async function () {
      $("maintenance-status").textContent = "running…";
      var res = await api("POST", "/api/maintenance", {});
      $("maintenance-status").textContent = res.ok ? "deleted " + res.data.deleted.event_raw + " deliveries, " +
        res.data.deleted.command_log + " log rows; checkpoint " + (res.data.checkpoint.busy ? "busy" : "done") : errorText(res);
    });
    $("mock").addEventListener("click", async function () {
      var res = await api("POST", "/_debug/mock/redemption", {});
      if (!res.ok) notice(errorText(res), "error");
      else if (!(state.settings.rewards || {})[res.data.reward_id]) notice("Mock redemption sent for reward '" + res.data.reward_id + "': bind it in Settings → Rewards to see it in the queue.");
      loadRewards();
    });
    $("logout").hidden = false;
    $("logout").addEventListener("click", async function () { await api("POST", "/api/logout", {}); location.reload(); });
    $("logout-all").hidden = moderator;
    $("logout-all").addEventListener("click", async function () {
      if (!confirm("Sign out on every device?")) return;
      await api("POST", "/api/logout", { everywhere: true });
      location.reload();
    });

    var stream = new LiveStream({
      path: "/admin/sse",
      types: SSE_EVENT_TYPES,
      getToken: async function () {
        var r = await api("POST", "/api/sse-token", { aud: "admin" });
        if (r.status === 401) { location.reload(); throw new Error("signed out"); }
        if (!r.ok) throw new Error("token " + r.status);
        return r.data.token;
      },
      onEvent: function (type, data) { var h = handlers[type]; if (h && data) h(data); },
      onStatus: function (up) { $("conn").hidden = up; },
    });
    window.twiAdmin = { state: state, stream: stream };
    stream.start();
  }

  start();
})();
