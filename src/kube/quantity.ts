// Kubernetes resource quantities ("500m", "4Gi", "1.5G", "2e3") as numbers.
// Hand-written because client-node's quantityToScalar rejects valid forms such as
// "1.5Gi" and "1e3"; the grammar is small and fixed by the Kubernetes API.

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
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

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The value of a quantity, or undefined when the text is not a valid quantity. */
export function parseQuantity(text: string | number | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (typeof text === "number") return text;
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX[m[3] ?? ""];
}

/** Bytes as a binary-suffixed quantity ("16Gi"), exact when possible. */
export function formatBytes(bytes: number): string {
  for (const [suffix, size] of [["Ki", 2 ** 10], ["Mi", 2 ** 20], ["Gi", 2 ** 30]] as const) {
    if (bytes >= size && bytes % size === 0 && (bytes / size) % 1024 !== 0) {
      return `${bytes / size}${suffix}`;
    }
  }
  if (bytes % 2 ** 30 === 0 && bytes > 0) return `${bytes / 2 ** 30}Gi`;
  return String(Math.floor(bytes));
}
