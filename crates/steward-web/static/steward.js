// Steward dashboard: the only script of our own (no inline script anywhere; CSP forbids it).
// - Countdowns: every element with data-deadline (ISO 8601) shows the time left in words.
// - htmx requests carry the session's CSRF token in X-CSRF-Token.
(function () {
  "use strict";

  function words(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
    var parts = [];
    for (var i = 0; i < units.length && parts.length < 2; i++) {
      var n = Math.floor(s / units[i][0]);
      if (n > 0 || (parts.length === 0 && units[i][0] === 1)) {
        parts.push(n + " " + units[i][1] + (n === 1 ? "" : "s"));
        s -= n * units[i][0];
      }
      if (parts.length > 0 && units[i][0] === 1) break;
    }
    return parts.join(" ");
  }

  function tick() {
    var now = Date.now();
    var els = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < els.length; i++) {
      var at = Date.parse(els[i].getAttribute("data-deadline"));
      if (isNaN(at)) continue;
      var d = at - now;
      els[i].textContent = d >= 0 ? "in " + words(d) : words(d) + " ago";
      els[i].classList.toggle("past", d < 0);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    document.body.addEventListener("htmx:configRequest", function (e) {
      var token = document.body.getAttribute("data-csrf");
      if (token) e.detail.headers["X-CSRF-Token"] = token;
    });
    document.body.addEventListener("htmx:sseMessage", tick);
  });
})();
