#!/usr/bin/env bash
# GRPO with verl on resyn environments: an example configuration.
#
# Before running (see docs/scale-out.md):
#   1. resyn export --format verl --all --n 20000 --test-fraction 0.05 --out $DATA
#   2. resyn serve on a CPU host the GPU nodes can reach (with a token off loopback)
#   3. RESYN_URL=http://HOST:8700 RESYN_TOKEN=… exported on every node of the Ray
#      cluster (the reward function runs in Ray workers, which inherit them)
#
# The settings are overrides of verl's trainer/config/ppo_trainer.yaml, as in
# verl's own examples/grpo_trainer scripts; only the data and reward lines are
# resyn's. Supported: verl 0.5, 0.6 and 0.7 (and its main branch); the reward
# lines depend on the version, read from the installed verl (or VERL_VERSION):
#   0.5, 0.6   reward_model.reward_manager=batch, compute_score_batch
#              (one HTTP request per batch)
#   0.7+       the reward loop (on by default there, and without a batch
#              manager): reward_model.reward_manager=naive, compute_score_async
#              (concurrent calls share one HTTP request)
# Every key is checked against verl's own config schema of each supported
# version in integrations/verl_test.go (fixtures in verl/testdata/).
#
#   run_grpo.sh [HYDRA_OVERRIDE…]          run verl with these settings (and yours after them)
#   run_grpo.sh --print-overrides [OVR…]   print the overrides, one a line, and exit
set -euo pipefail

PRINT=0
if [[ "${1:-}" == "--print-overrides" ]]; then
    PRINT=1
    shift
elif [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

RESYN=${RESYN:-$(cd "$(dirname "$0")/../.." && pwd)}   # this checkout (for the reward function)
DATA=${DATA:-$HOME/data/resyn}                           # train.parquet, test.parquet from resyn export
MODEL=${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}
GPUS=${GPUS:-8}
NODES=${NODES:-1}

if [[ -z "${VERL_VERSION:-}" ]]; then
    VERL_VERSION=$(python3 -c 'import verl; print(verl.__version__)' 2>/dev/null) || {
        echo "run_grpo.sh: cannot import verl with python3 (pip install verl), or set VERL_VERSION" >&2
        exit 1
    }
fi
IFS=. read -r VERL_MAJOR VERL_MINOR _ <<<"$VERL_VERSION"
if ! [[ "$VERL_MAJOR" =~ ^[0-9]+$ && "${VERL_MINOR%%[!0-9]*}" =~ ^[0-9]+$ ]]; then
    echo "run_grpo.sh: cannot read the verl version \"$VERL_VERSION\" (want MAJOR.MINOR…)" >&2
    exit 1
fi
VERL_MINOR=${VERL_MINOR%%[!0-9]*}
if ((VERL_MAJOR == 0 && VERL_MINOR < 5)); then
    echo "run_grpo.sh: verl $VERL_VERSION is older than the supported 0.5, 0.6 and 0.7; upgrade verl" >&2
    exit 1
elif ((VERL_MAJOR == 0 && VERL_MINOR < 7)); then
    REWARD=(
        reward_model.reward_manager=batch
        custom_reward_function.path="$RESYN/integrations/verl/resyn_reward.py"
        custom_reward_function.name=compute_score_batch
    )
else
    REWARD=(
        reward_model.use_reward_loop=True
        reward_model.reward_manager=naive
        custom_reward_function.path="$RESYN/integrations/verl/resyn_reward.py"
        custom_reward_function.name=compute_score_async
    )
fi

OVERRIDES=(
    algorithm.adv_estimator=grpo
    algorithm.use_kl_in_reward=False
    data.train_files="$DATA/train.parquet"
    data.val_files="$DATA/test.parquet"
    data.prompt_key=prompt
    data.reward_fn_key=data_source
    data.train_batch_size=256
    data.max_prompt_length=2048
    data.max_response_length=4096
    data.filter_overlong_prompts=True
    data.truncation=error
    actor_rollout_ref.model.path="$MODEL"
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.model.enable_gradient_checkpointing=True
    actor_rollout_ref.actor.optim.lr=1e-6
    actor_rollout_ref.actor.ppo_mini_batch_size=64
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4
    actor_rollout_ref.actor.use_kl_loss=True
    actor_rollout_ref.actor.kl_loss_coef=0.001
    actor_rollout_ref.actor.kl_loss_type=low_var_kl
    actor_rollout_ref.actor.entropy_coeff=0
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.n=8
    actor_rollout_ref.rollout.tensor_model_parallel_size=1
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8
    "${REWARD[@]}"
    trainer.logger='["console"]'
    trainer.project_name=resyn
    trainer.experiment_name="grpo-$(basename "$MODEL")"
    trainer.n_gpus_per_node="$GPUS"
    trainer.nnodes="$NODES"
    trainer.val_before_train=True
    trainer.test_freq=20
    trainer.save_freq=100
    trainer.total_epochs=1
)

if ((PRINT)); then
    printf '%s\n' "${OVERRIDES[@]}" "$@"
    exit 0
fi

: "${RESYN_URL:?set RESYN_URL to the reward server, e.g. http://reward-host:8700}"
curl -fsS "$RESYN_URL/healthz" >/dev/null || { echo "reward server at $RESYN_URL is not answering" >&2; exit 1; }
echo "run_grpo.sh: verl $VERL_VERSION: ${REWARD[*]}" >&2
exec python3 -m verl.trainer.main_ppo "${OVERRIDES[@]}" "$@"
