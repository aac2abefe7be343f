"""Behaviour cloning: every policy head reaches the expert's return on
expert data of a probe (discrete and continuous), through the offline loop
and its evaluation; heads that do not fit the action space are refused."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import haikurl
from agents import bc
from configs import bc as bc_config
from haikurl import datasets
from haikurl import evaluation
from haikurl import testing


def expert(obs, key):
  """probe:action_reward's best action: 1 (discrete)."""
  del key
  return jnp.ones(obs.shape[:1], jnp.int32)


def continuous_expert(obs, key):
  """probe:action_reward_continuous's best action, 0.5."""
  del key
  return jnp.full(obs.shape[:1] + (1,), testing.BEST_CONTINUOUS_ACTION)


@pytest.fixture(scope="module")
def expert_data(tmp_path_factory):
  root = tmp_path_factory.mktemp("expert")
  return {
      "probe:action_reward": testing.write_dataset(
          str(root / "discrete-v0"), "probe:action_reward", expert, 32),
      "probe:action_reward_continuous": testing.write_dataset(
          str(root / "continuous-v0"), "probe:action_reward_continuous",
          continuous_expert, 32)}


def final_return(env, path, **agent):
  config = testing.tiny(bc_config.get_config("Pendulum-v1"), env=env,
                        dataset=path, iterations=150, hidden=32,
                        batch_size=32, learning_rate=3e-3, **agent)
  with config.unlocked():
    config.num_eval_episodes = 8
  _, _, metrics = testing.run(config, callbacks={"eval": evaluation.evaluate})
  return float(metrics["eval/episode_return"][-1])


@pytest.mark.parametrize("env,policy", [
    ("probe:action_reward", "categorical"),
    ("probe:action_reward_continuous", "gaussian"),
    ("probe:action_reward_continuous", "tanh_gaussian"),
    ("probe:action_reward_continuous", "deterministic")])
def test_bc_on_expert_data_reaches_the_experts_return(expert_data, env,
                                                      policy):
  path = expert_data[env]
  expert_return = float(np.mean(datasets.load(path).episode_returns))
  assert expert_return == pytest.approx(1.0)
  # Continuous: return 1 - (a - 0.5)^2 >= 0.99 means |a - 0.5| <= 0.1; a
  # policy that ignored the data (a = 0) would get 0.75.
  got = final_return(env, path, policy=policy)
  assert got >= expert_return - 0.01, (policy, got)


def test_one_step_fits_the_dataset_actions():
  # One Adam step on a batch of action 1 raises log pi(1|s) (and the loss
  # is minus the mean log-probability).
  spec = haikurl.envs.make("probe:action_reward", 1).spec
  settings = bc.Settings(hidden_sizes=(8,), total_env_steps=10)
  agent = bc.make(settings, spec)
  hp = bc.HParams(learning_rate=jnp.float32(1e-2),
                  max_grad_norm=jnp.float32(10.0))
  state = agent.init(jax.random.key(0), hp)
  batch = haikurl.Transition(
      obs=jnp.ones((4, 1)), action=jnp.ones((4,), jnp.int32),
      reward=jnp.ones((4,)), discount=jnp.zeros((4,)),
      terminated=jnp.ones((4,), bool), truncated=jnp.zeros((4,), bool),
      next_obs=jnp.zeros((4, 1)), extras=())
  new, metrics = jax.jit(agent.learn)(state, batch, jax.random.key(1), hp)
  np.testing.assert_allclose(metrics["loss/bc"], -metrics["train/log_prob"])
  # Initial logits are near 0 (orthogonal(0.01) head): log pi ~ log 0.5.
  np.testing.assert_allclose(metrics["train/log_prob"], np.log(0.5),
                             atol=0.05)
  _, after = jax.jit(agent.learn)(new, batch, jax.random.key(2), hp)
  assert after["train/log_prob"] > metrics["train/log_prob"]
  assert int(new.num_updates) == 1


def test_a_head_that_does_not_fit_is_one_line(expert_data):
  config = testing.tiny(bc_config.get_config("Pendulum-v1"),
                        env="probe:action_reward",
                        dataset=expert_data["probe:action_reward"],
                        policy="gaussian")
  with pytest.raises(ValueError, match="does not fit") as e:
    haikurl.make_train(config)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", bc_config.PRESETS)
def test_presets_resolve(name):
  config = bc_config.get_config(name)
  assert config.agent.name == "bc" and config.dataset is None
  assert config.agent.num_envs == 1 and config.agent.rollout_length == 1
