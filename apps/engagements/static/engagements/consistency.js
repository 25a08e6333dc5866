// Checks, in the browser, the RFC 9162 section 2.1.4.2 consistency proof shown on an engagement's page:
// from the opening checkpoint (size first, root first_root) to the latest (size second, root second_root).
// Inputs are on the page; the same check runs offline in compliance_verify.py, which also checks signatures.
(function () {
  "use strict";
  const button = document.getElementById("consistency-check");
  const data = document.getElementById("consistency-data");
  const out = document.getElementById("consistency-result");
  if (!button || !data || !out) return;

  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  async function node(left, right) {
    const buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 1;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  }

  // Sizes can exceed 2^31: BigInt keeps the bit arithmetic exact.
  async function verify(first, second, firstRoot, secondRoot, proof) {
    if (first === second) return proof.length === 0 && eq(firstRoot, secondRoot);
    if (first === 0n) return proof.length === 0;
    if (first > second || proof.length === 0) return false;
    const path = (first & (first - 1n)) === 0n ? [firstRoot, ...proof] : proof.slice();
    let fn = first - 1n;
    let sn = second - 1n;
    while (fn & 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) || fn === sn) {
        fr = await node(c, fr);
        sr = await node(c, sr);
        while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await node(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && eq(fr, firstRoot) && eq(sr, secondRoot);
  }

  button.addEventListener("click", async () => {
    const d = JSON.parse(data.textContent);
    let ok = false;
    try {
      ok = await verify(BigInt(d.first), BigInt(d.second), b64(d.first_root), b64(d.second_root),
                        d.proof.map(b64));
    } catch (e) {
      ok = false;
    }
    out.dataset.result = ok ? "ok" : "failed";
    out.textContent = ok
      ? `Consistent: size ${d.second} extends size ${d.first} (roots and proof checked; signatures: run the verifier).`
      : `NOT consistent: the proof does not lead from size ${d.first} to size ${d.second}.`;
  });
})();
