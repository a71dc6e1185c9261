"""Built-in environments ported line for line to plain Python (see bench.py)."""
import re
import types


def _graph_coloring():
    NAME = "graph_coloring"

    def generate(rng, difficulty):
        n = 4 + 2 * difficulty
        k = 3 if difficulty < 7 else 4
        planted = [rng.randint(0, k - 1) for _ in range(n)]
        density = 0.25 + 0.03 * difficulty
        edges = []
        for u in range(n):
            for v in range(u + 1, n):
                if planted[u] != planted[v] and rng.random() < density:
                    edges.append([u, v])
        return {"n": n, "k": k, "edges": edges, "planted": [c + 1 for c in planted]}

    def render(state):
        lines = [
            "Colour the vertices of this undirected graph with colours 1 to %d so that" % state["k"],
            "no edge connects two vertices of the same colour.",
            "",
            "Vertices: 0 to %d" % (state["n"] - 1),
            "Edges: " + ", ".join(["%d-%d" % (e[0], e[1]) for e in state["edges"]]),
            "",
            "Give the colour of every vertex in order, vertex 0 first, separated by spaces,",
            "inside <answer></answer> tags. Example for 4 vertices: <answer>1 2 1 3</answer>",
        ]
        return "\n".join(lines)

    def parse(answer, n):
        parts = [p for p in re.split(r"[\s,;]+", answer.strip()) if p != ""]
        if len(parts) != n:
            return None
        colours = []
        for p in parts:
            if not re.match(r"^[0-9]+$", p):
                return None
            colours.append(int(p))
        return colours

    def verify(state, answer):
        colours = parse(answer, state["n"])
        if colours is None:
            return 0.0
        for c in colours:
            if c < 1 or c > state["k"]:
                return 0.0
        for e in state["edges"]:
            if colours[e[0]] == colours[e[1]]:
                return 0.0
        return 1.0

    def solve(state):
        return " ".join(str(c) for c in state["planted"])

    return types.SimpleNamespace(NAME=NAME, generate=generate, render=render, verify=verify, solve=solve)


ALL = [_graph_coloring()]
