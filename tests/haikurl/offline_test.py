"""The offline loop keeps `train(key, hparams)`'s contract: one jittable
function, the same key gives the same bits, vmap over members agrees with
solo runs, and evaluation keys never change training.
tests/haikurl/offline_run_test.py: the member / sweep machinery,
checkpoints, the CLI and sharding; offline_agents_test.py: the offline
metrics (no NaN training-episode ones), vision torsos, float32 and rank
promotion."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl

from tests.haikurl.offline_common import (  # pylint: disable=unused-import
    bits, dataset, stacked, tiny)  # dataset: a fixture


@pytest.mark.parametrize("agent", ["bc", "iql", "cql"])
def test_same_key_same_bits_and_vmap_agrees_with_solo(agent, dataset):
  train = haikurl.make_train(tiny(agent, dataset, iterations=3, periods=2))
  hp = train.default_hparams
  k0, k1 = jax.random.split(jax.random.key(7))
  solo = jax.jit(lambda k: train(k, hp))
  first, again = bits(solo(k0)), bits(solo(k0))
  chex.assert_trees_all_equal(first, again)            # bit for bit
  batch = jax.jit(jax.vmap(train))
  both = bits(batch(jnp.stack([k0, k1]), stacked(hp, 2)))
  swapped = bits(batch(jnp.stack([k1, k0]), stacked(hp, 2)))
  # Batches of two are bitwise consistent with each other ...
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[1], both),
                              jax.tree.map(lambda x: x[0], swapped))
  # ... and agree with the solo runs up to rounding.
  for i, key in enumerate((k0, k1)):
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], both[1]),
                                bits(solo(key))[1], rtol=1e-4, atol=1e-5)
  # Different keys sample different minibatches: different parameters.
  leaf = lambda out: jax.tree.leaves(out[0].agent_state)[0]
  assert not np.allclose(leaf(both)[0], leaf(both)[1])


def test_evaluation_never_changes_training(dataset):
  config = tiny("cql", dataset, iterations=3, periods=2)
  with_eval = haikurl.make_train(config)
  without = haikurl.make_train(config, callbacks={})
  key = jax.random.key(3)
  state_eval, _ = jax.jit(lambda k: with_eval(k))(key)
  state_none, _ = jax.jit(lambda k: without(k))(key)
  chex.assert_trees_all_close(state_eval.agent_state, state_none.agent_state,
                              rtol=1e-6, atol=1e-7)
