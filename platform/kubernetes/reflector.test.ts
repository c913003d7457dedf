// The Reflector's list-and-watch loop against a small scripted API server over HTTP: paged lists,
// watch events, "410 Gone" (list again, deliver what vanished), errors (backoff, health, resume from
// the last resourceVersion), a handler that throws, and stop.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { pino } from "pino";
import { waitFor } from "../../testing/gateway.js";
import { Reflector, type ListPage, type ReflectorHandler } from "./reflector.js";

const PATH = "/apis/example.dev/v1/things";
const logger = pino({ level: "silent" });

interface Thing extends KubernetesObject {
  value?: string;
}

/** The parts of an API server a reflector uses, for one collection, scriptable by the test. */
class ScriptedApiServer {
  readonly server: Server;
  readonly objects = new Map<string, Thing>();
  /** The resourceVersion each watch asked for, in order. */
  readonly watchVersions: string[] = [];
  lists = 0;
  /** Lists still to answer with this status instead of the objects. */
  failLists: { count: number; status: number } = { count: 0, status: 500 };
  /** Requests of this kind are never answered (a server that accepted the connection and hangs). */
  hang: "list" | "watch" | undefined;
  private version = 1;
  private readonly watches = new Set<ServerResponse>();

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Adds or changes `name` and tells every open watch (unless `silently`). */
  put(name: string, value: string, options: { silently?: boolean } = {}): void {
    const type = this.objects.has(name) ? "MODIFIED" : "ADDED";
    const object = this.thing(name, value);
    this.objects.set(name, object);
    if (options.silently !== true) this.send({ type, object });
  }

  remove(name: string, options: { silently?: boolean } = {}): void {
    const object = this.objects.get(name);
    if (object === undefined) return;
    this.objects.delete(name);
    const gone = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.version) } };
    if (options.silently !== true) this.send({ type: "DELETED", object: gone });
  }

  /** Writes a raw event to every open watch. */
  send(event: { type: string; object: unknown }): void {
    for (const res of this.watches) res.write(`${JSON.stringify(event)}\n`);
  }

  openWatches(): number {
    return this.watches.size;
  }

  /** Ends every watch: normally, or by breaking the connection. */
  endWatches(how: "normally" | "abruptly"): void {
    for (const res of this.watches) {
      if (how === "normally") res.end();
      else res.socket?.destroy();
    }
    this.watches.clear();
  }

  async close(): Promise<void> {
    this.endWatches("abruptly");
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private thing(name: string, value: string): Thing {
    return {
      apiVersion: "example.dev/v1",
      kind: "Thing",
      metadata: { name, namespace: "team", resourceVersion: String(++this.version) },
      value,
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    if (url.pathname !== PATH) return void res.writeHead(404).end();
    const watch = url.searchParams.get("watch") === "true";
    if (watch) this.watchVersions.push(url.searchParams.get("resourceVersion") ?? "");
    else this.lists += 1;
    if (this.hang === (watch ? "watch" : "list")) return;
    if (watch) {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      this.watches.add(res);
      res.on("close", () => this.watches.delete(res));
      return;
    }
    if (this.failLists.count > 0) {
      this.failLists.count -= 1;
      return void res.writeHead(this.failLists.status).end(JSON.stringify({ kind: "Status", code: 500 }));
    }
    const names = [...this.objects.keys()].sort();
    const limit = Number(url.searchParams.get("limit") ?? names.length);
    const from = Number(url.searchParams.get("continue") ?? 0);
    const page = names.slice(from, from + limit);
    const next = from + limit < names.length ? String(from + limit) : undefined;
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        metadata: {
          resourceVersion: String(this.version),
          ...(next === undefined ? {} : { continue: next }),
        },
        items: page.map((name) => this.objects.get(name)),
      }),
    );
  }
}

/** What the handler was told, as short strings: "put a=1", "delete b", "synced". */
class Recorder implements ReflectorHandler<Thing> {
  readonly events: string[] = [];
  put(object: Thing): void {
    this.events.push(`put ${object.metadata?.name}=${object.value}`);
  }
  delete(object: Thing): void {
    this.events.push(`delete ${object.metadata?.name}`);
  }
  synced(): void {
    this.events.push("synced");
  }
}

describe("Reflector", () => {
  let api: ScriptedApiServer;
  let server: string;
  let reflector: Reflector<Thing> | undefined;

  beforeEach(async () => {
    api = new ScriptedApiServer();
    server = await api.listen();
  });

  afterEach(async () => {
    await reflector?.stop();
    reflector = undefined;
    await api.close();
  });

  function start(handler: ReflectorHandler<Thing>): Reflector<Thing> {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: "fake", server, skipTLSVerify: true }],
      users: [{ name: "test" }],
      contexts: [{ name: "fake", cluster: "fake", user: "test" }],
      currentContext: "fake",
    });
    const list = async ({ limit, continueToken }: { limit: number; continueToken: string | undefined }) => {
      const query = new URLSearchParams({
        limit: String(limit),
        ...(continueToken && { continue: continueToken }),
      });
      const res = await fetch(`${server}${PATH}?${query.toString()}`);
      if (!res.ok) throw Object.assign(new Error(`list answered ${res.status}`), { statusCode: res.status });
      return (await res.json()) as ListPage<Thing>;
    };
    reflector = new Reflector<Thing>(
      {
        what: "things",
        kubeConfig,
        path: PATH,
        list,
        logger,
        pageSize: 2,
        initialBackoffMs: 20,
        maxBackoffMs: 200,
      },
      handler,
    );
    reflector.start();
    return reflector;
  }

  it("lists page by page, syncs, then delivers watch events", async () => {
    api.put("a", "1");
    api.put("b", "1");
    api.put("c", "1");
    const recorder = new Recorder();
    const informer = start(recorder);
    await informer.whenSynced();
    expect(api.lists).toBe(2);
    expect(recorder.events).toEqual(["put a=1", "put b=1", "put c=1", "synced"]);
    await waitFor("the watch", () => api.openWatches() === 1);
    expect(informer.healthy()).toBe(true);

    api.put("b", "2");
    api.remove("a");
    api.put("d", "1");
    await waitFor("three events", () => recorder.events.length === 7);
    expect(recorder.events.slice(4)).toEqual(["put b=2", "delete a", "put d=1"]);
    expect([...informer.objects()].map((thing) => thing.metadata?.name).sort()).toEqual(["b", "c", "d"]);
  });

  it("lists again on 410 Gone and delivers what changed meanwhile, deletes included, and nothing else", async () => {
    api.put("a", "1");
    api.put("b", "1");
    api.put("c", "1");
    const recorder = new Recorder();
    start(recorder);
    await waitFor("the watch", () => api.openWatches() === 1);
    // Changes the watch never carries: the server's history no longer reaches back to them.
    api.remove("a", { silently: true });
    api.put("b", "2", { silently: true });
    api.send({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
    await waitFor("the relist", () => recorder.events.length === 7);
    expect(recorder.events.slice(4)).toEqual(["put b=2", "delete a", "synced"]);
    await waitFor("a new watch from the new list", () => api.openWatches() === 1);
    // Two pages at first, one (b and c) the second time.
    expect(api.lists).toBe(3);
  });

  it("is unhealthy while lists fail, retries with backoff, and recovers", async () => {
    api.put("a", "1");
    api.failLists = { count: 3, status: 500 };
    const recorder = new Recorder();
    const informer = start(recorder);
    await waitFor("a failed list", () => api.lists >= 1 && informer.health().failingSinceMs !== undefined);
    expect(informer.healthy()).toBe(false);
    expect(informer.health().lastError).toMatch(/500/);
    expect(recorder.events).toEqual([]);
    await informer.whenSynced();
    await waitFor("the watch after recovery", () => informer.healthy());
    expect(api.lists).toBe(4);
    expect(recorder.events).toEqual(["put a=1", "synced"]);
  });

  it("resumes a broken watch from the last resourceVersion it saw, without listing again", async () => {
    api.put("a", "1");
    const recorder = new Recorder();
    const informer = start(recorder);
    await waitFor("the watch", () => api.openWatches() === 1);
    api.put("a", "2");
    await waitFor("the change", () => recorder.events.includes("put a=2"));
    const seen = [...informer.objects()][0]?.metadata?.resourceVersion;
    api.endWatches("abruptly");
    await waitFor("a new watch", () => api.watchVersions.length === 2 && api.openWatches() === 1);
    expect(api.watchVersions[1]).toBe(seen);
    expect(api.lists).toBe(1);
    api.put("b", "1");
    await waitFor("an event on the new watch", () => recorder.events.includes("put b=1"));
  });

  it("keeps going after a watch that ends normally, and after a handler that throws", async () => {
    const events: string[] = [];
    start({
      put: (thing) => {
        events.push(`put ${thing.metadata?.name}`);
        if (thing.metadata?.name === "bad") throw new Error("handler bug");
      },
      delete: () => undefined,
      synced: () => undefined,
    });
    await waitFor("the watch", () => api.openWatches() === 1);
    api.put("bad", "1");
    api.endWatches("normally");
    await waitFor("a new watch", () => api.watchVersions.length === 2 && api.openWatches() === 1);
    api.put("good", "1");
    await waitFor("the next event", () => events.includes("put good"));
    expect(events).toEqual(["put bad", "put good"]);
  });

  it.each<["list" | "watch"]>([["list"], ["watch"]])(
    "stops at once while a %s request hangs unanswered",
    async (request) => {
      api.hang = request;
      const recorder = new Recorder();
      const informer = start(recorder);
      await waitFor(`the ${request} request`, () =>
        request === "list" ? api.lists === 1 : api.watchVersions.length === 1,
      );
      await informer.stop();
      expect(recorder.events).toEqual(request === "list" ? [] : ["synced"]);
    },
  );

  it("stops: the loop ends and no watch is left open", async () => {
    const recorder = new Recorder();
    const informer = start(recorder);
    await waitFor("the watch", () => api.openWatches() === 1);
    await informer.stop();
    await waitFor("the watch to close", () => api.openWatches() === 0);
    expect(api.watchVersions).toHaveLength(1);
    expect(recorder.events).toEqual(["synced"]);
  });
});
