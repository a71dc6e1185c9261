"""Render the chat templates beside this file with Python's jinja2, as
transformers' apply_chat_template does, into *.golden files.

The templates are the chat_template fields of real models'
tokenizer_config.json: Qwen2.5-Instruct (qwen2.5-instruct.jinja), Qwen3
(qwen3.jinja) and DeepSeek-R1-Distill-Qwen (deepseek-r1-distill-qwen.jinja,
a Qwen2 fine-tune whose template is not ChatML). The environment is
transformers' (utils/chat_template_utils.py, _compile_jinja_template): an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
loopcontrols extension, tojson with ensure_ascii=False, raise_exception and
strftime_now; the special tokens of tokenizer_config.json are passed as
variables (bos_token, eos_token, …).

Run once with a python3 that has jinja2 (3.1.6 made the files in the
repository: pip's Jinja2 in this machine's pyenv python 3.11.7; Debian's
python3-jinja2 works too):

    python3 make_golden.py

The Go test (chat_test.go) renders the same cases and compares bytes; it
needs neither Python nor jinja2.
"""

import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    cases = json.load(open(os.path.join(HERE, "cases.json")))
    env = environment()
    out = {}
    for name in sorted(cases["templates"]):
        spec = cases["templates"][name]
        tmpl = env.from_string(open(os.path.join(HERE, spec["file"])).read())
        for case in cases["conversations"]:
            if name in case.get("skip", []):
                continue
            kwargs = dict(spec.get("tokens", {}))
            kwargs.update(case.get("kwargs", {}))
            text = tmpl.render(messages=case["messages"], add_generation_prompt=case["add_generation_prompt"], **kwargs)
            out["%s/%s" % (name, case["name"])] = text
    with open(os.path.join(HERE, "renderings.golden.json"), "w") as f:
        json.dump({"jinja2": jinja2.__version__, "renderings": out}, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
