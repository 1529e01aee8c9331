// A campaign's progress, live: while the campaign is scheduled, sending or paused, ask
// its progress URL (data-progress-url) every few seconds and put the new figures and
// sentences in the page. When the status changes the page reloads once, so the actions
// shown fit the new status. Without this script the page shows the figures of the
// moment it was loaded.
(function () {
  "use strict";
  var block = document.querySelector(".campaign-progress[data-progress-url]");
  if (!block || !window.fetch) {
    return;
  }
  var url = block.getAttribute("data-progress-url");
  var status = block.getAttribute("data-status");
  var starting = block.getAttribute("data-starting") === "true";
  var bar = block.querySelector("progress");
  // Every 3 seconds while sending or about to start; slower while nothing moves by itself.
  var INTERVAL = status === "sending" || starting ? 3000 : status === "paused" ? 10000 : 30000;
  var timer = null;

  function show(figures) {
    if (bar) {
      bar.max = Math.max(figures.total, 1);
      bar.value = figures.sent + figures.failed + figures.not_sent;
      bar.textContent = (figures.total ? Math.floor(figures.sent * 100 / figures.total) : figures.percent) + "\u00a0%";
    }
    var texts = figures.texts || {};
    Array.prototype.forEach.call(block.querySelectorAll("[data-progress-text]"), function (node) {
      var value = texts[node.getAttribute("data-progress-text")] || "";
      if (node.textContent !== value) {
        node.textContent = value;
      }
      node.hidden = value === "";
    });
  }

  var busy = false;

  function later(delay) {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    timer = document.hidden ? null : window.setTimeout(poll, delay);
  }

  function changed(figures) {
    return figures.status !== status || Boolean(figures.starting) !== starting;
  }

  function poll() {
    timer = null;
    if (busy) {
      return;  // one question at a time
    }
    busy = true;
    fetch(url, {
      credentials: "same-origin", cache: "no-store", redirect: "manual",
      headers: {Accept: "application/json"}
    })
      .then(function (response) {
        busy = false;
        var type = response.headers.get("Content-Type") || "";
        if (response.type === "opaqueredirect" || [401, 403, 404].indexOf(response.status) >= 0) {
          // Logged out (the login page keeps its message for the reload) or the
          // campaign is gone: the page itself says what is next.
          window.location.reload();
          return null;
        }
        if (!response.ok || type.indexOf("application/json") !== 0) {
          later(INTERVAL * 3);  // busy or briefly away: ask again later
          return null;
        }
        return response.json();
      })
      .then(function (figures) {
        if (!figures) {
          return;
        }
        if (changed(figures)) {
          window.location.reload();
          return;
        }
        show(figures);
        if (figures.live) {
          later(INTERVAL);
        }
      })
      .catch(function () {
        // The network or the server is away for a moment: try again later.
        busy = false;
        later(INTERVAL * 3);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden && timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    } else if (!document.hidden && timer === null) {
      poll();  // back on the page: fresh figures at once
    }
  });

  later(INTERVAL);
})();
