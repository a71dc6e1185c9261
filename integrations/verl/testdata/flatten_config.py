"""Flatten a verl config YAML (stdin) into its dotted keys, one a line.

The fixtures verl-*.keys beside this file were made once from verl's own
config schema, verl/trainer/config/_generated_ppo_trainer.yaml (the fully
composed ppo_trainer.yaml that verl generates and checks in), at each
release tag:

    git -C verl show v0.7.0:verl/trainer/config/_generated_ppo_trainer.yaml |
        python3 flatten_config.py v0.7.0 > verl-0.7.0.keys

It needs PyYAML (not needed by the tests, which only read the .keys files).
A key whose value is a mapping is listed too (data, reward_model, …), since
Hydra lets an override set a whole mapping.
"""

import sys

import yaml


def walk(prefix, node, out):
    if isinstance(node, dict):
        if prefix:
            out.append(prefix)
        for k, v in node.items():
            walk(prefix + "." + str(k) if prefix else str(k), v, out)
    else:
        out.append(prefix)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "?"
    cfg = yaml.safe_load(sys.stdin)
    keys = []
    walk("", cfg, keys)
    print("# verl %s: verl/trainer/config/_generated_ppo_trainer.yaml, flattened by flatten_config.py" % src)
    for k in sorted(set(keys)):
        print(k)


if __name__ == "__main__":
    main()
