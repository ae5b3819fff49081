// Filters the lists of the index as the reader types: every word must occur in an entry's
// names, routing key, services or field names. Each event version carries its search text
// once (in the list by domain); its entry in the list by exchange shares it by key.
(function () {
  var input = document.getElementById("search");
  if (!input) return;
  var count = document.getElementById("search-count");
  var textByKey = {};
  var entries = Array.prototype.slice.call(document.querySelectorAll("li[data-search], li[data-key]"));
  entries.forEach(function (entry) {
    var key = entry.getAttribute("data-key");
    var text = entry.getAttribute("data-search");
    if (key && text !== null) textByKey[key] = text;
  });
  var groups = Array.prototype.slice.call(document.querySelectorAll(".group"));
  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    entries.forEach(function (entry) {
      var text = entry.getAttribute("data-search");
      if (text === null) text = textByKey[entry.getAttribute("data-key")] || "";
      entry.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
    });
    groups.forEach(function (group) {
      group.hidden = !group.querySelector("li.event:not([hidden])");
    });
    var shown = document.querySelectorAll("#by-domain li.event:not([hidden])").length;
    count.textContent = words.length ? shown + " matching event versions" : "";
  }
  input.addEventListener("input", apply);
  apply();
})();
