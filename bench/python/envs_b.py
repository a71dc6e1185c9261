"""Built-in environments maze and caesar_vigenere ported line for line to plain
Python (see bench.py): the same generate/render/verify/solve logic as
core/envlib/maze.star and core/envlib/caesar_vigenere.star, with Python's
random.Random in place of the host rng (so the instances differ, the work
does not)."""
import re
import types


def _maze():
    NAME = "maze"
    MOVES = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}

    def generate(rng, difficulty):
        h = 2 + (difficulty + 1) // 2
        w = 2 + difficulty
        H, W = 2 * h + 1, 2 * w + 1
        g = [["#"] * W for _ in range(H)]
        for r in range(h):
            for c in range(w):
                g[2 * r + 1][2 * c + 1] = "."
        seen = [False] * (h * w)
        start = rng.randint(0, h * w - 1)
        seen[start] = True
        stack = [start]
        for _ in range(4 * h * w):
            if len(stack) == 0:
                break
            cell = stack[-1]
            r, c = cell // w, cell % w
            nbrs = []
            if r > 0 and not seen[cell - w]:
                nbrs.append(cell - w)
            if r < h - 1 and not seen[cell + w]:
                nbrs.append(cell + w)
            if c > 0 and not seen[cell - 1]:
                nbrs.append(cell - 1)
            if c < w - 1 and not seen[cell + 1]:
                nbrs.append(cell + 1)
            if len(nbrs) == 0:
                stack.pop()
                continue
            nxt = rng.choice(nbrs)
            g[r + nxt // w + 1][c + nxt % w + 1] = "."
            seen[nxt] = True
            stack.append(nxt)
        for _ in range((h * w) // 6):
            r = rng.randint(1, H - 2)
            c = rng.randint(1, W - 2)
            if (r % 2) != (c % 2):
                g[r][c] = "."
        s = [2 * rng.randint(0, h - 1) + 1, 1]
        t = [2 * rng.randint(0, h - 1) + 1, W - 2]
        g[s[0]][s[1]] = "S"
        g[t[0]][t[1]] = "G"
        rows = ["".join(row) for row in g]
        return {"rows": rows, "start": s, "goal": t, "path": shortest(rows, s, t, h, w)}

    def shortest(rows, s, t, h, w):
        src = (s[0] // 2) * w + s[1] // 2
        dst = (t[0] // 2) * w + t[1] // 2
        prev = [-1] * (h * w)
        how = [""] * (h * w)
        prev[src] = src
        queue = [src]
        i = 0
        while i < len(queue):
            cell = queue[i]
            i += 1
            if cell == dst:
                break
            r, c = 2 * (cell // w) + 1, 2 * (cell % w) + 1
            for m in "UDLR":
                dr, dc = MOVES[m]
                if rows[r + dr][c + dc] != "#":
                    nxt = cell + dr * w + dc
                    if prev[nxt] < 0:
                        prev[nxt] = cell
                        how[nxt] = m
                        queue.append(nxt)
        path = []
        cell = dst
        for _ in range(h * w):
            if cell == src:
                break
            path.append(how[cell] + how[cell])
            cell = prev[cell]
        return "".join(reversed(path))

    def render(state):
        rows = state["rows"]
        lines = [
            "Find a shortest path through this maze from S to G.",
            "'#' is a wall; '.', S and G are open. Each move goes one character up (U), down (D),",
            "left (L) or right (R), and may never enter a wall.",
            "",
        ] + rows + [
            "",
            "Any path from S to G with the fewest possible moves is accepted; a longer one is not.",
            "Give the moves as one string of the letters U, D, L and R inside <answer></answer> tags.",
            "Example: <answer>RRDDRRUU</answer>",
        ]
        return "\n".join(lines)

    def verify(state, answer):
        moves = re.sub(r"[\s,;]+", "", answer.upper())
        if len(moves) != len(state["path"]) or not re.fullmatch(r"[UDLR]*", moves):
            return 0.0
        rows = state["rows"]
        r, c = state["start"][0], state["start"][1]
        for m in moves:
            dr, dc = MOVES[m]
            r, c = r + dr, c + dc
            if rows[r][c] == "#":
                return 0.0
        return 1.0 if [r, c] == state["goal"] else 0.0

    def solve(state):
        return state["path"]

    return types.SimpleNamespace(NAME=NAME, generate=generate, render=render, verify=verify, solve=solve)


def _caesar_vigenere():
    NAME = "caesar_vigenere"
    WORDS = [
        "the", "river", "stone", "green", "quiet", "light", "house", "north", "winter", "garden",
        "bread", "silver", "morning", "water", "forest", "window", "paper", "candle", "bridge", "horse",
        "market", "yellow", "tower", "little", "under", "over", "after", "before", "every", "never",
        "people", "music", "orange", "planet", "rocket", "summer", "travel", "village", "wonder", "zebra",
        "apple", "basket", "cloud", "dragon", "engine", "flower", "ghost", "harbor", "island", "jungle",
        "kettle", "lemon", "mirror", "number", "ocean", "pencil", "queen", "rabbit", "shadow", "ticket",
        "umbrella", "valley", "wizard", "young", "across", "behind", "carry", "dance", "early", "follow",
    ]
    MODES = [None,
        ["caesar_key"], ["caesar_key"], ["caesar_key", "caesar_crib"], ["caesar_key", "caesar_crib"],
        ["caesar_crib", "vigenere_key"], ["caesar_crib", "vigenere_key"], ["vigenere_key", "vigenere_crib"],
        ["vigenere_key", "vigenere_crib"], ["vigenere_key", "vigenere_crib"], ["vigenere_key", "vigenere_crib"],
    ]
    A = ord("a")

    def encrypt(text, shifts):
        out = []
        i = 0
        for ch in text:
            if ch == " ":
                out.append(" ")
                continue
            out.append(chr(A + (ord(ch) - A + shifts[i % len(shifts)]) % 26))
            i += 1
        return "".join(out).upper()

    def generate(rng, difficulty):
        mode = rng.choice(MODES[difficulty])
        words = [rng.choice(WORDS) for _ in range(3 + difficulty)]
        plain = " ".join(words)
        if mode.startswith("caesar"):
            key = [rng.randint(1, 25)]
        else:
            key = [rng.randint(0, 25) for _ in range(rng.randint(3, 2 + difficulty // 2))]
        state = {"mode": mode, "plain": plain, "cipher": encrypt(plain, key),
                 "key": "".join([chr(A + k) for k in key]).upper(), "shift": key[0]}
        if mode.endswith("crib"):
            n = 0
            letters = 0
            for w in words:
                n += 1
                letters += len(w)
                if letters >= len(key):
                    break
            state["crib"] = " ".join(words[:n])
        return state

    def render(state):
        mode = state["mode"]
        lines = []
        if mode.startswith("caesar"):
            lines += [
                "This message was encrypted with a Caesar cipher: every letter was shifted forward in the",
                "alphabet by the same amount, wrapping from Z back to A. Spaces were left as they are.",
            ]
            if mode == "caesar_key":
                lines.append("The shift was %d (so A became %s)." % (state["shift"], chr(ord("A") + state["shift"])))
            else:
                lines.append("The shift is not given, but the message begins with the word \"%s\"." % state["crib"])
        else:
            lines += [
                "This message was encrypted with a Vigenère cipher: the i-th letter of the message was shifted",
                "forward in the alphabet by the position of the i-th letter of the repeated key (A=0, B=1, ..., Z=25),",
                "wrapping from Z back to A. Spaces were left as they are and use up no key letter.",
            ]
            if mode == "vigenere_key":
                lines.append("The key is %s." % state["key"])
            else:
                lines.append("The key has %d letters and is not given, but the message begins with \"%s\"." % (len(state["key"]), state["crib"]))
        lines += [
            "",
            "Ciphertext: " + state["cipher"],
            "",
            "Give the decrypted message (words separated by single spaces) inside <answer></answer> tags.",
            "Example: <answer>meet me at the old bridge</answer>",
        ]
        return "\n".join(lines)

    def verify(state, answer):
        words = [w for w in re.split(r"[^a-z]+", answer.lower()) if w != ""]
        return 1.0 if words == state["plain"].split(" ") else 0.0

    def solve(state):
        return state["plain"]

    return types.SimpleNamespace(NAME=NAME, generate=generate, render=render, verify=verify, solve=solve)


ALL = [_maze(), _caesar_vigenere()]
