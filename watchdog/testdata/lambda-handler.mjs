// Test fixture: Lambda-style handlers (API Gateway HTTP API v2 events) chosen by the request path.
export async function handler(event, context) {
  switch (event.rawPath) {
    case "/event":
      return {
        statusCode: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          event,
          awsRequestId: context.awsRequestId,
          functionName: context.functionName,
          remainingMs: context.getRemainingTimeInMillis(),
        }),
      };
    case "/binary":
      return {
        statusCode: 201,
        headers: { "content-type": "application/octet-stream", "x-custom": "yes", "x-number": 7 },
        cookies: ["a=1; Path=/", "b=2"],
        body: Buffer.from([0, 1, 2, 255]).toString("base64"),
        isBase64Encoded: true,
      };
    case "/object":
      return { hello: "world" };
    case "/string":
      return "just text";
    case "/throw":
      throw new Error("lambda boom");
    case "/garbage":
      return { statusCode: "teapot" };
    case "/undefined":
      return undefined;
    default:
      return { statusCode: 404, body: "not found" };
  }
}

/** The older callback style, picked with FLINT_EXPORT=callbackHandler FLINT_HANDLER_SHAPE=lambda. */
export function callbackHandler(event, context, callback) {
  setImmediate(() => callback(null, { statusCode: 200, body: `callback ${event.rawPath}` }));
}
