// The main navigation is a <details> (see base.html): open beside the page on wide screens, folded
// behind its Menu button on narrow ones. Loaded right after it (not deferred) so a phone never paints
// it open. Without this script the menu simply stays open.
(function () {
  "use strict";
  var menu = document.querySelector("[data-nav-menu]");
  if (!menu || !window.matchMedia) { return; }
  var narrow = window.matchMedia("(max-width: 760px)");
  function fit() { menu.open = !narrow.matches; }
  fit();
  if (narrow.addEventListener) { narrow.addEventListener("change", fit); }
})();
