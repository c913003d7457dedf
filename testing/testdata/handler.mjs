// A fetch-style function for the gateway's tests, run by real watchdog processes. Routes:
// /echo streams the body back; /count counts body bytes; /hold?ms=N answers after N ms; /hang never
// answers; /big?bytes=N streams N bytes; /headers shows what arrived; /stats reports this replica's
// calls; /events sends one server-sent event, then a second once /release is called; anything else
// says hello. Every answer names the replica (REPLICA_ID).
const replica = process.env.REPLICA_ID ?? "unknown";
let inFlight = 0;
let maxInFlight = 0;
let served = 0;
/** Resolves the stream /events is holding open; replaced once used. */
let release = () => undefined;

const json = (value, init = {}) =>
  new Response(JSON.stringify(value), {
    ...init,
    headers: { "content-type": "application/json", "x-replica": replica },
  });

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

export default async function handler(request, context) {
  const url = new URL(request.url);
  if (url.pathname === "/stats") return json({ replica, inFlight, maxInFlight, served });
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  served++;
  try {
    switch (url.pathname) {
      case "/echo":
        return new Response(request.body, {
          headers: { "content-type": "application/octet-stream", "x-replica": replica },
        });
      case "/count": {
        let bytes = 0;
        for await (const chunk of request.body ?? []) bytes += chunk.byteLength;
        return json({ replica, bytes });
      }
      case "/hold":
        await sleep(Number(url.searchParams.get("ms") ?? "100"), context.signal);
        return json({ replica });
      case "/hang":
        await sleep(3_600_000, context.signal);
        return json({ replica });
      case "/big": {
        let left = Number(url.searchParams.get("bytes") ?? "1048576");
        const chunk = new Uint8Array(64 * 1024).fill(120);
        const body = new ReadableStream({
          pull(controller) {
            if (left <= 0) return controller.close();
            const part = left >= chunk.byteLength ? chunk : chunk.subarray(0, left);
            left -= part.byteLength;
            controller.enqueue(part);
          },
        });
        return new Response(body, {
          headers: { "content-type": "application/octet-stream", "x-replica": replica },
        });
      }
      case "/events": {
        const encoder = new TextEncoder();
        const held = new Promise((resolve) => (release = resolve));
        let sent = 0;
        const body = new ReadableStream({
          async pull(controller) {
            if (sent === 1) await held;
            if (sent === 2) return controller.close();
            controller.enqueue(encoder.encode(sent === 0 ? "data: first\n\n" : "data: second\n\n"));
            sent++;
          },
        });
        return new Response(body, { headers: { "content-type": "text/event-stream", "x-replica": replica } });
      }
      case "/release":
        release();
        return json({ replica, released: true });
      case "/headers":
        return json({ replica, url: request.url, headers: Object.fromEntries(request.headers) });
      default:
        return new Response(`hello from ${replica}\n`, {
          headers: { "content-type": "text/plain", "x-replica": replica },
        });
    }
  } finally {
    inFlight--;
  }
}
