"""haikurl.numerics: names fixed when the program is built, replay buffers
skipped by type (not by name), outputs read by name."""
import jax
import jax.numpy as jnp
import numpy as np

import haikurl
from configs import dqn as dqn_config
from haikurl import numerics
from haikurl import offpolicy as replay


def test_buffers_are_skipped_by_type_not_by_name():
  buffer = replay.make_transition_buffer(8, 2, 2)
  spec = haikurl.make_env(dqn_config.get_config("CartPole-v1")).spec
  state = {"buffer": jnp.zeros((3,)),             # a parameter named buffer
           "replay": buffer.init(replay.dummy_transition(spec)),
           "steps": jnp.zeros((), jnp.int32)}     # not inexact: not checked
  names = numerics.leaf_names({"loss": jnp.zeros(())}, state)
  assert names == ("learn metric ['loss']", "agent state ['buffer']"), names
  checker = numerics.Checker(names)
  bad = dict(state, buffer=jnp.array([0.0, jnp.nan, 0.0]))
  np.testing.assert_array_equal(
      checker.flags({"loss": jnp.zeros(())}, bad), [False, True])


def test_names_are_known_when_the_program_is_built():
  c = dqn_config.get_config("CartPole-v1")
  a = c.agent
  a.num_envs, a.rollout_length, a.hidden_sizes = 2, 4, (8,)
  a.buffer_size, a.batch_size, a.learning_starts = 64, 8, 0
  c.total_env_steps = c.eval_every = 8
  with c.unlocked():
    c.check_numerics = True
  train = haikurl.make_train(c)
  names = train.numerics_names          # before anything is traced
  assert any("params" in n for n in names), names
  assert not any("experience" in n for n in names), names
  before = tuple(names)
  _, metrics = jax.eval_shape(train, jax.random.key(0))
  assert train.numerics_names == before   # tracing changed nothing
  assert "numerics/step" in metrics
