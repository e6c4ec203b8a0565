// Confab's service worker: keeps the page itself (HTML, styles, script,
// wasm) so that it opens when the server is down; the web client then shows
// the history it cached in IndexedDB. Network first, so a new version of the
// server's client is picked up as soon as the server answers.
const CACHE = "confab-shell-v1";
const SHELL = ["/", "/style.css", "/pkg/confab_web.js", "/pkg/confab_web_bg.wasm"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname === "/ws") {
    return;
  }
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(event.request, { ignoreSearch: true }).then((hit) => hit || Response.error()),
      ),
  );
});
