// The exception form's evidence picker (a <select multiple data-evidence-picker="system">) lists evidence
// of every system the user may request for, each option naming its system in data-system. Once a system
// is chosen in the form's "system" menu, only that system's evidence stays visible and picks of another
// system's evidence are dropped (the server refuses them anyway: exception_validate checks every id).
(function () {
  "use strict";
  document.querySelectorAll("select[data-evidence-picker]").forEach(function (picker) {
    var form = picker.form;
    var menu = form && form.elements.namedItem(picker.dataset.evidencePicker);
    if (!menu) {
      return;
    }
    function show() {
      var chosen = menu.value;
      picker.querySelectorAll("option").forEach(function (option) {
        var other = chosen !== "" && option.dataset.system !== chosen;
        option.hidden = other;
        option.disabled = other;
        if (other) {
          option.selected = false;
        }
      });
      picker.querySelectorAll("optgroup").forEach(function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
    }
    menu.addEventListener("change", show);
    show();
  });
})();
