"""resyn rewards for verl: the environments' own verifiers, served by `resyn serve`.

Point verl's custom reward function at this file; rows exported with
`resyn export --format verl` carry everything the server needs in
reward_model.ground_truth. Standard library only: copy the file anywhere.
integrations/verl/run_grpo.sh picks the lines for the installed verl:

    custom_reward_function.path=integrations/verl/resyn_reward.py

    # verl 0.7 and later: the reward loop (reward_model.use_reward_loop, on
    # by default) awaits an async compute_score; concurrent calls are sent
    # to the server together, one HTTP request per burst
    reward_model.reward_manager=naive
    custom_reward_function.name=compute_score_async

    # verl 0.5 and 0.6: one HTTP request per batch
    reward_model.reward_manager=batch
    custom_reward_function.name=compute_score_batch

    # any version, naive reward manager: one request per response
    custom_reward_function.name=compute_score

Environment variables:
    RESYN_URL      the reward server (default http://127.0.0.1:8700)
    RESYN_TOKEN    its bearer token, when it listens beyond loopback
    RESYN_TIMEOUT  seconds per HTTP request (default 300)
    RESYN_RETRIES  retries on 429, 502, 503, 504 and connection errors (default 8)

Each call returns {"score": float, "resyn_valid": 1.0 or 0.0}. verl trains on
"score" and logs "resyn_valid". A reward of kind ok or format (no <answer>
block) is valid. One of kind env_error or timeout (the environment failed on
this item) cannot be dropped from a verl batch, so it is scored 0.0 with
resyn_valid 0.0 and a warning on stderr: watch the mean of resyn_valid. A
ground truth made by another version of the environment (code env_changed),
an environment the server does not have (unknown_env) or a ground truth resyn
did not write (bad_ground_truth) raises ResynError: the run is misconfigured,
and training on it would be silently wrong.

Rows whose data_source does not start with "resyn/" (gsm8k, MATH, … mixed
into the same run) are scored by verl's own default_compute_score, as verl
would without this file; their result is reduced to the same two keys
({"score": its score, "resyn_valid": 1.0}), because verl gathers every key
of every item into one column.
"""

import asyncio
import email.utils
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

__all__ = ["compute_score", "compute_score_batch", "compute_score_async", "score_items", "ResynError"]

# Codes of items the server could not match to an instance: configuration
# errors, never transient.
CONFIG_CODES = ("unknown_env", "env_changed", "bad_ground_truth")

# Items per request; the server's default --max-items is 4096.
MAX_ITEMS = 2048

# HTTP statuses worth retrying: the server's queue is full (503), or a proxy
# in front of it could not reach it or gave up waiting (502, 504), or a
# gateway rate-limits (429).
RETRY_STATUSES = (429, 502, 503, 504)

# The longest Retry-After honoured, in seconds.
MAX_RETRY_AFTER = 300.0


class ResynError(RuntimeError):
    """The reward server refused a request or an item for a reason that retrying will not fix."""


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


def _is_resyn(data_source):
    return data_source is None or str(data_source).startswith("resyn/")


def _ground_truth_item(solution_str, ground_truth):
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


def _other_score(data_source, solution_str, ground_truth, extra_info):
    """A row of another dataset, scored by verl's default_compute_score."""
    try:
        from verl.utils.reward_score import default_compute_score
    except ImportError as e:
        raise ResynError(
            "data_source %r is not a resyn dataset (resyn/ENV), and verl's default_compute_score to score it "
            "cannot be imported: %s" % (data_source, e)
        ) from None
    result = default_compute_score(data_source, solution_str, ground_truth, extra_info)
    score = result.get("score") if isinstance(result, dict) else result
    return {"score": float(score), "resyn_valid": 1.0}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's per-response reward function (the naive reward manager)."""
    if not _is_resyn(data_source):
        return _other_score(data_source, solution_str, ground_truth, extra_info)
    return _verl_result(score_items([_ground_truth_item(solution_str, ground_truth)])[0])


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's batch reward function (reward_model.reward_manager=batch, verl 0.5
    and 0.6): one request for the batch's resyn rows."""
    extra_infos = extra_infos if extra_infos is not None else [None] * len(data_sources)
    out = [None] * len(data_sources)
    mine = []
    for i, (d, s, g, x) in enumerate(zip(data_sources, solution_strs, ground_truths, extra_infos)):
        if _is_resyn(d):
            mine.append(i)
        else:
            out[i] = _other_score(d, s, g, x)
    records = score_items([_ground_truth_item(solution_strs[i], ground_truths[i]) for i in mine])
    for i, r in zip(mine, records):
        out[i] = _verl_result(r)
    return out


class _Batcher:
    """Gathers the items of concurrent compute_score_async calls on one event
    loop into one request: a call waits at most RESYN_BATCH_WINDOW seconds
    (default 0.01) for others, or until MAX_ITEMS are waiting; the request
    runs in the loop's default executor so the loop never blocks."""

    def __init__(self, loop):
        self.loop = loop
        self.pending = []
        self.timer = None
        self.window = float(os.environ.get("RESYN_BATCH_WINDOW", "0.01"))

    def submit(self, item):
        fut = self.loop.create_future()
        self.pending.append((item, fut))
        if len(self.pending) >= MAX_ITEMS:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(self.window, self.flush)
        return fut

    def flush(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if not batch:
            return
        job = self.loop.run_in_executor(None, score_items, [item for item, _ in batch])

        def done(job):
            err = job.exception()
            for k, (_, fut) in enumerate(batch):
                if fut.done():
                    continue
                if err is not None:
                    fut.set_exception(err)
                else:
                    fut.set_result(job.result()[k])

        job.add_done_callback(done)


_batchers = {}


async def compute_score_async(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's reward-loop reward function (verl 0.7 and later, naive reward
    manager): awaited for each response; calls that overlap share one request."""
    loop = asyncio.get_running_loop()
    if not _is_resyn(data_source):
        return await loop.run_in_executor(None, _other_score, data_source, solution_str, ground_truth, extra_info)
    batcher = _batchers.get(loop)
    if batcher is None:
        for old in [k for k in _batchers if k.is_closed()]:
            del _batchers[old]
        batcher = _batchers[loop] = _Batcher(loop)
    record = await batcher.submit(_ground_truth_item(solution_str, ground_truth))
    return _verl_result(record)
