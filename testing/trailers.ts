// A GET that keeps what node:http's own client parses after the body: the trailer fields.
import { get } from "node:http";

export interface ReplyWithTrailers {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly trailers: Record<string, string | undefined>;
}

export function getWithTrailers(url: string): Promise<ReplyWithTrailers> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          trailers: res.trailers,
        }),
      );
      res.on("error", reject);
    }).on("error", reject);
  });
}
