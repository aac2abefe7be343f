#!/usr/bin/env bash
# GPU figures in one short run (under 10 minutes on one H200): PPO on
# CartPole-v1 (rejax's hyperparameters, 131,072 steps per agent, evaluation
# off) at 1, 64, 1,024 and 4,096 members of one program, as agents trained
# per hour (one run each, no ceilings: the lease is short); DQN (CartPole-v1,
# rejax preset, 8 seeds) and SAC (Pendulum-v1, 8 seeds) steps/s, evaluation
# off, compile apart, 1 repeat each, with our loop's ceilings (env, act and
# learn alone; benchmarks/common.py). Prints one JSON line on the last line
# of stdout.
#
#   bash benchmarks/gpu.sh            # from the repository root
#   bash benchmarks/gpu.sh --quick    # a smoke test of the script (any CPU,
#                                     # about 2 minutes): 1 and 4 members,
#                                     # 2 seeds of DQN and SAC, short runs
#
# The members are vmapped and sharded over every visible device
# (haikurl.batch.Runner), so on several GPUs the same command scales out.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-${TMPDIR:-/tmp}}"
python -c "import jax; print(jax.devices())" >&2
if [[ "${1:-}" == "--quick" ]]; then
  sweep=(--quick); dqn=(--seeds 2 --total_env_steps 8192)
  sac=(--seeds 2 --total_env_steps 4096)
else
  sweep=(--members "${MEMBERS:-1,64,1024,4096}"); dqn=(--seeds 8); sac=(--seeds 8)
fi
python benchmarks/sweep_scaling.py "${sweep[@]}" --repeats 1 --ceiling_steps 0 \
  | tail -n 1 > "$out/gpu_sweep.json"
python benchmarks/dqn_cartpole.py "${dqn[@]}" --repeats 1 --no_rejax \
  | tail -n 1 > "$out/gpu_dqn.json"
python benchmarks/offpolicy_pendulum.py --agents sac "${sac[@]}" --repeats 1 \
  --no_rejax | tail -n 1 > "$out/gpu_sac.json"
python - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name)))
sweep = load("gpu_sweep.json")
rows = [dict(r, agents_per_hour=round(r["agents_per_minute"] * 60))
        for r in sweep["rows"]]
print(json.dumps({"benchmark": "gpu", "device": sweep["device"],
                  "backend": sweep["backend"], "ppo_cartpole": rows,
                  "dqn_cartpole": load("gpu_dqn.json"),
                  "sac_pendulum": load("gpu_sac.json")}))
EOF
