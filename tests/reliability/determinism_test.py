"""Determinism on CPU, for every agent (tiny configs):

- the same key gives bitwise the same metrics and final agent state;
- member i of a vmapped batch equals the solo run with the same key and
  hyperparameters, to float32 rounding (see below why not bitwise).
"""
import chex
import jax
import numpy as np
import pytest

import haikurl
from haikurl import hparams as hparams_lib
from tests import presets

AGENTS = presets.names()


def _params(state):
  return state.agent_state


@pytest.mark.parametrize("agent", AGENTS)
def test_same_key_same_bits_and_vmapped_member_equals_solo(agent):
  config = presets.tiny(agent, iterations=2, periods=1)
  train = haikurl.make_train(config)
  keys = jax.random.split(jax.random.key(7), 2)
  solo = jax.jit(train)
  runs = [jax.device_get(solo(keys[1])) for _ in range(2)]
  chex.assert_trees_all_equal(runs[0][1], runs[1][1])
  chex.assert_trees_all_equal(_params(runs[0][0]), _params(runs[1][0]))

  # Member 1 of a vmapped pair (the other member has another key) equals
  # the solo run of key 1 to float32 rounding, not bitwise: under vmap, XLA
  # on CPU may reduce over a batched axis in another order (measured: 1 ulp
  # in some parameters of DQN, SAC, TD3, DDPG after two iterations). The
  # greedy evaluation can then take another action once in a while (PPO:
  # an eval episode 47 instead of 48.5 steps long), so eval/* is left out.
  hp = hparams_lib.broadcast(train.default_hparams, 2)
  state, batched = jax.device_get(jax.jit(jax.vmap(train))(keys, hp))
  member = {k: v[1] for k, v in batched.items() if not k.startswith("eval/")}
  chex.assert_trees_all_close(
      member, {k: v for k, v in runs[0][1].items() if k in member},
      rtol=1e-5, atol=1e-6)
  # Adam divides by sqrt(v): a near-zero gradient's rounding is amplified
  # (measured: PPO, 6.6e-7 in a 1e-3 bias), hence the absolute tolerance.
  chex.assert_trees_all_close(
      jax.tree.map(lambda x: x[1], _params(state)), _params(runs[0][0]),
      rtol=1e-5, atol=1e-5)
  # ... and the two members did differ.
  leaves = [x for x in jax.tree.leaves(_params(state))
            if np.issubdtype(x.dtype, np.floating)]
  assert any(not np.array_equal(x[0], x[1]) for x in leaves)
