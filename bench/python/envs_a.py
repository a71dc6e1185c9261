"""knapsack and shortest_path ported line for line to plain Python (see bench.py).

The same generate/render/verify/solve logic as core/envlib/knapsack.star and
core/envlib/shortest_path.star, with Python's random.Random in place of the
host rng (so the instances differ from resyn's; the work does not).
"""
import re
import types


def _knapsack():
    NAME = "knapsack"

    def table(items, capacity):
        best = [0] * (capacity + 1)
        rows = [best]
        for w, v in items:
            if w <= capacity:
                taken = [x + v for x in best[:capacity + 1 - w]]
                best = best[:w] + [a if a > b else b for a, b in zip(best[w:], taken)]
            rows.append(best)
        return rows

    def generate(rng, difficulty):
        n = 5 + difficulty
        top = 6 + difficulty // 2
        items = [[rng.randint(1, top), rng.randint(1, 4 * top)] for _ in range(n)]
        capacity = sum(it[0] for it in items) * rng.randint(35, 55) // 100
        rows = table(items, capacity)
        return {"items": items, "capacity": capacity, "best": rows[-1][capacity]}

    def render(state):
        lines = [
            "Choose items to put in a knapsack that holds a total weight of at most %d," % state["capacity"],
            "so that the total value of the chosen items is as large as possible.",
            "Each item can be taken at most once.",
            "",
        ]
        for i, it in enumerate(state["items"]):
            lines.append("Item %d: weight %d, value %d" % (i + 1, it[0], it[1]))
        lines += [
            "",
            "Give the numbers of the items you take, in any order, separated by spaces,",
            "inside <answer></answer> tags. Example taking items 2, 3 and 7: <answer>2 3 7</answer>",
        ]
        return "\n".join(lines)

    def parse(answer, n):
        text = answer.lower().replace("items", " ").replace("item", " ")
        if len(text) > 1000 or re.fullmatch(r"[0-9\s,;]*", text, re.ASCII) is None:
            return None
        parts = text.replace(",", " ").replace(";", " ").split()
        if len(parts) > n:
            return None
        chosen = []
        for p in parts:
            if len(p) > 3:
                return None
            chosen.append(int(p) - 1)
        return chosen

    def verify(state, answer):
        items = state["items"]
        chosen = parse(answer, len(items))
        if chosen is None or len(set(chosen)) != len(chosen):
            return 0.0
        weight, value = 0, 0
        for i in chosen:
            if i < 0 or i >= len(items):
                return 0.0
            weight += items[i][0]
            value += items[i][1]
        if weight > state["capacity"] or value != state["best"]:
            return 0.0
        return 1.0

    def solve(state):
        items, capacity = state["items"], state["capacity"]
        rows = table(items, capacity)
        chosen = []
        c = capacity
        for i in range(len(items) - 1, -1, -1):
            if rows[i + 1][c] != rows[i][c]:
                chosen.append(i + 1)
                c -= items[i][0]
        return " ".join(str(i) for i in sorted(chosen))

    return types.SimpleNamespace(NAME=NAME, generate=generate, render=render, verify=verify, solve=solve)


def _shortest_path():
    NAME = "shortest_path"

    def dijkstra(n, edges, s):
        adj = [[] for _ in range(n)]
        for e in edges:
            adj[e[0]].append((e[1], e[2]))
            adj[e[1]].append((e[0], e[2]))
        inf = 1 << 30
        dist = [inf] * n
        prev = [-1] * n
        dist[s] = 0
        buckets = {0: [s]}
        settled = 0
        for d in range(10 * n):
            if settled == n:
                break
            for u in buckets.get(d, []):
                if dist[u] != d:
                    continue
                settled += 1
                for vw in adj[u]:
                    if d + vw[1] < dist[vw[0]]:
                        dist[vw[0]] = d + vw[1]
                        prev[vw[0]] = u
                        buckets.setdefault(d + vw[1], []).append(vw[0])
        return dist, prev

    def generate(rng, difficulty):
        n = 6 + (3 * difficulty) // 2
        order = list(range(n))
        rng.shuffle(order)
        seen = {}
        edges = []
        for i in range(1, n):
            u, v = order[i], order[rng.randint(0, i - 1)]
            if u > v:
                u, v = v, u
            edges.append([u, v, rng.randint(1, 9)])
            seen[u * n + v] = True
        extra = n * 3 // 4
        while extra > 0:
            u, v = rng.randint(0, n - 1), rng.randint(0, n - 1)
            if u > v:
                u, v = v, u
            if u != v and not (u * n + v) in seen:
                seen[u * n + v] = True
                edges.append([u, v, rng.randint(1, 9)])
                extra -= 1
        edges = sorted(edges)
        s = rng.randint(0, n - 1)
        dist, prev = dijkstra(n, edges, s)
        far = sorted([v for v in range(n) if v != s], key=lambda v: dist[v])
        t = far[rng.randint(len(far) // 2, len(far) - 1)]
        path = [t]
        while path[-1] != s:
            path.append(prev[path[-1]])
        return {"n": n, "edges": edges, "source": s, "target": t, "dist": dist[t], "planted": path[::-1]}

    def render(state):
        lines = [
            "Find a shortest path from vertex %d to vertex %d in this weighted undirected graph:" % (state["source"], state["target"]),
            "a path whose edge weights add up to the least possible total.",
            "",
            "Vertices: 0 to %d" % (state["n"] - 1),
            "Edges (u-v: weight): " + ", ".join(["%d-%d: %d" % (e[0], e[1], e[2]) for e in state["edges"]]),
            "",
            "Give the vertices of the path in order, from %d to %d (both included), separated by" % (state["source"], state["target"]),
            "spaces, inside <answer></answer> tags. Example of a path from 0 to 4: <answer>0 2 7 4</answer>",
        ]
        return "\n".join(lines)

    def parse(answer):
        if len(answer) > 2000 or re.fullmatch(r"(?:[0-9\s,;>-]|→)*", answer, re.ASCII) is None:
            return None
        parts = answer.replace("→", " ").replace(">", " ").replace("-", " ").replace(",", " ").replace(";", " ").split()
        if len(parts) == 0:
            return None
        path = []
        for p in parts:
            if len(p) > 4:
                return None
            path.append(int(p))
        return path

    def verify(state, answer):
        path = parse(answer)
        if path is None:
            return 0.0
        if path[0] != state["source"] or path[-1] != state["target"]:
            return 0.0
        n = state["n"]
        for v in path:
            if v >= n:
                return 0.0
        weight = {}
        for e in state["edges"]:
            weight[e[0] * n + e[1]] = e[2]
            weight[e[1] * n + e[0]] = e[2]
        total = 0
        for i in range(1, len(path)):
            w = weight.get(path[i - 1] * n + path[i])
            if w is None:
                return 0.0
            total += w
        return 1.0 if total == state["dist"] else 0.0

    def solve(state):
        return " ".join(str(v) for v in state["planted"])

    return types.SimpleNamespace(NAME=NAME, generate=generate, render=render, verify=verify, solve=solve)


ALL = [_knapsack(), _shortest_path()]
