// Test fixture: a fetch-style handler that can block its event loop, for the event-loop guard.
export default async function handler(request) {
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/spin":
      // Never yields: the watchdog's event loop is stuck from here on.
      for (;;);
    case "/block": {
      // Blocks for ?ms= milliseconds, then answers: slow, but not stuck.
      const untilMs = Date.now() + Number(url.searchParams.get("ms") ?? "0");
      while (Date.now() < untilMs);
      return new Response("unblocked");
    }
    default:
      return new Response(`ok ${process.pid}`);
  }
}
