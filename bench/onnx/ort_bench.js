// ONNX Runtime side of bench/onnx.sh: times onnxruntime-node on one model
// with one thread, with the same inputs and method as bench/onnx_bench.c.
//
//   node ort_bench.js MODEL BATCH [SEQ] [SECONDS]
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [model, batchArg, seqArg, secArg] = process.argv.slice(2);
  const batch = Number(batchArg), seq = Number(seqArg || 128), seconds = Number(secArg || 2);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const declared = meta && meta.shape ? meta.shape : null;
    const isInt = meta ? meta.type === 'int64' : /ids|mask/.test(name);
    const dims = (declared || [batch, seq]).map((d, k) =>
      (typeof d === 'number' && d >= 0) ? d : (k === 0 ? batch : seq));
    const n = dims.reduce((a, b) => a * b, 1);
    if (isInt) {
      const data = new BigInt64Array(n);
      for (let j = 0; j < n; j++) data[j] = BigInt(/mask/.test(name) ? 1 : (7 * j) % 100);
      feeds[name] = new ort.Tensor('int64', data, dims);
    } else {
      const data = new Float32Array(n);
      for (let j = 0; j < n; j++) data[j] = 0.5 * Math.fround(Math.sin(Math.fround(0.37 * j)));
      feeds[name] = new ort.Tensor('float32', data, dims);
    }
  }
  const now = () => Number(process.hrtime.bigint()) / 1e3;
  let out = await session.run(feeds);
  const warm = now() + 200000;
  while (now() < warm) out = await session.run(feeds);
  const rounds = [];
  const stop = now() + seconds * 1e6;
  while (now() < stop || rounds.length < 3) {
    const start = now();
    let iters = 0, t;
    do {
      out = await session.run(feeds);
      iters++;
      t = now();
    } while (t - start < 50000);
    rounds.push((t - start) / iters);
  }
  rounds.sort((a, b) => a - b);
  const first = out[session.outputNames[0]].data;
  let sum = 0;
  for (let j = 0; j < first.length; j++) sum += first[j];
  console.log(`us_per_inference=${rounds[rounds.length >> 1].toFixed(2)} ` +
              `checksum=${sum.toPrecision(6)} load_ms=${loadMs.toFixed(1)}`);
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message}`);
  process.exit(1);
});
