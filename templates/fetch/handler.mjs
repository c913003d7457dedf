// __NAME__: answers "Hello from __NAME__" and echoes a JSON body back. Called with a standard Request.
export default async function handler(request) {
  const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
  return Response.json({ function: "__NAME__", message: "Hello from __NAME__", received: body });
}
