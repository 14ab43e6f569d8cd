(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("refscope-data").textContent);
  var groups = data.groups;
  var objects = data.objects;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function stackList(entries) {
    var list = el("ol");
    entries.forEach(function (entry) {
      list.appendChild(el("li", entry[0] + ":" + entry[1] + (entry[2] ? " in " + entry[2] : "")));
    });
    return list;
  }

  // Filtering: a group matches when one of its types contains the text (any case).
  var filterInput = document.getElementById("type-filter");
  var finalizerInput = document.getElementById("finalizer-filter");
  var status = document.getElementById("filter-status");
  var rows = document.querySelectorAll("tr.group-row");
  var sections = document.querySelectorAll("section.group");

  function applyFilter() {
    var needle = filterInput.value.trim().toLowerCase();
    var onlyFinalizers = finalizerInput.checked;
    var visible = groups.map(function (group) {
      if (onlyFinalizers && !group.finalizer) { return false; }
      if (!needle) { return true; }
      return group.types.some(function (name) { return name.toLowerCase().indexOf(needle) !== -1; });
    });
    var shown = 0;
    visible.forEach(function (v) { if (v) { shown += 1; } });
    rows.forEach(function (row) { row.hidden = !visible[Number(row.dataset.group)]; });
    sections.forEach(function (section) { section.hidden = !visible[Number(section.dataset.group)]; });
    var noun = groups.length === 1 ? " group" : " groups";
    status.textContent = (needle || onlyFinalizers)
      ? shown + " of " + groups.length + noun + " match"
      : groups.length + noun;
  }
  filterInput.addEventListener("input", applyFilter);
  finalizerInput.addEventListener("change", applyFilter);
  applyFilter();

  // Details of a clicked object.
  var details = document.getElementById("details-body");
  var selected = null;

  function showObject(node) {
    var info = objects[node.getAttribute("data-object")];
    if (!info) { return; }
    if (selected) { selected.classList.remove("selected"); }
    selected = node;
    node.classList.add("selected");
    details.replaceChildren();
    details.appendChild(el("h3", info.type));
    details.appendChild(el("p", info.description, "description"));
    var facts = el("dl");
    function fact(name, value, className) {
      facts.appendChild(el("dt", name));
      facts.appendChild(el("dd", value, className));
    }
    fact("kind", info.kind);
    fact("size", info.size + " bytes (" + info.size_text + ")");
    fact("address", info.address);
    fact("finaliser", info.finalizer ? "yes: defines __del__" : "no", info.finalizer ? "flag-yes" : "");
    fact("position", (info.position + 1) + " of " + info.length + " on the cycle");
    fact("refers to next via", info.label);
    details.appendChild(facts);
    if (info.frame) {
      var location = info.frame.location[0];
      details.appendChild(el("h4", "Frame"));
      details.appendChild(el("p", location[0] + ":" + location[1] + " in " + location[2]));
      details.appendChild(el("h4", "Locals"));
      if (info.frame.locals.length) {
        var table = el("table");
        info.frame.locals.forEach(function (pair) {
          var row = el("tr");
          row.appendChild(el("td", pair[0]));
          row.appendChild(el("td", pair[1]));
          table.appendChild(row);
        });
        details.appendChild(table);
      } else {
        details.appendChild(el("p", "(none recorded)", "placeholder"));
      }
      if (info.frame.stack.length) {
        details.appendChild(el("h4", "Stack (innermost first)"));
        details.appendChild(stackList(info.frame.stack));
      }
    }
    if (info.allocated_at) {
      details.appendChild(el("h4", "Allocated at (innermost last)"));
      details.appendChild(stackList(info.allocated_at));
    }
  }

  document.addEventListener("click", function (event) {
    var node = event.target.closest ? event.target.closest("[data-object]") : null;
    if (node) { showObject(node); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") { return; }
    var node = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("[data-object]") : null;
    if (node) { event.preventDefault(); showObject(node); }
  });
}());
