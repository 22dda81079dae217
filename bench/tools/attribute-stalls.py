#!/usr/bin/env python3
"""Attribute the slow requests of a gateway benchmark run to what the host was doing at the time.

Inputs (see bench/tools/profile-gateway-bench.sh, which produces all three):
  --bench   the bench output, run with SLOW_MS=<ms> so every phase lists its slow requests
            ("[slow > X ms] <phase>: started <ISO time>, N requests (due ms:latency ms) due:lat ...")
  --perf    `perf script -F comm,pid,cpu,time` of a system-wide `perf record -k CLOCK_REALTIME`
  --gc      optional: the gateway's GC log written with -Xlog:gc*:file=...:time
  --phase   which phase to analyse (its name, e.g. "gateway-core"; its measured run,
            not a warm-up slice of the same name)
  --around  optional: print a per-millisecond CPU timeline around this due offset (ms)

A slow request is put in the first class whose window overlaps [due, due + latency]:
  kdamond  a burst of the kernel's DAMON monitor thread (samples < 3 ms apart, >= 2 ms long)
  gc       a GC pause of the gateway's JVM
  other    neither: JIT compilation, the load generator, PostgreSQL, our own code...
"""
import argparse
import collections
import datetime
import re
import sys

SLOW = re.compile(r'\[slow > (\S+) ms\] (.*?): started (\S+), (\d+) requests \(due ms:latency ms\)(.*)')


def iso_millis(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp() * 1000


def phases(bench_file):
    """Every slow-request list; a list directly followed by its phase's result line is the measured phase
    (the others are warm-up slices, which carry the same name)."""
    out = []
    for line in open(bench_file, encoding='utf-8', errors='replace'):
        m = SLOW.match(line.strip())
        if m:
            pts = [(int(a), float(b)) for a, b in re.findall(r' (\d+):([\d.]+)', m.group(5))]
            out.append([m.group(2), iso_millis(m.group(3)), float(m.group(1)), pts, False])
        elif out and re.match(re.escape(out[-1][0]) + r' +rate ', line):
            out[-1][4] = True
    return out


def perf_samples(perf_file):
    samples = []
    for line in open(perf_file, encoding='utf-8', errors='replace'):
        p = line.split()
        if len(p) < 4:
            continue
        try:
            t = float(p[-1].rstrip(':')) * 1000
        except ValueError:
            continue
        samples.append((t, p[-2], p[-3], ' '.join(p[:-3])))
    samples.sort()
    return samples


def bursts(samples, comm_prefix):
    times = [s[0] for s in samples if s[3].startswith(comm_prefix)]
    out, start, end = [], None, None
    for t in times:
        if start is None:
            start = end = t
        elif t - end < 3:
            end = t
        else:
            out.append((start, end))
            start = end = t
    if start is not None:
        out.append((start, end))
    return [b for b in out if b[1] - b[0] >= 2]


def gc_pauses(gc_file):
    pauses = []
    if not gc_file:
        return pauses
    for line in open(gc_file, encoding='utf-8', errors='replace'):
        m = re.match(r'\[(\S+?)([+-]\d{4})\].*Pause.*?([\d.]+)ms$', line.strip())
        if m:
            end = datetime.datetime.strptime(m.group(1) + m.group(2), '%Y-%m-%dT%H:%M:%S.%f%z').timestamp() * 1000
            pauses.append((end - float(m.group(3)), end))
    return pauses


def overlaps(windows, a, b):
    return any(w[0] - 1 <= b and w[1] + 1 >= a for w in windows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bench', required=True)
    ap.add_argument('--perf', required=True)
    ap.add_argument('--gc')
    ap.add_argument('--phase', default='gateway-core')
    ap.add_argument('--around', type=float)
    args = ap.parse_args()

    matching = [p for p in phases(args.bench) if p[0] == args.phase]
    if not matching:
        sys.exit('no phase named %r with a slow-request list (was SLOW_MS set?)' % args.phase)
    measured = [p for p in matching if p[4]]
    name, start, threshold, pts, _ = (measured or matching)[-1]
    samples = perf_samples(args.perf)
    kd = bursts(samples, 'kdamond')
    gc = gc_pauses(args.gc)

    classes = collections.OrderedDict((k, []) for k in ('kdamond', 'gc', 'other'))
    for due, lat in pts:
        a = start + due
        b = a + lat
        cls = 'kdamond' if overlaps(kd, a, b) else 'gc' if overlaps(gc, a, b) else 'other'
        classes[cls].append((due, lat))
    in_phase = [b for b in kd if start <= b[0] <= start + 60_000]
    print('phase %r: %d requests slower than %g ms' % (name, len(pts), threshold))
    if in_phase:
        lengths = sorted(b[1] - b[0] for b in in_phase)
        print('kdamond bursts in the phase: %d, median %.1f ms, max %.1f ms' % (
            len(lengths), lengths[len(lengths) // 2], lengths[-1]))
    for cls, items in classes.items():
        hist = collections.Counter(min(int(lat), 12) for _, lat in items)
        print('  %-8s %5d   by latency (ms, 12 = 12+): %s' % (cls, len(items), ' '.join(
            '%d:%d' % kv for kv in sorted(hist.items()))))

    # busiest threads while the slow requests were in flight versus the whole phase
    during, whole = collections.Counter(), collections.Counter()
    windows = sorted((start + d, start + d + l) for d, l in pts)
    import bisect
    times = [s[0] for s in samples]
    for s in samples[bisect.bisect_left(times, start):bisect.bisect_left(times, start + 60_000)]:
        whole[(s[2], s[3])] += 1
    for a, b in windows:
        for s in samples[bisect.bisect_left(times, a):bisect.bisect_left(times, b)]:
            during[(s[2], s[3])] += 1
    print('CPU samples while slow requests were in flight (pid, thread): top 8')
    for (pid, comm), n in during.most_common(8):
        print('  %-8s %-20s %6d' % (pid, comm, n))

    if args.around is not None:
        t0 = start + args.around
        print('timeline around due %.0f ms (ms offset: cpu thread/pid ...)' % args.around)
        line = collections.OrderedDict()
        for s in samples[bisect.bisect_left(times, t0 - 5):bisect.bisect_left(times, t0 + 60)]:
            line.setdefault(int(s[0] - t0), []).append('%s %s/%s' % (s[1], s[3][:15], s[2]))
        for k, v in line.items():
            print('  %4d %s' % (k, ' | '.join(v)))


if __name__ == '__main__':
    main()
