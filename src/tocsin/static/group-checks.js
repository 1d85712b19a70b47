// The user form's alarm groups: a group under a ticked one is covered (routing sends
// it the ticked group's alarms), so it shows ticked, locked and "included through
// <parent>" as soon as the parent is ticked, and gets its own tick back when the
// parent is unticked.  The server renders the same state without JavaScript.
"use strict";
(function () {
  var list = document.getElementById("group-checks");
  if (!list) { return; }
  var items = Array.prototype.slice.call(list.querySelectorAll("li[data-group]"));
  var byId = {};
  items.forEach(function (li) { byId[li.getAttribute("data-group")] = li; });
  var template = list.getAttribute("data-through") || "{parent}";

  function box(li) { return li.querySelector("input[type=checkbox]"); }

  // The admin's own tick of a group (a locked box keeps it in data-own).
  function own(li) {
    var input = box(li);
    return input.disabled ? input.getAttribute("data-own") === "on" : input.checked;
  }

  // The highest ancestor the admin ticked, or null (as the server's covered_groups).
  function coveringAncestor(li) {
    var parentId = li.getAttribute("data-parent");
    var found = null;
    var seen = {};
    while (parentId && byId[parentId] && !seen[parentId]) {
      seen[parentId] = true;
      var parent = byId[parentId];
      if (own(parent)) { found = parent; }
      parentId = parent.getAttribute("data-parent");
    }
    return found;
  }

  function update() {
    items.forEach(function (li) {
      var input = box(li);
      var note = li.querySelector(".through");
      var through = coveringAncestor(li);
      if (through) {
        if (!input.disabled) { input.setAttribute("data-own", input.checked ? "on" : "off"); }
        input.checked = true;
        input.disabled = true;
        li.classList.add("covered");
        note.textContent = template.replace("{parent}", through.getAttribute("data-name"));
        note.hidden = false;
      } else {
        if (input.disabled) { input.checked = input.getAttribute("data-own") === "on"; }
        input.disabled = false;
        li.classList.remove("covered");
        note.textContent = "";
        note.hidden = true;
      }
    });
  }

  list.addEventListener("change", update);
  update();
})();
