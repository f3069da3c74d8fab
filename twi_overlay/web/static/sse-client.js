// Shared by the overlay and the admin page: an SSE connection that fetches a fresh short-lived
// token before every (re)connect, resumes with the last event id, and keeps retrying (with backoff)
// while the server is down, including when it is not up yet when the page loads.
"use strict";

function LiveStream(opts) {
  // opts: { path, getToken: async () => token, onEvent(type, payload, id), onStatus(up: bool) }
  this.opts = opts;
  this.lastId = null;
  this.source = null;
  this.attempt = 0;
  this.timer = null;
  this.stopped = false;
}

LiveStream.prototype.start = function () { this.connect(); };

LiveStream.prototype.stop = function () {
  this.stopped = true;
  if (this.source) this.source.close();
  clearTimeout(this.timer);
};

LiveStream.prototype.retryLater = function () {
  if (this.stopped) return;
  this.opts.onStatus(false);
  var delay = Math.min(10000, 500 * Math.pow(2, this.attempt)) * (0.75 + Math.random() / 2);
  this.attempt = Math.min(this.attempt + 1, 5);
  clearTimeout(this.timer);
  this.timer = setTimeout(this.connect.bind(this), delay);
};

LiveStream.prototype.connect = async function () {
  if (this.stopped) return;
  if (this.source) { this.source.close(); this.source = null; }
  var token;
  try {
    token = await this.opts.getToken();
  } catch (err) {
    return this.retryLater();
  }
  if (!token) return this.retryLater();
  var url = this.opts.path + "?token=" + encodeURIComponent(token);
  if (this.lastId) url += "&lastEventId=" + encodeURIComponent(this.lastId);
  var self = this;
  var source = new EventSource(url);
  this.source = source;
  var handle = function (ev) {
    if (ev.lastEventId) self.lastId = ev.lastEventId;
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    self.opts.onEvent(msg.type || ev.type, msg.data, ev.lastEventId);
  };
  source.onopen = function () { self.attempt = 0; self.opts.onStatus(true); };
  source.onmessage = handle;
  (this.opts.types || []).forEach(function (t) { source.addEventListener(t, handle); });
  source.onerror = function () {
    // EventSource would retry with the same (soon expired) token: take over and reconnect ourselves.
    source.close();
    if (self.source === source) self.source = null;
    self.retryLater();
  };
};

// Queue events are deltas: a page keeps its own copy of the queue (from `state.replace`) and applies
// them. Positions are 1-based and without gaps, as the server keeps them.
var QueueDelta = {
  // The queue without these entries, renumbered.
  remove: function (queue, ids) {
    var drop = new Set(ids);
    var rest = queue.filter(function (e) { return !drop.has(e.id); });
    rest.forEach(function (e, i) { e.position = i + 1; });
    return rest;
  },
  // `entry` (with its new position) moved, or new, there; the others keep their order.
  move: function (queue, entry) {
    var rest = queue.filter(function (e) { return e.id !== entry.id; });
    rest.splice(Math.max(0, Math.min(rest.length, entry.position - 1)), 0, entry);
    rest.forEach(function (e, i) { e.position = i + 1; });
    return rest;
  },
};

var SSE_EVENT_TYPES = ["state.replace", "queue.enqueued", "queue.picked", "queue.completed", "queue.canceled",
  "queue.moved", "queue.cleared", "counter.updated", "settings.updated", "stream.status", "reward.updated",
  "command.logged", "subscription.revoked", "helix.result", "moderators.changed", "chat.switched",
  "chat.bot_changed"];
