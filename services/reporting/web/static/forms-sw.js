/* chibo data-entry forms: a service worker so a form page opened before still opens
   when the network is down (a reload with the connection cut), with its draft. The
   pages themselves are not cached by the browser (no-store: they carry the session's
   CSRF token and the cell's roll); this keeps the last copy of each form page, for at
   most SESSION_HOURS, and serves it only when the network fails. Everything else goes
   to the network untouched.

   The copies belong to an account, never to the browser: each page names its account
   (X-Chibo-Account, a keyed hash of the account id) and is kept in that account's cache.
   Only the copies of the account the server last named (the "owner") are ever served;
   when another account's page arrives, or a page says who is reading it (session.js),
   the previous account's copies are deleted. A form address answered by a redirect (to
   the login page: the session is over) deletes them all, as logging out does
   (Clear-Site-Data, and session.js for browsers that ignore the header). Expired copies
   are swept when the worker starts and on each request it answers, not only when read. */
"use strict";

var PREFIX = "chibo-forms-v2:";
var ASSETS_CACHE = PREFIX + "assets";
var PAGES_CACHE = PREFIX + "pages:";   // + the account's hash
var OWNER_CACHE = PREFIX + "owner";
var OWNER_KEY = "/reporting/forms-sw.js?owner";
var SESSION_HOURS = 8;
var FORMS = /^\/reporting\/(cells\/[^/]+\/(record|schedule|visit|meetings\/[^/]+\/preparation)|meetings\/[^/]+\/(resolution|correction)|tasks\/[^/]+)$/;
var ASSETS = /^\/reporting\/static\/(app\.css|forms\.css|print\.css|app\.js|forms\.js|session\.js)$/;
var ACCOUNT = /^[0-9a-f]{16,64}$/;

function tooOld(response) {
  var at = Number(response.headers.get("X-Chibo-Kept-At") || 0);
  return Date.now() - at > SESSION_HOURS * 3600 * 1000;
}

function ours(name) { return name.indexOf("chibo-forms") === 0; }

// Every kept copy past its time, in every cache of ours; caches of an older version of
// this worker (kept for the browser, not an account) go whole.
function sweep() {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(ours).map(function (name) {
      if (name.indexOf(PREFIX) !== 0) { return caches.delete(name); }
      if (name === OWNER_CACHE) { return null; }
      return caches.open(name).then(function (cache) {
        return cache.keys().then(function (requests) {
          return Promise.all(requests.map(function (request) {
            return cache.match(request).then(function (found) {
              if (!found || tooOld(found)) { return cache.delete(request); }
              return null;
            });
          }));
        });
      });
    }));
  });
}

function owner() {
  return caches.open(OWNER_CACHE).then(function (cache) {
    return cache.match(OWNER_KEY);
  }).then(function (found) { return found ? found.text() : null; });
}

// Only `account`'s copies may remain: another account's are deleted.
function ownedBy(account) {
  if (!ACCOUNT.test(account || "")) { return Promise.resolve(); }
  return owner().then(function (current) {
    if (current === account) { return null; }
    return caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf(PAGES_CACHE) === 0 && name !== PAGES_CACHE + account;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () {
      return caches.open(OWNER_CACHE);
    }).then(function (cache) {
      return cache.put(OWNER_KEY, new Response(account));
    });
  });
}

// The session is over: no copy of any account stays.
function forgetAll() {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(ours).filter(function (name) {
      return name !== ASSETS_CACHE;
    }).map(function (name) { return caches.delete(name); }));
  });
}

function stamped(response) {
  var headers = new Headers(response.headers);
  headers.set("X-Chibo-Kept-At", String(Date.now()));
  return response.blob().then(function (body) {
    return new Response(body, { status: response.status, headers: headers });
  });
}

function keep(request, response, account) {
  var copy = response.clone();
  var into = account ? ownedBy(account).then(function () { return PAGES_CACHE + account; })
    : Promise.resolve(ASSETS_CACHE);
  return into.then(function (name) {
    return Promise.all([caches.open(name), stamped(copy)]);
  }).then(function (both) { return both[0].put(request, both[1]); });
}

function kept(request, isPage) {
  var from = isPage ? owner().then(function (account) {
    return account ? PAGES_CACHE + account : null;
  }) : Promise.resolve(ASSETS_CACHE);
  return from.then(function (name) {
    if (!name) { return null; }
    return caches.open(name).then(function (cache) {
      return cache.match(request).then(function (found) {
        if (found && tooOld(found)) { return cache.delete(request).then(function () { return null; }); }
        return found || null;
      });
    });
  }).then(function (found) { return found || Response.error(); });
}

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) {
  event.waitUntil(sweep().then(function () { return self.clients.claim(); }));
});

self.addEventListener("message", function (event) {
  var said = event.data || {};
  if (said.account) { event.waitUntil(ownedBy(String(said.account))); }
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var path = new URL(request.url).pathname;
  var isPage = FORMS.test(path);
  if (!isPage && !ASSETS.test(path)) { return; }
  // What follows the answer (keeping its copy, or forgetting them all) is waited for.
  var after;
  event.waitUntil(Promise.all([sweep(), new Promise(function (done) { after = done; })]));
  event.respondWith(fetch(request).then(function (response) {
    if (isPage && (response.type === "opaqueredirect" || response.redirected)) {
      // A form page is only ever redirected to the login page: the session is over.
      after(forgetAll());
      return response;
    }
    var account = response.headers.get("X-Chibo-Account");
    after(response.ok && (!isPage || account)
      ? keep(request, response, isPage ? account : null) : null);
    return response;
  }, function () {
    after(null);
    return kept(request, isPage);
  }));
});
