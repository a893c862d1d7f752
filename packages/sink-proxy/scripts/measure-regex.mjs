// Worst regular expressions found per program size against the longest input a
// regex sees (8 KiB): `node scripts/measure-regex.mjs [inputLength]`. README, Performance.
import { RE2JS } from 're2js';

const L = Number(process.argv[2] ?? 8192);
let seed = 7;
const text = (alpha) => '/' + Array.from({ length: L - 1 }, () => alpha[((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16) % alpha.length]).join('');
const time = (re, s) => {
  re.test(s);
  const t = performance.now();
  for (let i = 0; i < 3; i++) re.test(s);
  return (performance.now() - t) / 3;
};
const worst = new Map();
for (let k = 0; k <= 120; k += 1) {
  for (const n of [8, 14, 16, 22, 30, 40]) {
    for (const [src, alpha] of [
      [`[^x]{0,${k}}a[^x]{${n}}[^ab/]`, 'ab'],
      [`[^x]{0,${k}}[ac]b[^x]{${n}}[^abcd/]`, 'abcd'],
      [`${`[^x]{0,${k}}`.repeat(3)}[^a/]`, 'a'],
    ]) {
      const re = RE2JS.compile(src);
      const size = re.programSize();
      const bucket = [64, 80, 96, 112, 128, 160, 256].find((b) => size <= b);
      if (bucket === undefined) continue;
      const ms = time(re, text(alpha));
      if (!worst.has(bucket) || worst.get(bucket).ms < ms) worst.set(bucket, { ms, size, src });
    }
  }
}
for (const [bucket, { ms, size, src }] of [...worst].sort((a, b) => a[0] - b[0])) console.log(`<= ${bucket}\t${ms.toFixed(1)} ms\t${size}\t${src}`);
