// Show UTC timestamps in the reader's local time, in the portal's one format (YYYY-MM-DD HH:MM); the title keeps
// the UTC original. A date without a time of day (datetime="YYYY-MM-DD") is the same everywhere and stays as it is.
function pad(number) { return (number < 10 ? "0" : "") + number; }
function localiseTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (el) {
    var value = el.getAttribute("datetime");
    if (el.dataset.localised || value.indexOf("T") < 0) return;
    var date = new Date(value);
    if (isNaN(date)) return;
    el.textContent = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes());
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
