// Kubernetes resource quantities (100m, 0.5, 64Mi, 1G), as spec.resources and the controller's defaults write them.

/** The quantity syntax the CRD accepts for spec.resources. */
export const QUANTITY_RE = /^([0-9]+(\.[0-9]+)?)(m|[kMGTPE]i?)?$/;

const QUANTITY_SCALE: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity that matched QUANTITY_RE, in base units (cores, bytes), for comparing a request with a limit. */
export function quantityValue(text: string): number {
  const match = QUANTITY_RE.exec(text);
  if (match === null) throw new TypeError(`not a quantity: ${JSON.stringify(text)}`);
  return Number(match[1]) * (QUANTITY_SCALE[match[3] ?? ""] ?? Number.NaN);
}
