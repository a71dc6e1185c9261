#!/usr/bin/env python3
"""Plain-Python reference for `resyn bench envs`.

The same generate/render/verify logic as a handful of built-in environments
(core/envlib/<name>.star), written in ordinary Python, timed the same way:
reference answers are computed first (untimed), then generate + render +
verify of the reference answer is timed over N instances with difficulties
cycling over 1..10. Prints one JSON object: environment name -> instances/s.
Standard library only.
"""
import json
import random
import re
import sys
import time

import envs
import envs_a
import envs_b


def bench(mod, n):
    work = []
    for i in range(n):
        d = 1 + i % 10
        state = mod.generate(random.Random(i * 1000 + d), d)
        work.append((i, d, mod.solve(state)))
    start = time.perf_counter()
    for i, d, answer in work:
        state = mod.generate(random.Random(i * 1000 + d), d)
        # The state crosses a JSON boundary in resyn too.
        state = json.loads(json.dumps(state))
        mod.render(state)
        if mod.verify(state, answer) != 1.0:
            raise SystemExit("%s: reference answer did not verify" % mod.NAME)
    return n / (time.perf_counter() - start)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    out = {}
    for mod in envs.ALL + envs_a.ALL + envs_b.ALL:
        out[mod.NAME] = bench(mod, n)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
