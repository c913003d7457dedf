// __NAME__: a Lambda handler as AWS runs it; Flint passes an API Gateway v2 HTTP event.
export const handler = async (event) => ({
  statusCode: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    function: "__NAME__",
    message: "Hello from __NAME__",
    path: event.rawPath,
    received: event.body ?? "",
  }),
});
