// Filters the event lists of the index as the reader types: every word must occur in an
// entry's names, routing key, services or field names.
(function () {
  var input = document.getElementById("search");
  if (!input) return;
  var count = document.getElementById("search-count");
  var entries = Array.prototype.slice.call(document.querySelectorAll("[data-search]"));
  var groups = Array.prototype.slice.call(document.querySelectorAll(".group"));
  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    entries.forEach(function (entry) {
      var text = entry.getAttribute("data-search");
      entry.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
    });
    groups.forEach(function (group) {
      group.hidden = !group.querySelector("li[data-search]:not([hidden])");
    });
    var shown = document.querySelectorAll("#by-domain li[data-search]:not([hidden])").length;
    count.textContent = words.length ? shown + " matching event versions" : "";
  }
  input.addEventListener("input", apply);
  if (location.hash.indexOf("#q=") === 0) {
    input.value = decodeURIComponent(location.hash.slice(3));
  }
  apply();
})();
