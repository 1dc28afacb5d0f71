// The point-in-time form: a datetime-local field holds the reader's local time, so the hidden `tz` field carries
// that moment's offset from UTC in minutes (what getTimezoneOffset() gives: UTC minus local time; it changes with
// daylight saving, so it is taken for the date chosen, not for today). Without it the server reads the time as UTC.
function trackTimezone(form) {
  var time = form.querySelector("input[name=time]");
  var tz = form.querySelector("input[name=tz]");
  if (!time || !tz) return;
  function update() {
    var chosen = time.value ? new Date(time.value) : null;
    tz.value = chosen && !isNaN(chosen) ? String(chosen.getTimezoneOffset()) : "";
  }
  time.addEventListener("input", update);
  time.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-point-in-time]").forEach(trackTimezone);
});
