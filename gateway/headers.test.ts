import { downstreamHeaders, readRequestHead, upstreamHeaders } from "./headers.js";

const by = { callId: "id-1", clientAddress: "10.0.0.9", encrypted: false, prefix: "/function/hello" };

function pairs(headers: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < headers.length; i += 2) out.push([headers[i]!, headers[i + 1]!]);
  return out;
}

describe("readRequestHead and upstreamHeaders", () => {
  it("drops hop-by-hop headers, and those Connection names, keeping the rest in order", () => {
    const head = readRequestHead([
      "Host",
      "gw:8080",
      "Connection",
      "keep-alive, X-Secret",
      "Keep-Alive",
      "timeout=5",
      "Proxy-Authorization",
      "Basic abc",
      "Proxy-Connection",
      "keep-alive",
      "TE",
      "trailers",
      "Trailer",
      "X-Checksum",
      "Upgrade",
      "h2c",
      "X-Secret",
      "1",
      "Expect",
      "100-continue",
      "Accept",
      "text/plain",
      "X-Multi",
      "a",
      "x-multi",
      "b",
    ]);
    expect(pairs(upstreamHeaders(head, by))).toEqual([
      ["Host", "gw:8080"],
      ["Accept", "text/plain"],
      ["X-Multi", "a"],
      ["x-multi", "b"],
      ["x-call-id", "id-1"],
      ["x-forwarded-for", "10.0.0.9"],
      ["x-forwarded-host", "gw:8080"],
      ["x-forwarded-proto", "http"],
      ["x-forwarded-prefix", "/function/hello"],
    ]);
  });

  it("appends to X-Forwarded-For and keeps Host and Proto from a proxy in front", () => {
    const head = readRequestHead([
      "Host",
      "gw",
      "X-Forwarded-For",
      "1.1.1.1",
      "X-Forwarded-For",
      "2.2.2.2",
      "X-Forwarded-Host",
      "api.example.com",
      "X-Forwarded-Proto",
      "https",
      "X-Forwarded-Prefix",
      "/evil",
    ]);
    const headers = Object.fromEntries(pairs(upstreamHeaders(head, by)));
    expect(headers).toMatchObject({
      "x-forwarded-for": "1.1.1.1, 2.2.2.2, 10.0.0.9",
      "x-forwarded-host": "api.example.com",
      "x-forwarded-proto": "https",
      "x-forwarded-prefix": "/function/hello",
    });
  });

  it.each([
    ["abc-123", "abc-123"],
    ["a.b:c_d-e", "a.b:c_d-e"],
    ["has space", undefined],
    ["x".repeat(129), undefined],
    ["<script>", undefined],
  ])("keeps X-Call-Id %j only if plain", (value, kept) => {
    expect(readRequestHead(["X-Call-Id", value]).callId).toBe(kept);
  });

  it.each([
    [[], false, undefined],
    [["Content-Length", "0"], false, 0],
    [["Content-Length", "12"], true, 12],
    [["Transfer-Encoding", "chunked"], true, undefined],
  ])("%j has a body: %s", (raw, hasBody, contentLength) => {
    const head = readRequestHead(raw);
    expect(head.hasBody).toBe(hasBody);
    expect(head.contentLength).toBe(contentLength);
    expect(head.forward).not.toContain("Transfer-Encoding");
  });

  it("measures header bytes and reads Authorization", () => {
    const head = readRequestHead(["Host", "gw", "Authorization", "Bearer x"]);
    expect(head.sizeBytes).toBe(4 + 2 + 13 + 8);
    expect(head.authorization).toBe("Bearer x");
  });
});

describe("downstreamHeaders", () => {
  it("drops hop-by-hop headers and sets the gateway's call id and cold-start header", () => {
    const headers = downstreamHeaders(
      [
        "Content-Type",
        "text/plain",
        "Connection",
        "keep-alive, X-Internal",
        "Keep-Alive",
        "timeout=5",
        "Transfer-Encoding",
        "chunked",
        "X-Internal",
        "1",
        "X-Call-Id",
        "from-replica",
        "Set-Cookie",
        "a=1",
        "Set-Cookie",
        "b=2",
      ],
      "id-1",
      1234.4,
    );
    expect(pairs(headers)).toEqual([
      ["Content-Type", "text/plain"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
      ["x-call-id", "id-1"],
      ["x-flint-cold-start", "1234"],
    ]);
  });

  it("adds no cold-start header to a warm call", () => {
    expect(downstreamHeaders(["X-Flint-Cold-Start", "5"], "id", undefined)).toEqual(["x-call-id", "id"]);
  });
});
