"""`haikurl-collect`: a finished run's saved policy, rolled in one jitted
program, written as a Minari dataset that haikurl and minari read back;
noise levels; the replay-buffer export; one-line refusals. The runs are
`testing.tiny`-sized SAC (Pendulum) and DQN (CartPole) runs made here."""
import jax
import numpy as np
import pytest

import haikurl
from configs import dqn as dqn_config
from configs import sac as sac_config
from haikurl import collect
from haikurl import datasets
from haikurl import experiment
from haikurl import testing


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("sac"))
  config = testing.tiny(sac_config.get_config("Pendulum-v1"), iterations=4)
  experiment.run(config, workdir, quiet=True, tensorboard=False)
  return workdir


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("dqn"))
  config = testing.tiny(dqn_config.get_config("CartPole-v1"), iterations=4)
  experiment.run(config, workdir, quiet=True, tensorboard=False)
  return workdir


def test_noiseless_collection_is_the_saved_policy(sac_run, tmp_path, capsys):
  out = str(tmp_path / "pend-greedy-v0")
  assert collect.main(["--workdir", sac_run, "--out", out,
                       "--episodes", "3", "--num_envs", "2"]) == 0
  assert "wrote 3 episodes, 600 steps" in capsys.readouterr().out
  data = datasets.load(out)
  assert data.env == "gymnax:Pendulum-v1" and data.size == 3 * 200
  np.testing.assert_array_equal(data.episode_lengths, [200, 200, 200])
  # Pendulum only truncates: every episode ends in a truncation.
  assert int(np.sum(data.transitions.truncated)) == 3
  assert not np.any(data.transitions.terminated)
  # Every action is the saved policy's greedy action on its observation,
  # in the env's units (torques within [-2, 2]).
  act = haikurl.load_policy(sac_run, member=0)
  want = np.asarray(act(data.transitions.obs, jax.random.key(0)))
  np.testing.assert_allclose(data.transitions.action, want, rtol=1e-5,
                             atol=1e-5)
  assert np.all(np.abs(data.transitions.action) <= 2.0)
  info = data.metadata["haikurl_collect"]
  assert info["episodes"] == 3 and info["agent"] == "sac"
  np.testing.assert_allclose(info["mean_return"],
                             np.mean(data.episode_returns), rtol=1e-5)


def test_action_noise_levels_mix_qualities(sac_run, tmp_path):
  out = str(tmp_path / "pend-mixed-v0")
  assert collect.main(["--workdir", sac_run, "--out", out, "--episodes", "4",
                       "--num_envs", "4", "--action_noise", "0,1.0"]) == 0
  data = datasets.load(out)
  act = haikurl.load_policy(sac_run, member=0)
  greedy = np.asarray(act(data.transitions.obs, jax.random.key(0)))
  deviation = np.abs(np.asarray(data.transitions.action) - greedy)[:, 0]
  per_episode = deviation.reshape(4, 200).max(axis=1)
  # Episodes are taken in turn over the envs: levels 0, 1, 0, 1.
  np.testing.assert_allclose(per_episode[[0, 2]], 0.0, atol=1e-5)
  assert np.all(per_episode[[1, 3]] > 0.5)
  assert np.all(np.abs(data.transitions.action) <= 2.0)   # clipped
  assert len(data.metadata["haikurl_collect"]["mean_return_per_level"]) == 2


def test_epsilon_on_a_discrete_run(dqn_run, tmp_path):
  greedy_out = str(tmp_path / "cart-greedy-v0")
  random_out = str(tmp_path / "cart-random-v0")
  assert collect.main(["--workdir", dqn_run, "--out", greedy_out,
                       "--episodes", "4"]) == 0
  assert collect.main(["--workdir", dqn_run, "--out", random_out,
                       "--episodes", "8", "--epsilon", "1.0"]) == 0
  act = haikurl.load_policy(dqn_run, member=0)
  greedy = datasets.load(greedy_out)
  np.testing.assert_array_equal(
      greedy.transitions.action,
      np.asarray(act(greedy.transitions.obs, jax.random.key(0))))
  uniform = datasets.load(random_out)
  assert uniform.transitions.action.dtype == np.int32
  # epsilon 1: uniform actions, both taken often.
  assert 0.3 < float(np.mean(uniform.transitions.action)) < 0.7


def test_replay_buffer_export(sac_run, tmp_path):
  out = str(tmp_path / "pend-replay-v0")
  assert collect.main(["--workdir", sac_run, "--out", out, "--replay"]) == 0
  data = datasets.load(out)
  act = haikurl.load_policy(sac_run, member=0)
  buffer = act.agent_state.buffer
  stored = int(np.asarray(buffer.current_index))
  assert data.size == stored
  # The buffer's own rewards, in the same (per env) order, summed.
  np.testing.assert_allclose(
      np.sum(data.transitions.reward),
      np.sum(np.asarray(buffer.experience.reward)[0, :stored]), rtol=1e-5)
  assert np.all(np.abs(data.transitions.action) <= 2.0)   # env units


def test_bad_requests_are_one_line(dqn_run, tmp_path, capsys):
  assert collect.main(["--workdir", dqn_run, "--out",
                       str(tmp_path / "x-v0"), "--action_noise", "0.1"]) == 2
  err = capsys.readouterr().err.strip()
  assert "--action_noise is for continuous actions" in err
  assert "\n" not in err
  assert collect.main(["--workdir", dqn_run, "--out", str(tmp_path / "y-v0"),
                       "--epsilon", "2"]) == 2
  assert "--epsilon levels must be in [0, 1]" in capsys.readouterr().err
