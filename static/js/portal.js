// Show UTC timestamps in the reader's local time; the title keeps the UTC original.
function localiseTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (el) {
    if (el.dataset.localised) return;
    var date = new Date(el.getAttribute("datetime"));
    if (isNaN(date)) return;
    el.textContent = date.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
    });
    el.dataset.localised = "1";
  });
}
document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
document.addEventListener("htmx:afterSwap", function (event) { localiseTimes(event.target); });
