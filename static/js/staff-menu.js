// The staff menu: on a small screen it folds away behind the "Menu" button; a group's
// list closes with Escape or a click elsewhere. Without this script the menu still
// works: the groups open as plain <details> and the whole menu stays visible.
(function () {
  "use strict";
  var header = document.querySelector(".staff-header");
  var button = header && header.querySelector(".menu-button");
  if (!button) {
    return;
  }
  var groups = Array.prototype.slice.call(header.querySelectorAll(".menu-group details"));

  header.classList.add("menu-js");
  button.hidden = false;

  function setMenuOpen(open) {
    header.classList.toggle("menu-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  button.addEventListener("click", function () {
    setMenuOpen(!header.classList.contains("menu-open"));
  });

  // One group open at a time, also where <details name> is not supported.
  groups.forEach(function (group) {
    group.addEventListener("toggle", function () {
      if (group.open) {
        groups.forEach(function (other) {
          if (other !== group) {
            other.open = false;
          }
        });
      }
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var open = groups.filter(function (group) { return group.open; });
    if (open.length) {
      open.forEach(function (group) { group.open = false; });
      open[0].querySelector("summary").focus();
    } else if (header.classList.contains("menu-open")) {
      setMenuOpen(false);
      button.focus();
    }
  });

  document.addEventListener("click", function (event) {
    groups.forEach(function (group) {
      if (group.open && !group.contains(event.target)) {
        group.open = false;
      }
    });
  });
})();
