// Search-as-you-type pickers for text inputs marked data-suggest="model|version|actor" inside a form that names
// the endpoint (data-suggest-url). The input stays a plain text field: without this script a person types the
// model's name or slug, the version's name or the username, and the server resolves them the same way.
// ARIA 1.2 combobox pattern: role=combobox, aria-autocomplete=list, a listbox, aria-activedescendant; keyboard:
// ArrowDown/ArrowUp move, Enter chooses, Escape closes.
(function () {
  "use strict";
  var DELAY = 150;

  function setUp(input, url) {
    var kind = input.dataset.suggest;
    var list = document.createElement("ul");
    list.id = input.id + "-listbox";
    list.className = "picker-list list-group shadow-sm";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", (input.labels && input.labels[0] ? input.labels[0].textContent : kind) + " suggestions");
    list.hidden = true;
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    list.insertAdjacentElement("afterend", status);

    var timer = null, active = -1, items = [], asked = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      if (!options.length) return;
      active = (index + options.length) % options.length;
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === active ? "true" : "false");
        option.classList.toggle("active", i === active);
      });
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({block: "nearest"});
    }
    function choose(index) {
      if (index < 0 || index >= items.length) return;
      var previous = input.value;
      input.value = items[index].value;
      // A choice ends the search: a question still waiting (typed before the choice) or on its way must not
      // reopen the list over the form.
      clearTimeout(timer);
      asked++;
      close();
      // A new model makes the chosen version meaningless: clear the version picker that depends on it.
      if (kind === "model" && previous !== input.value) {
        document.querySelectorAll("[data-suggest-model='" + input.id + "']").forEach(function (el) { el.value = ""; });
      }
      input.dispatchEvent(new Event("change", {bubbles: true}));
    }
    function show(results, error) {
      // A later answer (the person typed on) keeps the highlighted suggestion when it is still offered.
      var kept = active >= 0 && items[active] ? items[active].value : null;
      items = results;
      list.textContent = "";
      active = -1;
      if (error) {
        var note = document.createElement("li");
        note.className = "list-group-item small text-muted";
        note.textContent = error;
        list.appendChild(note);
      }
      results.forEach(function (result, i) {
        var option = document.createElement("li");
        option.id = list.id + "-" + i;
        option.className = "list-group-item list-group-item-action small";
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = result.label;
        if (result.detail) {
          var detail = document.createElement("span");
          detail.className = "text-muted ms-2";
          detail.textContent = result.detail;
          option.appendChild(detail);
        }
        // mousedown, not click: it comes before the input's blur closes the list.
        option.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
        list.appendChild(option);
      });
      // Only the field being typed in shows its list: an answer arriving after the person moved on stays closed.
      var open = (results.length > 0 || Boolean(error)) && document.activeElement === input;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      input.removeAttribute("aria-activedescendant");
      results.forEach(function (result, i) { if (result.value === kept) highlight(i); });
      status.textContent = error || (results.length + " suggestion" + (results.length === 1 ? "" : "s"));
    }
    function ask() {
      var params = new URLSearchParams({kind: kind, q: input.value.trim()});
      if (kind === "version") {
        var model = document.getElementById(input.dataset.suggestModel);
        if (!model || !model.value.trim()) { show([], "Choose the model first."); return; }
        params.set("model", model.value.trim());
      }
      var ticket = ++asked;
      fetch(url + "?" + params.toString(), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
        .then(function (answer) {
          if (ticket !== asked) return;  // an older answer arriving late
          if (answer[0]) show(answer[1].results || [], ""); else show([], answer[1].error || "No suggestions.");
        })
        .catch(function () { if (ticket === asked) show([], "Suggestions are unavailable; type the name."); });
    }

    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, DELAY); });
    input.addEventListener("focus", function () { if (!input.value.trim() || kind === "version") ask(); });
    input.addEventListener("blur", function () { clearTimeout(timer); setTimeout(close, 100); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden) ask(); else highlight(active + 1);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (!list.hidden) highlight(active - 1);
      } else if (event.key === "Enter" && !list.hidden && active >= 0) {
        event.preventDefault();  // choose, don't submit yet
        choose(active);
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-suggest-url]").forEach(function (form) {
      form.querySelectorAll("input[data-suggest]").forEach(function (input) { setUp(input, form.dataset.suggestUrl); });
    });
  });
})();
