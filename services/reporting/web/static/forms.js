/* chibo data-entry forms: drafts and an offline queue, as a progressive enhancement.
   Every form works without this script (the server reads, checks and records it).
   With it:
   - what is typed is kept in this browser (localStorage) as a draft, and restored when
     the page is opened again (after a lost connection, a closed tab, a crash);
   - a form sent while offline is not lost: it is kept, marked as waiting, and sent by
     itself when the browser is back online (or when the page is next opened online);
   - the page says which: kept in this browser and not sent, or sent.
   The form's hidden command id travels with a kept form, so sending it again records
   it once.
   A draft belongs to the account that typed it, not to the browser: it is kept under the
   account's hash (the body's data-account, a keyed hash of the account id), and is never
   restored or sent for another account signed in on the same browser. Logging out
   forgets every draft (session.js, and the logout's Clear-Site-Data). */
(function () {
  "use strict";

  var PREFIX = "chibo-draft:";
  // Whose drafts these are; a page without it (no session) keeps none.
  var ACCOUNT = document.body.dataset.account || "";
  var MINE = PREFIX + ACCOUNT + ":";
  var SKIP = { csrf_token: 1 };

  function now() {
    var d = new Date();
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + " " + two(d.getDate()) + "/" +
      two(d.getMonth() + 1) + "/" + d.getFullYear();
  }

  function newCommandId() {
    if (window.crypto && window.crypto.randomUUID) { return "form-" + window.crypto.randomUUID(); }
    return "form-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function read(key) {
    try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }

  function write(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); return true; } catch (e) { return false; }
  }

  function forget(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* private mode */ }
  }

  function fieldsOf(form) {
    var values = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.name] || el.disabled || el.type === "submit" || el.type === "button") { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      values.push([el.name, el.value]);
    });
    return values;
  }

  function restore(form, values) {
    var byName = {};
    values.forEach(function (pair) { (byName[pair[0]] = byName[pair[0]] || []).push(pair[1]); });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.name] || el.type === "submit" || el.type === "button") { return; }
      var wanted = byName[el.name];
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = !!wanted && wanted.indexOf(el.value) >= 0;
      } else if (wanted) {
        el.value = wanted[0];
      } else if (el.type !== "hidden") {
        el.value = "";
      }
    });
  }

  function say(form, status, text, offerDiscard, key) {
    if (!status) { return; }
    status.textContent = text;
    status.dataset.state = form.dataset.draftState || "";
    if (offerDiscard) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = form.dataset.msgDiscard || "×";
      button.setAttribute("data-testid", "draft-discard");
      button.addEventListener("click", function () {
        forget(key);
        window.location.reload();
      });
      status.appendChild(document.createTextNode(" "));
      status.appendChild(button);
    }
  }

  function enhance(form) {
    var key = MINE + form.dataset.draft;
    var status = form.querySelector("[data-draft-status]");
    var commandField = form.querySelector("input[name=command_id]");
    var refused = !!form.querySelector("[data-testid=form-error]");
    // A draft kept before drafts had an owner: whose it is cannot be told, so it goes.
    forget(PREFIX + form.dataset.draft);
    var draft = read(key);
    if (draft && draft.account !== ACCOUNT) { forget(key); draft = null; }
    var sending = false;

    function save(queued) {
      var kept = { account: ACCOUNT, values: fieldsOf(form), saved_at: now(), queued: !!queued,
                   pending: !!(draft && draft.pending),
                   command_id: commandField ? commandField.value : null };
      draft = kept;
      write(key, kept);
      return kept;
    }

    function send() {
      if (sending) { return; }
      sending = true;
      form.dataset.draftState = "sending";
      say(form, status, form.dataset.msgSending);
      // Still queued until a page says it was recorded (?saved=…) or answers with the
      // form's problems: a submission cut short is sent again, under the same id.
      draft.pending = true;
      write(key, draft);
      HTMLFormElement.prototype.submit.call(form);
    }

    if (refused) {
      // The server read this form and answered with its problems: what it shows is what
      // was sent; a kept copy would only be older.
      forget(key);
      draft = null;
    } else if (draft && draft.values) {
      restore(form, draft.values);
      if (commandField && draft.command_id && (draft.queued || draft.pending)) {
        // Kept after being sent (or queued to be): the same id, so it records once.
        commandField.value = draft.command_id;
      }
      if (draft.queued && navigator.onLine) {
        // Sent once the page has loaded: a submission started while the page is still
        // loading may be dropped by the browser.
        form.dataset.draftState = "sending";
        say(form, status, form.dataset.msgSending);
        if (document.readyState === "complete") { window.setTimeout(send, 0); }
        else { window.addEventListener("load", function () { window.setTimeout(send, 0); }); }
        return;
      }
      form.dataset.draftState = draft.queued ? "queued" : "restored";
      say(form, status, draft.queued ? form.dataset.msgQueued
        : (form.dataset.msgRestored || "").replace("{time}", draft.saved_at), true, key);
    }

    function edited() {
      if (draft && draft.pending && commandField) {
        // Changed after it was sent: a new command (the old id answers the old body).
        commandField.value = newCommandId();
        draft.pending = false;
      }
      save(false);
      form.dataset.draftState = "saved";
      say(form, status, (form.dataset.msgSaved || "").replace("{time}", draft.saved_at));
    }

    form.addEventListener("input", edited);
    form.addEventListener("change", edited);

    form.addEventListener("submit", function (event) {
      if (!navigator.onLine) {
        event.preventDefault();
        save(true);
        form.dataset.draftState = "queued";
        say(form, status, form.dataset.msgQueued, true, key);
        return;
      }
      save(false);
      draft.pending = true;
      write(key, draft);
      sending = true;
    });

    window.addEventListener("online", function () {
      if (draft && draft.queued) { send(); }
    });
    window.addEventListener("offline", function () {
      if (draft && !draft.queued) {
        say(form, status, (form.dataset.msgSaved || "").replace("{time}", draft.saved_at));
      }
    });
  }

  // A page reached after a form was recorded (?saved=…&sent=<command id>): the kept copy
  // of that command is done with. Only that one: another form's submission cut short was
  // never recorded and is still owed.
  var sent = new URLSearchParams(window.location.search).get("sent");
  if (sent && ACCOUNT) {
    try {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf(MINE) === 0) {
          var kept = read(key);
          if (kept && kept.command_id === sent) { forget(key); }
        }
      });
    } catch (e) { /* storage unavailable */ }
  }

  // The roll: "all present", and the count of each kind, as one ticks.
  function enhanceRoll(form) {
    var tools = form.querySelector("[data-roll-tools]");
    if (!tools) { return; }
    tools.hidden = false;
    var count = tools.querySelector("[data-roll-count]");
    function recount() {
      var present = form.querySelectorAll("input[type=radio][value=present]:checked").length;
      var excused = form.querySelectorAll("input[type=radio][value=absent_excused]:checked").length;
      var unexcused = form.querySelectorAll("input[type=radio][value=absent_unexcused]:checked").length;
      count.textContent = present + " / " + excused + " / " + unexcused;
    }
    tools.querySelector("[data-all-present]").addEventListener("click", function () {
      Array.prototype.forEach.call(form.querySelectorAll("input[type=radio][value=present]"),
        function (el) { el.checked = true; });
      form.dispatchEvent(new Event("change"));
      recount();
    });
    form.addEventListener("change", recount);
    recount();
  }

  // A copy of each form page for a reload without a network (forms-sw.js).
  if ("serviceWorker" in navigator && document.querySelector("form[data-draft]")) {
    var keepThisPage = function () {
      // Through the worker, which keeps the answer: this page then opens offline too.
      window.fetch(window.location.href, { credentials: "same-origin" }).catch(function () {});
    };
    navigator.serviceWorker.register("/reporting/forms-sw.js", { scope: "/reporting/" })
      .then(function () {
        if (navigator.serviceWorker.controller) { keepThisPage(); }
        else { navigator.serviceWorker.addEventListener("controllerchange", keepThisPage); }
      })
      .catch(function () { /* not offered (plain http on another host): drafts still work */ });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-draft]"), function (form) {
    enhanceRoll(form);
    if (ACCOUNT) { enhance(form); }
  });
})();
