// Progressive enhancement of the booking form; the page works without it.
// Fills tz and idem, shows times in the visitor's zone first (the owner's below), sums up
// the picked time beside the button, brings the form into view on a phone, applies
// ?topic= and ?slot=, and greys out slots booked since the build (same-origin GET).
(function () {
  var form = document.getElementById("booking");
  if (!form || !window.Intl) return;
  var data = form.dataset, query = new URLSearchParams(location.search);
  // The page's conventions ("en" pages write 24-hour British times) for the owner's times.
  var lang = data.locale || document.documentElement.lang;
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
  function fmt(z, options) {
    options.timeZone = z;
    return new Intl.DateTimeFormat(lang, options);
  }
  function zoneName(z) {
    if (/^(Etc\/)?UTC$/.test(z)) return "UTC";
    var parts;
    try { parts = fmt(z, {timeZoneName: "longGeneric"}).formatToParts(new Date()); }
    catch (e) { parts = fmt(z, {timeZoneName: "long"}).formatToParts(new Date()); }
    var named = parts.filter(function (p) { return p.type === "timeZoneName"; })[0];
    // The hint writes the name in brackets: "Japonia (czas standardowy)" loses its own.
    var name = named ? named.value.replace(/\s*\([^()]*\)/g, "") : "";
    return name || z;
  }
  function note(radio, cls, text) {
    var span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    radio.labels[0].appendChild(span);
  }
  // A time as the page writes it everywhere else (the mails too): "9:00", French "9 h 30";
  // with twelve ("h12", English pages only), in the visitor's 12-hour clock: "3:00 AM".
  var formats = {};
  function clock(z, d, twelve) {
    var key = z + " " + (twelve || "");
    var f = formats[key] || (formats[key] = fmt(z, {hour: "numeric", minute: "2-digit", hourCycle: twelve || "h23"}));
    if (twelve) return f.format(d);
    var h = "", m = "";
    f.formatToParts(d).forEach(function (p) {
      if (p.type === "hour") h = p.value;
      if (p.type === "minute") m = p.value;
    });
    return (m === "00" ? data.clock : data.clockMinutes).replace("{h}", String(+h)).replace("{mm}", m);
  }
  function zoneAbbr(z, d) {
    var named = fmt(z, {timeZoneName: "short"}).formatToParts(d).filter(function (p) {
      return p.type === "timeZoneName";
    })[0];
    return named ? named.value : z;
  }
  // The visitor's clock differs from the owner's (not Vienna or Paris for a Berlin owner):
  // their time becomes the big label, the owner's time and zone the small line under it.
  var shown = data.zone, twelve = "";
  var differs = zone && zone !== data.zone && radios.some(function (radio) {
    var start = new Date(radio.dataset.start);
    return clock(zone, start) !== clock(data.zone, start);
  });
  if (differs) {
    shown = zone;
    // On an English page the visitor's times in their own clock: a New Yorker reads
    // "3:00 AM". Other pages keep their language's clock: no "AM" on a French page.
    var cycle = "";
    if (/^en\b/.test(lang) && /^en\b/.test(navigator.language)) {
      try { cycle = new Intl.DateTimeFormat(navigator.language, {hour: "numeric"}).resolvedOptions().hourCycle; } catch (e) {}
    }
    if (cycle === "h11" || cycle === "h12") twelve = cycle;
    var wday = fmt(zone, {weekday: "short"});
    var day = function (z, d) { return new Intl.DateTimeFormat("en-CA", {timeZone: z}).format(d); };
    var texts = [], seen = {};
    radios.forEach(function (radio) {
      var start = new Date(radio.dataset.start), text = clock(zone, start, twelve);
      if (day(zone, start) !== day(data.zone, start)) text = wday.format(start) + " " + text;
      var key = day(zone, start) + " " + text;
      seen[key] = (seen[key] || 0) + 1;
      texts.push([text, key]);
    });
    radios.forEach(function (radio, i) {
      var start = new Date(radio.dataset.start), text = texts[i][0];
      // The night the visitor's clocks go back a time comes twice: name the zone ("1:00 BST").
      if (seen[texts[i][1]] > 1) text += " " + zoneAbbr(zone, start);
      radio.labels[0].textContent = text;
      note(radio, "owner-time", clock(data.zone, start) + " " + zoneAbbr(data.zone, start));
    });
    var hint = document.getElementById("zone-hint");
    hint.textContent = data.zones.replace("{yours}", zoneName(zone)).replace("{owner}", zoneName(data.zone));
  }
  var picked = document.getElementById("picked");
  var dayFmt = fmt(shown, {weekday: "short", day: "numeric", month: "short"});
  // A time the clocks go back over comes twice that night: it names its zone ("2:00 MEZ").
  function at(d) {
    var text = clock(shown, d, twelve), hour = 36e5;
    var twice = text === clock(shown, new Date(d - hour), twelve) || text === clock(shown, new Date(+d + hour), twelve);
    return twice ? text + " " + zoneAbbr(shown, d) : text;
  }
  function summarise() {
    var radio = radios.filter(function (r) { return r.checked; })[0];
    if (!radio) { picked.textContent = ""; return; }
    var start = new Date(radio.dataset.start), end = new Date(radio.dataset.end);
    var text = dayFmt.formatToParts(start).map(function (p) {
      // French writes the first of a month "1er", as the page's own day headings do.
      return p.type === "day" && p.value === "1" && /^fr/.test(lang) ? "1er" : p.value;
    }).join("") + ", " + at(start) + "\u2013" + at(end);
    picked.textContent = data.picked.replace("{time}", text + " \u00b7 " + data.call);
  }
  // On a phone the form is below the times: a tap on a time moves the caller on to it.
  // Arrow keys in the radio group also change the pick; they must not move the focus away.
  var pointer = false;
  form.addEventListener("pointerdown", function (e) { pointer = !!(e.target.closest && e.target.closest(".slots")); });
  form.addEventListener("keydown", function () { pointer = false; });
  form.addEventListener("change", function (e) {
    if (e.target.name !== "slot") return;
    summarise();
    if (pointer && !window.matchMedia("(min-width: 56.25rem)").matches) {
      var heading = document.getElementById("h-details");
      heading.scrollIntoView({block: "start"});
      heading.focus({preventScroll: true});
    }
    pointer = false;
  });
  // No time picked: the browser points at the first time; those behind "More days" cannot
  // take the focus, so they stay out of its complaint.
  form.addEventListener("invalid", function (e) {
    if (e.target.name === "slot" && e.target.closest("details:not([open])")) e.preventDefault();
  }, true);
  var topic = query.get("topic");
  if (topic && !form.elements.topic.value) form.elements.topic.value = topic.slice(0, 80);
  var wanted = query.get("slot") && document.getElementById(query.get("slot"));
  if (wanted && wanted.name === "slot") {
    var more = wanted.closest("details");
    if (more) more.open = true;
    wanted.checked = true;
    wanted.labels[0].scrollIntoView({block: "center"});
  }
  summarise();
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
    summarise();
  }).catch(function () { /* offline or no handler: the handler still refuses taken slots */ });
})();
