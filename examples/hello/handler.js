// hello: a fetch-style module handler. Answers "Hello, <name>!" with the name from ?name= or the body.
export default async function hello(request) {
  const url = new URL(request.url);
  const body = request.method === "GET" || request.method === "HEAD" ? "" : (await request.text()).trim();
  const name = url.searchParams.get("name") ?? (body || "world");
  return new Response(`Hello, ${name}!\n`, { headers: { "content-type": "text/plain; charset=utf-8" } });
}
