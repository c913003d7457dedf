// lambda-echo: an AWS Lambda handler (API Gateway HTTP API v2 event) that echoes the request as JSON.
export async function handler(event, context) {
  const body = event.isBase64Encoded ? Buffer.from(event.body ?? "", "base64").toString("utf8") : event.body;
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      method: event.requestContext.http.method,
      path: event.rawPath,
      query: event.queryStringParameters ?? {},
      body: body ?? null,
      requestId: context.awsRequestId,
    }),
  };
}
