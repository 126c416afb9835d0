/* chibo: the browser side of a session, on every page of a logged-in reader.
   - The forms' service worker (forms-sw.js) is told whose page this is (the body's
     data-account, a keyed hash of the account id), so that after another account signs
     in on this browser it drops the copies it kept for the previous one.
   - Logging out forgets what the data-entry forms kept in this browser (forms.js's
   drafts in localStorage, forms-sw.js's offline copies of the form pages). The logout
   answer says the same (Clear-Site-Data), but browsers honour that header only in a
   secure context (HTTPS, or http on localhost/127.0.0.1): over plain http to a commune's
   server it would be ignored, and the next person at a shared computer could open the
   last secretary's roll with the network cut. */
(function () {
  "use strict";

  var DRAFTS = "chibo-draft:";
  var CACHES = "chibo-forms";
  // Never keep someone from logging out: past this, the form is sent whatever is left.
  var AT_MOST_MS = 1500;

  function forgetDrafts() {
    try {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf(DRAFTS) === 0) { window.localStorage.removeItem(key); }
      });
    } catch (e) { /* storage unavailable */ }
  }

  function dropCopies() {
    if (!window.caches) { return Promise.resolve(); }
    return window.caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return name.indexOf(CACHES) === 0; })
        .map(function (name) { return window.caches.delete(name); }));
    });
  }

  var account = document.body.dataset.account;
  if (account && navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage({ account: account });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-logout]"), function (form) {
    form.addEventListener("submit", function (event) {
      // Offline, the logout cannot reach the server and the session goes on: what the
      // person kept (a queued meeting record) stays with it.
      if (form.dataset.cleared || !navigator.onLine) { return; }
      event.preventDefault();
      forgetDrafts();
      var sent = false;
      function send() {
        if (sent) { return; }
        sent = true;
        form.dataset.cleared = "yes";
        HTMLFormElement.prototype.submit.call(form);
      }
      dropCopies().then(send, send);
      window.setTimeout(send, AT_MOST_MS);
    });
  });
})();
