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
RESYN_TOKEN, RESYN_TIMEOUT (seconds, default 300), RESYN_RETRIES (default 8;
retries on 429, 502, 503, 504 and connection errors, honouring Retry-After).

The reward is the record's score for kinds ok and format (no <answer> block:
0.0). For env_error and timeout (the environment failed on this item) it is
None. Codes env_changed, unknown_env and bad_ground_truth raise ResynError:
the dataset and the server disagree, and training on it would be wrong.

TRL versions (read from TRL's GRPOTrainer source):
    1.6 and later   None marks the completion unscorable: it is left out of its
                    group's baseline and gets no advantage (huggingface/trl#5902).
    0.16 to 1.5     None is accepted but becomes 0 in the reward sum: a failed
                    environment call trains as a wrong answer. The shim warns
                    once on stderr; upgrade TRL to 1.6 or later.
    before 0.16     a None reward is not accepted at all (torch.tensor fails):
                    the shim returns 0.0 instead, and warns once.
"""

import email.utils
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

__all__ = ["resyn_reward", "score_items", "trl_none_semantics", "ResynError"]

CONFIG_CODES = ("unknown_env", "env_changed", "bad_ground_truth")
MAX_ITEMS = 2048
RETRY_STATUSES = (429, 502, 503, 504)
MAX_RETRY_AFTER = 300.0


class ResynError(RuntimeError):
    """The reward server refused a request or an item for a reason that retrying will not fix."""


# The HTTP client is the same as in integrations/verl/resyn_reward.py (a test
# keeps the two identical); each shim is one self-contained file so that it
# can be copied alone.
def score_items(items, url=None, token=None, timeout=None, retries=None):
    """POST items to /score and return their reward records, in order.

    An item is {"ground_truth": str, "completion": str} or
    {"env": str, "seed": int, "difficulty": int, "completion": str}. A record
    is {"kind": "ok"|"format"|"env_error"|"timeout", "score": float,
    "answer"?, "error"?, "code"?}. 429, 502, 503 and 504 and connection
    errors are retried with backoff, honouring Retry-After (seconds or an
    HTTP date); other HTTP errors raise ResynError.
    """
    url = (url or os.environ.get("RESYN_URL") or "http://127.0.0.1:8700").rstrip("/")
    token = token if token is not None else os.environ.get("RESYN_TOKEN", "")
    timeout = float(timeout if timeout is not None else os.environ.get("RESYN_TIMEOUT", "300"))
    retries = int(retries if retries is not None else os.environ.get("RESYN_RETRIES", "8"))
    out = []
    for lo in range(0, len(items), MAX_ITEMS):
        out.extend(_post(url + "/score", token, {"items": items[lo:lo + MAX_ITEMS]}, timeout, retries)["rewards"])
    return out


def retry_after(value, default, now=None):
    """Seconds to wait from a Retry-After header: a number of seconds or an
    HTTP date (RFC 9110), bounded to [0, MAX_RETRY_AFTER]; default when the
    header is absent or unreadable."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return default
        if when is None:
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return default
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _post(url, token, payload, timeout, retries):
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    delay = 0.5
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return json.loads(res.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read(64 << 10).decode("utf-8", "replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            if e.code not in RETRY_STATUSES or attempt == retries:
                raise ResynError("resyn reward server %s: HTTP %d: %s" % (url, e.code, detail)) from None
            wait = retry_after(e.headers.get("Retry-After"), delay)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            if attempt == retries:
                raise ResynError("resyn reward server %s unreachable: %s (is `resyn serve` running? set RESYN_URL)" % (url, e)) from None
            wait = delay
        time.sleep(wait)
        delay = min(delay * 2, 30.0)
    raise ResynError("unreachable")  # the loop returns or raises



def _version_tuple(v):
    parts = []
    for p in str(v).split(".")[:3]:
        digits = ""
        for ch in p:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def trl_none_semantics(version=None):
    """What the installed TRL (or version) does with a None reward:
    "excluded" (1.6 and later), "zero" (0.16 to 1.5), "refused" (before
    0.16), or "unknown" when TRL is not installed."""
    if version is None:
        trl = sys.modules.get("trl")
        version = getattr(trl, "__version__", None) if trl is not None else None
    if version is None:
        try:
            from importlib.metadata import PackageNotFoundError, version as dist_version
            version = dist_version("trl")
        except (ImportError, PackageNotFoundError, ValueError):
            return "unknown"
    v = _version_tuple(version)
    if v >= (1, 6, 0):
        return "excluded"
    if v >= (0, 16, 0):
        return "zero"
    return "refused"


_warned = []


def _none_reward():
    """The reward of an item the environment failed on, for this TRL."""
    semantics = trl_none_semantics()
    if semantics in ("zero", "refused") and not _warned:
        _warned.append(True)
        trl = sys.modules.get("trl")
        v = getattr(trl, "__version__", "before 1.6")
        if semantics == "zero":
            print("resyn: TRL %s turns a None reward into 0: completions the environment failed on (env_error, "
                  "timeout) train as wrong answers instead of being left out. TRL 1.6 and later leave them out; "
                  "upgrade TRL." % v, file=sys.stderr)
        else:
            print("resyn: TRL %s does not accept a None reward: completions the environment failed on (env_error, "
                  "timeout) get 0.0. TRL 1.6 and later leave them out; upgrade TRL." % v, file=sys.stderr)
    return 0.0 if semantics == "refused" else None


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
        out.append(float(r["score"]) if r["kind"] in ("ok", "format") else _none_reward())
    return out
