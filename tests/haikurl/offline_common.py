"""What the offline test modules share: the three offline agents' configs,
a dataset of probe:action_reward under uniform actions (a module-scoped
fixture: import it by name), tiny configs on it, and two tree helpers."""

import jax
import jax.numpy as jnp
import pytest

from configs import bc as bc_config
from configs import cql as cql_config
from configs import iql as iql_config
from haikurl import testing

CONFIGS = {"bc": bc_config, "iql": iql_config, "cql": cql_config}


def uniform_policy(obs, key):
  return jax.random.randint(key, obs.shape[:1], 0, 2)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  """64 one-step episodes of probe:action_reward under uniform actions."""
  path = str(tmp_path_factory.mktemp("data") / "probe-uniform-v0")
  return testing.write_dataset(path, "probe:action_reward", uniform_policy,
                               64)


def tiny(agent, dataset_path, **overrides):
  return testing.tiny(CONFIGS[agent].get_config("CartPole-v1"),
                      env="probe:action_reward", dataset=dataset_path,
                      **overrides)


def stacked(hp, n):
  return jax.tree.map(lambda x: jnp.stack([x] * n), hp)


def bits(tree):
  """`tree` with PRNG keys as their raw data (comparable as arrays)."""
  return jax.tree.map(
      lambda x: jax.random.key_data(x)
      if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)
