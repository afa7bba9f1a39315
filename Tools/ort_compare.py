#!/usr/bin/env python3
"""Runs a SkyNN model file in ONNX Runtime (fp32 and static int8 QDQ) for comparison
with `skymodel bench`: same architecture, same float weights, same thread count.

    pip install onnx onnxruntime numpy
    skymodel create --arch realbogus -o rb.skynn
    python3 Tools/ort_compare.py rb.skynn --threads 1 [--json]

Prints median latency per call (ms) at batch 1 and 64, and checks the ONNX fp32
graph against SkyNN's float reference outputs when --check SKYMODEL (the skymodel
binary) is given.
The model file is read directly (header, section table, JSON graph, blobs)."""
import argparse, json, struct, sys, tempfile, time, os
import numpy as np

def read_skynn(path):
    b = open(path, 'rb').read()
    if b[:8] != b'SKYNNMDL':
        sys.exit(f'{path}: not a SkyNN model')
    version, count = struct.unpack_from('<II', b, 8)
    sections = {}
    for s in range(count):
        kind, _, off, length, _ = struct.unpack_from('<IIQQQ', b, 32 + 32 * s)
        sections[kind] = b[off:off + length]
    graph = json.loads(sections[1])
    blobs = sections[2]
    def arr(ref, dtype):
        if ref is None: return None
        return np.frombuffer(blobs, dtype=dtype, count=ref['count'], offset=ref['offset'])
    for n in graph['nodes']:
        w = n.get('weights')
        if w:
            n['float'] = arr(w.get('float'), np.float32)
            n['floatBias'] = arr(w.get('floatBias'), np.float32)
            n['runningMean'] = arr(w.get('runningMean'), np.float32)
            n['runningVar'] = arr(w.get('runningVar'), np.float32)
    return graph

def op_kind(op):
    return next(iter(op)) if isinstance(op, dict) else op

def to_onnx(g):
    import onnx
    from onnx import helper, TensorProto, numpy_helper
    nodes, inits = [], []
    ishape = g['inputShape']
    names = {0: 'input'}
    shapes = [n['shape'] for n in g['nodes']]
    def act(out, a):
        k = op_kind(a)
        if k == 'none': return out
        y = out + '_act'
        if k == 'relu': nodes.append(helper.make_node('Relu', [out], [y]))
        elif k == 'relu6':
            inits.extend([numpy_helper.from_array(np.array(0, np.float32), y + '_lo'), numpy_helper.from_array(np.array(6, np.float32), y + '_hi')])
            nodes.append(helper.make_node('Clip', [out, y + '_lo', y + '_hi'], [y]))
        elif k == 'leaky': nodes.append(helper.make_node('LeakyRelu', [out], [y], alpha=float(a['leaky']['alpha'])))
        return y
    for i, n in enumerate(g['nodes'][1:], start=1):
        op = n['op']; k = op_kind(op); x = names[n['inputs'][0]]; out = f'n{i}'
        if k == 'conv2d':
            c = op['conv2d']['_0']
            xs = shapes[n['inputs'][0]]
            w = n['float'].reshape(c['outChannels'], c['kernelH'], c['kernelW'], xs['c'] // c['groups']).transpose(0, 3, 1, 2)
            inits += [numpy_helper.from_array(np.ascontiguousarray(w), out + '_w'), numpy_helper.from_array(n['floatBias'].copy(), out + '_b')]
            nodes.append(helper.make_node('Conv', [x, out + '_w', out + '_b'], [out], kernel_shape=[c['kernelH'], c['kernelW']],
                                          strides=[c['strideH'], c['strideW']], pads=[c['padTop'], c['padLeft'], c['padBottom'], c['padRight']],
                                          group=c['groups']))
            out = act(out, c['activation'])
        elif k == 'dense':
            d = op['dense']; xs = shapes[n['inputs'][0]]
            # SkyNN flattens in HWC order: NCHW -> NHWC, then Flatten.
            t = out + '_nhwc'
            nodes.append(helper.make_node('Transpose', [x], [t], perm=[0, 2, 3, 1]))
            f = out + '_flat'
            nodes.append(helper.make_node('Flatten', [t], [f], axis=1)); x = f
            w = n['float'].reshape(d['outFeatures'], -1)
            inits += [numpy_helper.from_array(w.copy(), out + '_w'), numpy_helper.from_array(n['floatBias'].copy(), out + '_b')]
            nodes.append(helper.make_node('Gemm', [x, out + '_w', out + '_b'], [out], transB=1))
            out = act(out, d['activation'])
            # Keep a 4-D NCHW tensor so later ops (and the NHWC transpose above) see one layout.
            r = out + '_4d'
            inits.append(numpy_helper.from_array(np.array([0, -1, 1, 1], np.int64), r + '_shape'))
            nodes.append(helper.make_node('Reshape', [out, r + '_shape'], [r])); out = r
        elif k in ('maxPool', 'avgPool'):
            p = op[k]['_0']
            nodes.append(helper.make_node('MaxPool' if k == 'maxPool' else 'AveragePool', [x], [out], kernel_shape=[p['size']] * 2, strides=[p['stride']] * 2))
        elif k == 'globalAvgPool': nodes.append(helper.make_node('GlobalAveragePool', [x], [out]))
        elif k == 'add':
            nodes.append(helper.make_node('Add', [x, names[n['inputs'][1]]], [out])); out = act(out, op['add']['activation'])
        elif k == 'concat': nodes.append(helper.make_node('Concat', [names[j] for j in n['inputs']], [out], axis=1))
        elif k == 'flatten': out = x   # applied (in HWC order) by the dense that follows
        elif k == 'upsampleNearest':
            f = float(op['upsampleNearest']['factor'])
            inits.append(numpy_helper.from_array(np.array([1, 1, f, f], np.float32), out + '_scales'))
            nodes.append(helper.make_node('Resize', [x, '', out + '_scales'], [out], mode='nearest'))
        elif k == 'batchNorm':
            # Inference mode (running statistics), as SkyNN's float reference; int8 SkyNN runs it folded.
            b = op['batchNorm']['_0']
            for nm in ('float', 'floatBias', 'runningMean', 'runningVar'):
                inits.append(numpy_helper.from_array(n[nm].copy(), out + '_' + nm))
            nodes.append(helper.make_node('BatchNormalization', [x] + [out + '_' + nm for nm in ('float', 'floatBias', 'runningMean', 'runningVar')],
                                          [out], epsilon=float(b['epsilon'])))
            out = act(out, b['activation'])
        elif k == 'sigmoid': nodes.append(helper.make_node('Sigmoid', [x], [out]))
        elif k == 'softmax':
            fl = out + '_2d'
            nodes.append(helper.make_node('Flatten', [x], [fl], axis=1))
            nodes.append(helper.make_node('Softmax', [fl], [out], axis=1))
        else: sys.exit(f'unsupported op {k}')
        names[i] = out
    inp = helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N', ishape['c'], ishape['h'], ishape['w']])
    last = g['nodes'][-1]; sh = last['shape']
    dims = ['N', sh['h'] * sh['w'] * sh['c']] if op_kind(last['op']) == 'softmax' else ['N', sh['c'], sh['h'], sh['w']]
    outp = helper.make_tensor_value_info(names[len(g['nodes']) - 1], TensorProto.FLOAT, dims)
    model = helper.make_model(helper.make_graph(nodes, g['name'], [inp], [outp], inits), opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8   # opset 17's IR version: ONNX Runtime builds older than the onnx package refuse newer ones
    onnx.checker.check_model(model)
    return model

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model'); ap.add_argument('--threads', type=int, default=1); ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--json', action='store_true')
    ap.add_argument('--reduce-range', action='store_true', help='ORT int8 with 7-bit weights (its reduce_range), as skymodel quantize --weight-bits 7')
    ap.add_argument('--skymodel', metavar='BIN', help='also time SkyNN int8 (skymodel latency), alternating with ONNX Runtime, and print ratios')
    ap.add_argument('--check', metavar='SKYMODEL', help='path of the skymodel binary: compare ONNX fp32 outputs with SkyNN\'s float reference')
    a = ap.parse_args()
    import onnx, onnxruntime as ort
    from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantFormat, QuantType
    g = read_skynn(a.model)
    s = g['inputShape']
    model = to_onnx(g)
    tmp = tempfile.mkdtemp()
    fp32 = os.path.join(tmp, 'fp32.onnx'); int8 = os.path.join(tmp, 'int8.onnx')
    onnx.save(model, fp32)
    rng = np.random.default_rng(1)
    class Reader(CalibrationDataReader):
        def __init__(self): self.items = [{'input': rng.standard_normal((1, s['c'], s['h'], s['w'])).astype(np.float32)} for _ in range(8)]
        def get_next(self): return self.items.pop() if self.items else None
    quantize_static(fp32, int8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, reduce_range=a.reduce_range)
    results = {'model': g['name'], 'threads': a.threads, 'ort_version': ort.__version__, 'ort_reduce_range': a.reduce_range}
    if a.check:
        import subprocess
        ours = json.loads(subprocess.run([a.check, 'predict', a.model, '--salt', '2'], check=True, capture_output=True, text=True).stdout)['float']
        n = s['h'] * s['w'] * s['c']
        x = ((((np.arange(n) + 2 * 13) * 7919) % 255) / 128 - 1).astype(np.float32).reshape(1, s['h'], s['w'], s['c']).transpose(0, 3, 1, 2)
        so = ort.SessionOptions(); so.intra_op_num_threads = a.threads
        theirs = ort.InferenceSession(fp32, so, providers=['CPUExecutionProvider']).run(None, {'input': np.ascontiguousarray(x)})[0]
        t = theirs.reshape(theirs.shape[0], theirs.shape[1], -1).transpose(0, 2, 1).reshape(-1) if theirs.ndim == 4 else theirs.reshape(-1)
        diff = float(np.max(np.abs(t - np.array(ours, np.float32))))
        results['fp32_max_abs_diff_vs_skynn_float'] = diff
        print(f'check: ONNX fp32 vs SkyNN float reference, max |diff| = {diff:.3g} over {t.size} outputs', file=sys.stderr)
        if diff > 1e-3 * max(1.0, float(np.max(np.abs(t)))): sys.exit('check failed: the ONNX graph does not reproduce the SkyNN model')
    sessions = {}
    for label, path in (('fp32', fp32), ('int8', int8)):
        so = ort.SessionOptions(); so.intra_op_num_threads = a.threads; so.inter_op_num_threads = 1
        sessions[label] = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
    samples = {}
    # One thread: ORT runs the graph on the calling thread, so its CPU time is the figure that
    # other load on a shared machine does not inflate; skymodel latency measures the same way.
    clock = time.thread_time if a.threads == 1 else time.perf_counter
    # Rounds alternate ORT fp32, ORT int8 and SkyNN so that all see the same machine load.
    for _ in range(3):
        for label, sess in sessions.items():
            for batch in (1, 64):
                x = rng.standard_normal((batch, s['c'], s['h'], s['w'])).astype(np.float32)
                sess.run(None, {'input': x})
                reps = a.repeats * (10 if batch == 1 else 1)
                for _ in range(reps):
                    t0 = clock(); sess.run(None, {'input': x})
                    samples.setdefault(f'{label}_batch{batch}_ms', []).append((clock() - t0) * 1e3)
        if a.skymodel:
            import subprocess
            r = json.loads(subprocess.run([a.skymodel, 'latency', a.model, '--threads', str(a.threads), '--repeats', str(a.repeats * 10)],
                                          check=True, capture_output=True, text=True).stdout)
            for batch in (1, 64): samples.setdefault(f'skynn_batch{batch}_ms', []).append(r[f'batch{batch}_ms'])
    for key, v in samples.items(): results[key] = sorted(v)[len(v) // 2]
    if a.json: print(json.dumps(results, indent=1))
    else:
        print(f"ONNX Runtime {results['ort_version']} {g['name']} threads={a.threads} (median ms per call)")
        for label in ('fp32', 'int8') + (('skynn',) if a.skymodel else ()):
            print(f"  {'ORT ' + label if label != 'skynn' else 'SkyNN int8'}: batch 1 {results[label + '_batch1_ms']:.3f} ms, batch 64 {results[label + '_batch64_ms']:.2f} ms")
        if a.skymodel:
            for b in (1, 64):
                print(f"  SkyNN int8 / ORT int8 latency, batch {b}: {results[f'skynn_batch{b}_ms'] / results[f'int8_batch{b}_ms']:.2f}"
                      f"  (SkyNN int8 / ORT fp32: {results[f'skynn_batch{b}_ms'] / results[f'fp32_batch{b}_ms']:.2f})")

if __name__ == '__main__':
    main()
