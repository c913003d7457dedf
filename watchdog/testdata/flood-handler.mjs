// Test fixture: a module handler that floods its stdout on a call, for the log buffer's bounds.
// GET /flood?lines=N&bytes=B writes N lines of B bytes each (plus their newlines), then "flood done".
export default async function handler(request) {
  const url = new URL(request.url);
  const lines = Number(url.searchParams.get("lines") ?? "1");
  const bytes = Number(url.searchParams.get("bytes") ?? "1024");
  const line = Buffer.alloc(bytes + 1, "f");
  line[bytes] = 10;
  let sinceYield = 0;
  for (let i = 0; i < lines; i++) {
    // process.stdout is synchronous on a pipe on Linux: each write waits for the reader.
    process.stdout.write(line);
    sinceYield += line.length;
    // Let the event loop turn now and then, so the watchdog's stuck-loop guard stays quiet.
    if (sinceYield >= 1 << 20) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  process.stdout.write("flood done\n");
  return new Response(`wrote ${lines * (bytes + 1)} bytes\n`);
}
