"""resyn rewards for TRL's GRPOTrainer: the environments' own verifiers, served by `resyn serve`.

Train on a dataset from `resyn export --format jsonl` (its "prompt" is a
conversation; "ground_truth" and the other columns reach reward functions as
keyword arguments):

    from datasets import load_dataset
    from trl import GRPOConfig, GRPOTrainer
    from resyn_reward import resyn_reward

    data = load_dataset("json", data_files={"train": "data/train.jsonl"})["train"]
    trainer = GRPOTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", reward_funcs=resyn_reward,
                          args=GRPOConfig(output_dir="out"), train_dataset=data)
    trainer.train()

Standard library only: copy the file next to your training script.
Environment variables: RESYN_URL (default http://127.0.0.1:8700),
RESYN_TOKEN, RESYN_TIMEOUT (seconds, default 300), RESYN_RETRIES (default 8).

The reward is the record's score for kinds ok and format (no <answer> block:
0.0). For env_error and timeout (the environment failed on this item) it is
None, which GRPOTrainer leaves out of the reward instead of counting it as
0. Codes env_changed, unknown_env and bad_ground_truth raise ResynError: the
dataset and the server disagree, and training on it would be wrong.
"""

import json
import os
import time
import urllib.error
import urllib.request

__all__ = ["resyn_reward", "score_items", "ResynError"]

CONFIG_CODES = ("unknown_env", "env_changed", "bad_ground_truth")
MAX_ITEMS = 2048


class ResynError(RuntimeError):
    """The reward server refused a request or an item for a reason that retrying will not fix."""


# The HTTP client is the same as in integrations/verl/resyn_reward.py; each
# shim is one self-contained file so that it can be copied alone.
def score_items(items, url=None, token=None, timeout=None, retries=None):
    """POST items to /score and return their reward records, in order (see the verl shim)."""
    url = (url or os.environ.get("RESYN_URL") or "http://127.0.0.1:8700").rstrip("/")
    token = token if token is not None else os.environ.get("RESYN_TOKEN", "")
    timeout = float(timeout if timeout is not None else os.environ.get("RESYN_TIMEOUT", "300"))
    retries = int(retries if retries is not None else os.environ.get("RESYN_RETRIES", "8"))
    out = []
    for lo in range(0, len(items), MAX_ITEMS):
        body = json.dumps({"items": items[lo:lo + MAX_ITEMS]}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        delay = 0.5
        for attempt in range(retries + 1):
            req = urllib.request.Request(url + "/score", data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as res:
                    out.extend(json.loads(res.read().decode("utf-8"))["rewards"])
                break
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")
                try:
                    detail = json.loads(detail).get("error", detail)
                except ValueError:
                    pass
                if e.code != 503 or attempt == retries:
                    raise ResynError("resyn reward server %s: HTTP %d: %s" % (url, e.code, detail)) from None
                wait = float(e.headers.get("Retry-After") or delay)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                if attempt == retries:
                    raise ResynError("resyn reward server %s unreachable: %s (is `resyn serve` running? set RESYN_URL)" % (url, e)) from None
                wait = delay
            time.sleep(wait)
            delay = min(delay * 2, 30.0)
    return out


def _text(completion):
    """A completion as text: TRL passes strings, or for conversational
    datasets a list of messages (the assistant's turn)."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role", "assistant") == "assistant")


def resyn_reward(completions, ground_truth, **kwargs):
    """A GRPOTrainer reward function: one float (or None) per completion."""
    items = []
    for c, g in zip(completions, ground_truth):
        if isinstance(g, dict):
            g = json.dumps(g)
        items.append({"ground_truth": g, "completion": _text(c)})
    out = []
    for r in score_items(items):
        if r.get("code") in CONFIG_CODES:
            raise ResynError("resyn: %s: %s" % (r["code"], r.get("error", "")))
        out.append(float(r["score"]) if r["kind"] in ("ok", "format") else None)
    return out
