"""resyn rewards for verl: the environments' own verifiers, served by `resyn serve`.

Point verl's custom reward function at this file; rows exported with
`resyn export --format verl` carry everything the server needs in
reward_model.ground_truth. Standard library only: copy the file anywhere.

    custom_reward_function.path=integrations/verl/resyn_reward.py
    custom_reward_function.name=compute_score          # verl's naive reward manager
    # or, one HTTP request per batch instead of one per response:
    reward_model.reward_manager=batch
    custom_reward_function.name=compute_score_batch

Environment variables:
    RESYN_URL      the reward server (default http://127.0.0.1:8700)
    RESYN_TOKEN    its bearer token, when it listens beyond loopback
    RESYN_TIMEOUT  seconds per HTTP request (default 300)
    RESYN_RETRIES  retries on 503 and connection errors (default 8)

Each call returns {"score": float, "resyn_valid": 1.0 or 0.0}. verl trains on
"score" and logs "resyn_valid". A reward of kind ok or format (no <answer>
block) is valid. One of kind env_error or timeout (the environment failed on
this item) cannot be dropped from a verl batch, so it is scored 0.0 with
resyn_valid 0.0 and a warning on stderr: watch the mean of resyn_valid. A
ground truth made by another version of the environment (code env_changed),
an environment the server does not have (unknown_env) or a ground truth resyn
did not write (bad_ground_truth) raises ResynError: the run is misconfigured,
and training on it would be silently wrong.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

__all__ = ["compute_score", "compute_score_batch", "score_items", "ResynError"]

# Codes of items the server could not match to an instance: configuration
# errors, never transient.
CONFIG_CODES = ("unknown_env", "env_changed", "bad_ground_truth")

# Items per request; the server's default --max-items is 4096.
MAX_ITEMS = 2048


class ResynError(RuntimeError):
    """The reward server refused a request or an item for a reason that retrying will not fix."""


def score_items(items, url=None, token=None, timeout=None, retries=None):
    """POST items to /score and return their reward records, in order.

    An item is {"ground_truth": str, "completion": str} or
    {"env": str, "seed": int, "difficulty": int, "completion": str}. A record
    is {"kind": "ok"|"format"|"env_error"|"timeout", "score": float,
    "answer"?, "error"?, "code"?}. 503 (queue full) and connection errors are
    retried with backoff; other HTTP errors raise ResynError.
    """
    url = (url or os.environ.get("RESYN_URL") or "http://127.0.0.1:8700").rstrip("/")
    token = token if token is not None else os.environ.get("RESYN_TOKEN", "")
    timeout = float(timeout if timeout is not None else os.environ.get("RESYN_TIMEOUT", "300"))
    retries = int(retries if retries is not None else os.environ.get("RESYN_RETRIES", "8"))
    out = []
    for lo in range(0, len(items), MAX_ITEMS):
        out.extend(_post(url + "/score", token, {"items": items[lo:lo + MAX_ITEMS]}, timeout, retries)["rewards"])
    return out


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
    raise ResynError("unreachable")  # the loop returns or raises


def _ground_truth_item(data_source, solution_str, ground_truth):
    if data_source is not None and not str(data_source).startswith("resyn/"):
        raise ResynError("data_source %r is not a resyn dataset (want resyn/ENV, as `resyn export` writes)" % (data_source,))
    if isinstance(ground_truth, dict):  # a loader that parsed the JSON string
        ground_truth = json.dumps(ground_truth)
    return {"ground_truth": ground_truth, "completion": solution_str or ""}


def _verl_result(record):
    code = record.get("code")
    if code in CONFIG_CODES:
        raise ResynError("resyn: %s: %s" % (code, record.get("error", "")))
    if record["kind"] in ("ok", "format"):
        return {"score": float(record["score"]), "resyn_valid": 1.0}
    print("resyn: item not scored (%s): %s; scored 0.0 with resyn_valid=0" % (record["kind"], record.get("error", "")), file=sys.stderr)
    return {"score": 0.0, "resyn_valid": 0.0}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's per-response reward function (naive reward manager)."""
    return _verl_result(score_items([_ground_truth_item(data_source, solution_str, ground_truth)])[0])


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's batch reward function (reward_model.reward_manager=batch): one request per batch."""
    items = [_ground_truth_item(d, s, g) for d, s, g in zip(data_sources, solution_strs, ground_truths)]
    return [_verl_result(r) for r in score_items(items)]
