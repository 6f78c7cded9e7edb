// Progressive enhancement of the booking form; the page works without it.
// Fills tz and idem, shows times in the visitor's zone, applies ?topic= and ?slot=,
// and greys out slots booked since the build (GET taken URL, same origin).
(function () {
  var form = document.getElementById("booking");
  if (!form || !window.Intl) return;
  var data = form.dataset, query = new URLSearchParams(location.search);
  var radios = Array.prototype.slice.call(form.querySelectorAll("input[name=slot]"));
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
  form.elements.tz.value = zone;
  if (window.crypto && crypto.getRandomValues) {
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    form.elements.idem.value = Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }
  function note(radio, cls, text) {
    var span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    radio.labels[0].appendChild(span);
  }
  if (zone && zone !== data.zone) {
    var lang = document.documentElement.lang;
    var time = new Intl.DateTimeFormat(lang, {hour: "2-digit", minute: "2-digit", timeZone: zone});
    var wday = new Intl.DateTimeFormat(lang, {weekday: "short", timeZone: zone});
    var owners = new Intl.DateTimeFormat(lang, {hour: "2-digit", minute: "2-digit", timeZone: data.zone});
    var day = function (z, d) { return new Intl.DateTimeFormat("en-CA", {timeZone: z}).format(d); };
    radios.forEach(function (radio) {
      var start = new Date(radio.dataset.start), text = time.format(start);
      var otherDay = day(zone, start) !== day(data.zone, start);
      // Vienna, Paris or Zurich keep the owner's clock: no second time that says the same.
      if (!otherDay && text === owners.format(start)) return;
      if (otherDay) text = wday.format(start) + " " + text;
      note(radio, "local", "(" + data.local.replace("{time}", text) + ")");
    });
  }
  var topic = query.get("topic");
  if (topic && !form.elements.topic.value) form.elements.topic.value = topic.slice(0, 80);
  var picked = query.get("slot") && document.getElementById(query.get("slot"));
  if (picked && picked.name === "slot") {
    picked.checked = true;
    picked.labels[0].scrollIntoView({block: "center"});
  }
  if (!data.takenUrl || !window.fetch) return;
  // no-cache: a caller who just booked and comes back must see that time taken,
  // not a copy of the list from before (the handler lets proxies keep it for seconds).
  fetch(data.takenUrl, {headers: {Accept: "application/json"}, cache: "no-cache"}).then(function (r) {
    return r.ok ? r.json() : {};
  }).then(function (body) {
    var taken = (body && body.taken) || [];
    // A slot closer to a taken call than the owner's buffers is refused too: grey it out.
    var before = (+data.bufferBefore || 0) * 1000, after = (+data.bufferAfter || 0) * 1000;
    radios.forEach(function (radio) {
      var s = Date.parse(radio.dataset.start), e = Date.parse(radio.dataset.end);
      var hit = taken.some(function (t) {
        return Date.parse(t.start) - before < e && s < Date.parse(t.end) + after;
      });
      if (!hit || radio.disabled) return;
      radio.checked = false;
      radio.disabled = true;
      note(radio, "state", data.taken);
    });
  }).catch(function () { /* offline or no handler: the handler still refuses taken slots */ });
})();
