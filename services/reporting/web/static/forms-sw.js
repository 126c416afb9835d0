/* chibo data-entry forms: a service worker so a form page opened before still opens
   when the network is down (a reload with the connection cut), with its draft. The
   pages themselves are not cached by the browser (no-store: they carry the session's
   CSRF token and the cell's roll); this keeps the last copy of each form page this
   browser opened, for at most SESSION_HOURS, and serves it only when the network
   fails. Everything else goes to the network untouched. */
"use strict";

var CACHE = "chibo-forms-v1";
var SESSION_HOURS = 8;
var FORMS = /^\/reporting\/(cells\/[^/]+\/(record|schedule|visit|meetings\/[^/]+\/preparation)|meetings\/[^/]+\/(resolution|correction)|tasks\/[^/]+)$/;
var ASSETS = /^\/reporting\/static\/(app\.css|forms\.css|print\.css|app\.js|forms\.js)$/;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function keep(request, response) {
  if (!response || !response.ok) { return response; }
  var copy = response.clone();
  var headers = new Headers(copy.headers);
  headers.set("X-Chibo-Kept-At", String(Date.now()));
  copy.blob().then(function (body) {
    return caches.open(CACHE).then(function (cache) {
      return cache.put(request, new Response(body, { status: copy.status, headers: headers }));
    });
  });
  return response;
}

function kept(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request, { ignoreSearch: false }).then(function (found) {
      if (!found) { return Response.error(); }
      var at = Number(found.headers.get("X-Chibo-Kept-At") || 0);
      if (Date.now() - at > SESSION_HOURS * 3600 * 1000) {
        cache.delete(request);
        return Response.error();
      }
      return found;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var path = new URL(request.url).pathname;
  if (!FORMS.test(path) && !ASSETS.test(path)) { return; }
  event.respondWith(fetch(request).then(function (response) {
    return keep(request, response);
  }, function () {
    return kept(request);
  }));
});
