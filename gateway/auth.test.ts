import { Credentials } from "./auth.js";

const basic = (userPassword: string): string => `Basic ${Buffer.from(userPassword).toString("base64")}`;

describe("Credentials", () => {
  const both = new Credentials({
    required: true,
    token: "t0ken",
    basic: { user: "admin", password: "pa:ss" },
  });

  it.each([
    ["Bearer t0ken", undefined],
    ["bearer t0ken", undefined],
    ["Bearer  t0ken ", undefined],
    [basic("admin:pa:ss"), undefined],
    [undefined, "missing"],
    ["", "missing"],
    ["Bearer t0ke", "wrong"],
    ["Bearer t0kenX", "wrong"],
    ["Bearer admin:pa:ss", "wrong"],
    [basic("admin:wrong"), "wrong"],
    [basic("t0ken:"), "wrong"],
    ["Bearer", "malformed"],
    ["Bearer ", "malformed"],
    ["t0ken", "malformed"],
    ["Digest t0ken", "malformed"],
    ["Basic not base64!", "malformed"],
    [basic("no-colon"), "malformed"],
  ])("%j → %s", (header, problem) => {
    expect(both.check(header)).toBe(problem);
  });

  it("refuses a scheme that is not configured", () => {
    const tokenOnly = new Credentials({ required: true, token: "t0ken", basic: undefined });
    expect(tokenOnly.check(basic("admin:pa:ss"))).toBe("wrong");
    const basicOnly = new Credentials({
      required: true,
      token: undefined,
      basic: { user: "u", password: "p" },
    });
    expect(basicOnly.check("Bearer t0ken")).toBe("wrong");
    expect(basicOnly.check(basic("u:p"))).toBeUndefined();
  });

  it("accepts anything when credentials are off", () => {
    expect(new Credentials({ required: false }).check(undefined)).toBeUndefined();
  });

  it.each([
    ["Bearer abc", "bearer"],
    ["basic abc", "basic"],
    ["Digest abc", "other"],
    [undefined, "none"],
  ])("names the scheme of %j as %s without the value", (header, scheme) => {
    expect(Credentials.schemeOf(header)).toBe(scheme);
  });
});
