#!/usr/bin/env python3
"""Static instruction mix of each kernel's main loop, from `cuobjdump -sass`.

For every function, the backward branch (a loop) whose body holds the most
FFMA / DP4A / HFMA2 instructions is taken as the main loop; the script prints
its instruction count, the arithmetic instructions in it, its shared loads and
global loads. On Maxwell (sm_53) each of the 4 schedulers of the SM issues one
warp instruction per cycle, so the FMA pipe can be at most
(FMA instructions) / (all instructions) busy: the "FMA share" bounds the
kernel's fraction of the FP32 peak before any memory stall.

Usage: cuobjdump -sass file.o > k.sass; tools/ci/cuda_sass_loops.py k.sass
"""
import re
import sys

ADDR = re.compile(r'/\*([0-9a-f]{4,})\*/\s+([^/]*?)\s*[;}]?\s*(?:/\*|$)')


def parse(text):
    funcs = re.split(r'\n\s*Function : ', text)
    for f in funcs[1:]:
        name = f.split('\n', 1)[0].strip()
        ins = []
        for line in f.split('\n'):
            m = ADDR.search(line)
            if not m:
                continue
            body = m.group(2).strip().lstrip('{').strip()
            if body:
                ins.append((int(m.group(1), 16), body))
        yield name, ins


def backward_branches(ins):
    """(target, address) of every branch back to an earlier address: the loops."""
    for addr, body in ins:
        if re.search(r'\bBRA\b', body):
            t = re.search(r'0x([0-9a-f]+)', body)
            if t and int(t.group(1), 16) < addr:
                yield int(t.group(1), 16), addr


def main():
    text = open(sys.argv[1]).read()
    print(f"{'kernel':60s} {'loop':>5s} {'FMA':>5s} {'share':>5s} {'LDS':>4s} {'LDG':>4s} {'STS':>4s} {'BAR':>4s}")
    for name, ins in parse(text):
        loops = list(backward_branches(ins))
        best = None
        for a, b in loops:
            body = [x for (ad, x) in ins if a <= ad <= b]
            fma = sum(1 for x in body if re.search(r'\b(FFMA|IDP\.4A|DP4A|HFMA2)\b', x))
            if best is None or fma > best[0]:
                best = (fma, body)
        short = name if len(name) <= 60 else name[:57] + '...'
        if not best or best[0] == 0:
            print(f"{short:60s} (no arithmetic loop)")
            continue
        fma, body = best
        lds, ldg, sts, bar = (sum(1 for x in body if re.search(p, x))
                              for p in (r'\bLDS', r'\bLDG|\bLD\b', r'\bSTS', r'\bBAR'))
        print(f"{short:60s} {len(body):5d} {fma:5d} {fma / len(body):5.2f} {lds:4d} {ldg:4d} "
              f"{sts:4d} {bar:4d}")


if __name__ == '__main__':
    main()
