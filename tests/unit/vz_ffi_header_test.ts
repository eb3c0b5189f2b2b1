// ffi/symbols.ts against objc-shim/vzshim.h: the same functions, with the types the header's
// conventions map to, nonblocking exactly where the header says VZK_NONBLOCKING, the same ABI
// version, and every declared function defined in vzshim.m. A drift here would crash or
// corrupt memory on a Mac, where no test of ours runs.

import assert from "node:assert/strict";
import { VZSHIM_ABI_VERSION, VZSHIM_SYMBOLS } from "../../ffi/symbols.ts";

interface Declared {
  name: string;
  parameters: string[];
  result: string;
  nonblocking: boolean;
}

/** C type (as written in the header) -> Deno FFI type, per the header's conventions. */
const C_TO_DENO: Record<string, string> = {
  "void": "void",
  "int32_t": "i32",
  "uint32_t": "u32",
  "int64_t": "i64",
  "uint64_t": "u64",
  "const char *": "buffer",
  "char **": "buffer",
  "char *": "pointer",
  "vzk_vm_t": "pointer",
};

function denoType(cType: string, where: string): string {
  const t = C_TO_DENO[cType];
  if (!t) throw new Error(`${where}: C type "${cType}" has no Deno FFI mapping`);
  return t;
}

/** "const char * name" -> "const char *"; "int32_t timeout_ms" -> "int32_t". */
function paramType(param: string): string {
  const m = /^(.*?)\s*\b[A-Za-z_]\w*$/.exec(param.trim());
  const t = (m ? m[1] : param).replace(/\s*\*\s*/g, " *").replace(/\* \*/g, "**").trim();
  return t.replace(/\s+/g, " ").replace(/ \*\*$/, " **");
}

export function parseHeader(text: string): { functions: Declared[]; abi: number } {
  const functions: Declared[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line.startsWith("VZK_API ")) {
      // A function declaration without the marker would be missed: refuse it.
      if (/^[A-Za-z_][\w\s*]*\bvzk_\w+\s*\(/.test(line) && !line.startsWith("#")) {
        throw new Error(`vzshim.h:${i + 1}: declaration without VZK_API: ${line}`);
      }
      continue;
    }
    const m = /^VZK_API\s+(VZK_NONBLOCKING\s+)?(.+?)\s*\b(vzk_\w+)\((.*)\);$/.exec(line);
    if (!m) throw new Error(`vzshim.h:${i + 1}: not "VZK_API <type> <name>(<params>);": ${line}`);
    const [, nb, resultC, name, paramsC] = m;
    const where = `vzshim.h:${i + 1} ${name}`;
    const params = paramsC.trim() === "void" || paramsC.trim() === ""
      ? []
      : paramsC.split(",").map((p) => denoType(paramType(p), where));
    functions.push({
      name,
      parameters: params,
      result: denoType(resultC.replace(/\s*\*\s*$/, " *").trim(), where),
      nonblocking: !!nb,
    });
  }
  const abi = Number(/#define VZK_ABI_VERSION (\d+)/.exec(text)?.[1]);
  return { functions, abi };
}

const header = Deno.readTextFileSync(new URL("../../objc-shim/vzshim.h", import.meta.url));
const source = Deno.readTextFileSync(new URL("../../objc-shim/vzshim.m", import.meta.url));

Deno.test("vz ffi: the header parser reads types, markers and refuses unmarked declarations", () => {
  const sample = [
    "#define VZK_ABI_VERSION 7",
    "VZK_API int32_t vzk_a(void);",
    "VZK_API VZK_NONBLOCKING char *vzk_b(vzk_vm_t vm, int32_t timeout_ms);",
    "VZK_API vzk_vm_t vzk_c(const char *json, char **error_out);",
  ].join("\n");
  assert.deepEqual(parseHeader(sample), {
    abi: 7,
    functions: [
      { name: "vzk_a", parameters: [], result: "i32", nonblocking: false },
      { name: "vzk_b", parameters: ["pointer", "i32"], result: "pointer", nonblocking: true },
      { name: "vzk_c", parameters: ["buffer", "buffer"], result: "pointer", nonblocking: false },
    ],
  });
  assert.throws(() => parseHeader("char *vzk_hidden(void);"), /without VZK_API/);
  assert.throws(() => parseHeader("VZK_API double vzk_d(void);"), /no Deno FFI mapping/);
});

Deno.test("vz ffi: the symbol table is exactly objc-shim/vzshim.h", () => {
  const { functions, abi } = parseHeader(header);
  assert.equal(abi, VZSHIM_ABI_VERSION, "VZK_ABI_VERSION == VZSHIM_ABI_VERSION");
  assert.ok(functions.length >= 10, `header declares ${functions.length} functions`);
  const table = VZSHIM_SYMBOLS as Record<
    string,
    { parameters: readonly string[]; result: string; nonblocking?: boolean }
  >;
  assert.deepEqual(
    Object.keys(table).sort(),
    functions.map((f) => f.name).sort(),
    "same function names",
  );
  for (const f of functions) {
    const entry = table[f.name];
    assert.deepEqual(
      { parameters: [...entry.parameters], result: entry.result, nonblocking: !!entry.nonblocking },
      { parameters: f.parameters, result: f.result, nonblocking: f.nonblocking },
      f.name,
    );
  }
});

Deno.test("vz ffi: vzshim.m defines every function the header declares", () => {
  for (const f of parseHeader(header).functions) {
    assert.match(source, new RegExp(`^[\\w ]+\\*?\\s*${f.name}\\(`, "m"), `${f.name} defined`);
  }
});
