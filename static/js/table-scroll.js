// A table wider than its box scrolls inside its .table-scroll (see portal.css). A keyboard user must be
// able to scroll it too: a box that overflows becomes a focusable, named region (WCAG 2.1.1; axe-core's
// scrollable-region-focusable). Boxes that fit stay out of the tab order. Re-checked on resize.
(function () {
  "use strict";
  // A region's name must differ from its section's and from every other region's (axe: landmark-unique).
  var used = {};
  function label(box) {
    var section = box.closest("section, .card, main");
    var heading = box.querySelector("caption") || (section && section.querySelector("h1, h2, h3"));
    var name = "Table: " + (heading ? heading.textContent.trim() : "scrolls sideways");
    used[name] = (used[name] || 0) + 1;
    return used[name] > 1 ? name + " (" + used[name] + ")" : name;
  }
  function fit() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
          box.setAttribute("aria-label", label(box));
        }
        box.dataset.scrollFocus = "auto";
      } else if (!scrolls && box.dataset.scrollFocus === "auto") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        delete box.dataset.scrollFocus;
      }
    });
  }
  fit();
  window.addEventListener("resize", fit);
  document.addEventListener("htmx:afterSettle", fit);
})();
