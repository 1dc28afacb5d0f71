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
// Progress bars carry their percentage in data-progress: the Content-Security-Policy refuses style="" attributes,
// while a width set from a script is allowed.
function showProgress(root) {
  root.querySelectorAll("[data-progress]").forEach(function (el) {
    el.style.width = Math.max(0, Math.min(100, Number(el.dataset.progress) || 0)) + "%";
  });
}

document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); showProgress(document); });
document.addEventListener("htmx:afterSwap", function (event) { localiseTimes(event.target); });
// htmx:load fires for every element htmx puts in the page, including one that replaced its target (outerHTML).
document.addEventListener("htmx:load", function (event) { showProgress(event.detail.elt); });
