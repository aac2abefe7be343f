"""Conservative Q-learning (Kumar, Zhou, Tucker and Levine, 2020), offline.

CQL adds to a Q-learning loss a penalty that pushes Q down on actions the
dataset does not take and up on the ones it does, so the learned values
are a lower bound where the data is thin:

    penalty(s, a) = T * log sum_a' exp(Q(s, a') / T) - Q(s, a),

the "CQL(H)" regulariser (their eq. 4), averaged over the batch and
weighted by `cql_alpha`, with the logsumexp's temperature T
(`cql_temperature`, 1 in the paper). `penalty` below is the per-example
term, used by both flavours:

Discrete actions (their Atari experiments): the loss is DQN's, on DQN's Q
network (agents/dqn.py: `make_network`, `q_outputs`, the
`q_learning_loss` hook (double Q by default, l2 or Huber), the target
update and the clipped Adam step of `dqn.update`), plus `cql_alpha *
penalty`; the logsumexp runs over every action, exactly.

Continuous actions (their D4RL experiments): SAC on its own critics
(agents/sac.py: `make_parts`, whose critic loss takes the penalty through
its `critic_penalty` hook; the actor and the temperature are SAC's). The
logsumexp over actions is estimated by importance sampling as the paper's
code does (appendix F): `num_action_samples` uniform actions (density
2^-D), that many from the policy at s and at s' (log pi subtracted, no
gradient to the policy), all evaluated at s; each of the twin critics gets
its own penalty. With `lagrange=True` the weight is tuned as a Lagrange
multiplier (their eq. 30, "CQL-Lagrange"): the critic loss adds
`alpha' * (cql_alpha * penalty - target_action_gap)` and
`log alpha'` descends `-alpha' * (cql_alpha * penalty - target_action_gap)`,
so alpha' grows while the penalty exceeds the gap; alpha' is clipped to
[0, 1e6] as in the paper's code.

Targets: discrete, DQN's (Polyak `tau` every `target_period` gradient
steps; double Q); continuous, the target critics at a sampled next action
(Polyak `tau`), without SAC's entropy term by default as the paper's D4RL
runs (`deterministic_backup`; False: SAC's soft value). Every batch's `discount` (1 -
terminated, from the offline loop) is multiplied by `hp.discount` before
the shared losses see it.

Continuous actions can start with behaviour cloning (`bc_warmup_steps`,
the paper's code's `policy_eval_start`): for those first gradient steps the
actor maximises log pi(a | s) of the dataset's actions instead of Q (its
entropy term kept), while the critics learn as always. `actor_decay="cosine"`
decays the actor's rate to 0 over the run (IQL's schedule; the paper's is
constant).

Deviations: no max-backup variant; greedy evaluation: argmax Q,
or SAC's tanh(mean).

Metrics:
  loss/td          discrete: DQN's loss with the penalty (mean)
  loss/critic      continuous: SAC's TD loss of the critics (no penalty)
  loss/cql         the penalty term added to the critic loss (weighted;
                   continuous: summed over the twin critics)
  train/cql_penalty  mean unweighted penalty (mean over critics)
  train/cql_alpha  the penalty's weight (alpha' with `lagrange`)
  train/cql_gap    continuous: cql_alpha * penalty - target_action_gap,
                   what alpha' follows with `lagrange`
  train/q_mean, train/td_abs (discrete), train/q, loss/actor, loss/alpha,
  train/alpha, train/entropy (continuous): as agents/dqn.py and sac.py
  train/gradient_steps  1.0 per learn call
"""
import dataclasses
import functools
from typing import NamedTuple

import chex
import distrax
import haiku as hk
import jax
import jax.numpy as jnp
import optax

from agents import dqn
from agents import sac
from haikurl import networks
from haikurl import offline
from haikurl import offpolicy
from haikurl import optim
from haikurl import settings as s
from haikurl.types import Agent, EnvSpec, Transition

OFFLINE = True
# alpha' of CQL-Lagrange is clipped to [0, MAX_LAGRANGE] (the paper's code).
MAX_LAGRANGE = 1e6


@dataclasses.dataclass(frozen=True)
class Settings(offline.Settings, networks.TorsoSettings):
  """CQL's static settings: DQN's network options for discrete actions,
  SAC's actor-critic for continuous ones (256-256 ReLU MLPs, batch 256)."""
  hidden_sizes: tuple = s.setting(
      (256, 256), "discrete: units of the Q network's MLP", s.positive_ints)
  actor_hidden_sizes: tuple = s.setting(
      (256, 256), "continuous: units of the actor MLP", s.positive_ints)
  critic_hidden_sizes: tuple = s.setting(
      (256, 256), "continuous: units of each critic MLP", s.positive_ints)
  activation: str = s.setting("relu", "nonlinearity of every MLP",
                              s.one_of(*networks.ACTIVATIONS))
  torso_init: str = s.setting("orthogonal",
                              "discrete: Q network weight initialisation",
                              s.one_of(*networks.TORSO_INITS))
  double_q: bool = s.setting(True, "discrete: the online net picks a_t",
                             s.boolean)
  dueling: bool = s.setting(False, "discrete: value + advantage streams",
                            s.boolean)
  loss: str = s.setting("l2", "discrete: TD loss, 'huber' or 'l2'",
                        s.one_of(*dqn.LOSSES))
  target_period: int = s.setting(
      1, "discrete: gradient steps between target updates", s.positive_int)
  adam_eps: float = s.setting(1e-8, "discrete: Adam's epsilon", s.number)
  anneal_learning_rate: bool = s.setting(
      False, "discrete: decay the rate linearly to 0 over the run",
      s.boolean)
  num_action_samples: int = s.setting(
      10, "continuous: actions per state from each of the three proposals "
      "of the logsumexp estimate", s.positive_int)
  bc_warmup_steps: int = s.setting(
      0, "continuous: first gradient steps whose actor maximises the "
      "dataset action's log-probability instead of Q (the paper's code's "
      "policy_eval_start: 40,000)", s.non_negative_int)
  deterministic_backup: bool = s.setting(
      True, "continuous: the critics' target without SAC's entropy term "
      "(the paper's D4RL setting); False: SAC's soft target", s.boolean)
  actor_decay: str = s.setting(
      "constant", "continuous: the actor's rate over the run, 'constant' "
      "(the paper's) or 'cosine' decay to 0 (as IQL's actor)",
      s.one_of("constant", "cosine"))
  lagrange: bool = s.setting(
      False, "continuous: tune the penalty's weight towards "
      "target_action_gap (CQL-Lagrange)", s.boolean)

  # What DQN's pieces read that CQL fixes (not settings: class constants).
  distributional = "none"
  prioritised = False
  n_step = 1


class HParams(NamedTuple):
  learning_rate: float = 3e-4         # discrete: the Q network's Adam rate
  discount: float = 0.99
  tau: float = 0.005                  # Polyak rate of the targets
  max_grad_norm: float = 10.0         # discrete: clipping of the Q gradient
  actor_learning_rate: float = 1e-4   # continuous (the paper's 1e-4)
  critic_learning_rate: float = 3e-4  # continuous
  alpha_learning_rate: float = 3e-4   # continuous: SAC's temperature
  initial_alpha: float = 1.0          # continuous: SAC's temperature
  target_entropy_ratio: float = 1.0   # continuous: see agents/sac.py
  cql_alpha: float = 1.0              # weight of the penalty
  cql_temperature: float = 1.0        # T of the logsumexp
  target_action_gap: float = 5.0      # lagrange: the penalty's target
  lagrange_learning_rate: float = 3e-4  # lagrange: Adam rate of log alpha'
  initial_lagrange: float = 1.0       # lagrange: alpha' at initialisation
  CHECKS = {"learning_rate": s.positive, "discount": s.unit_interval,
            "tau": s.unit_interval, "max_grad_norm": s.positive,
            "actor_learning_rate": s.positive,
            "critic_learning_rate": s.positive,
            "alpha_learning_rate": s.positive, "initial_alpha": s.positive,
            "target_entropy_ratio": s.non_negative,
            "cql_alpha": s.non_negative, "cql_temperature": s.positive,
            "lagrange_learning_rate": s.positive,
            "initial_lagrange": s.positive}


class DiscreteState(NamedTuple):
  """DQN's learner fields (no replay: the offline loop samples)."""
  params: hk.Params
  target_params: hk.Params
  opt_state: optax.OptState
  num_updates: jax.Array  # [] int32 gradient steps taken


class ContinuousState(NamedTuple):
  """SAC's learner fields, and CQL-Lagrange's multiplier."""
  actor: hk.Params
  critic: hk.Params
  target_critic: hk.Params
  log_alpha: jax.Array         # [] SAC's log temperature
  actor_opt: optax.OptState
  critic_opt: optax.OptState
  alpha_opt: optax.OptState
  num_updates: jax.Array       # [] int32 gradient steps taken
  log_lagrange: jax.Array      # [] log alpha' (CQL-Lagrange; unused if off)
  lagrange_opt: optax.OptState


def validate(settings: Settings, spec: EnvSpec) -> None:
  """Raises a one-line ValueError for settings that do not fit `spec`."""
  if spec.discrete and settings.lagrange:
    raise ValueError("config.agent.lagrange is for continuous actions (CQL "
                     f"on SAC's critics); {spec.name} is discrete: tune "
                     "config.agent.cql_alpha instead.")


def penalty(q_candidates: jax.Array, q_data: jax.Array,
            temperature) -> jax.Array:
  """CQL(H)'s per-example penalty, T logsumexp(q / T) - Q(s, a).

  Args:
    q_candidates: [..., K] Q(s, a') over every action (discrete) or over K
      sampled actions with their log-densities subtracted (continuous: the
      importance-sampled estimate of the integral over actions).
    q_data: [...] Q(s, a) at the dataset's action.
    temperature: T > 0.

  Returns:
    [...] the penalty of each example.
  """
  chex.assert_rank(q_candidates, q_data.ndim + 1)
  lse = temperature * jax.nn.logsumexp(q_candidates / temperature, axis=-1)
  chex.assert_equal_shape([lse, q_data])
  return lse - q_data


def lagrange_loss(log_lagrange: jax.Array, gap: jax.Array) -> jax.Array:
  """-alpha' * gap with alpha' = clip(exp(log alpha'), 0, MAX_LAGRANGE) and
  `gap` = weighted penalty - target gap (its gradient stopped): descending
  it grows alpha' while the penalty is above the target."""
  chex.assert_rank([log_lagrange, gap], 0)
  return -lagrange_weight(log_lagrange) * jax.lax.stop_gradient(gap)


def lagrange_weight(log_lagrange: jax.Array) -> jax.Array:
  return jnp.clip(jnp.exp(log_lagrange), 0.0, MAX_LAGRANGE)


def with_gamma(batch: Transition, hp) -> Transition:
  """The offline batch's 1 - terminated times gamma: the full bootstrap
  discount DQN's and SAC's losses expect."""
  return batch._replace(discount=hp.discount * batch.discount)


def cql_q_loss(q: dqn.QOutputs, batch: Transition, hp, settings):
  """A DQN loss hook: the TD loss plus `cql_alpha` times the penalty over
  every action (per example), priority |TD| as DQN's."""
  td_loss, priority = dqn.q_learning_loss(q, batch, hp, settings)
  q_values = q.online_tm1.q_values                                 # [N, A]
  q_data = jnp.take_along_axis(q_values, batch.action[:, None],
                               axis=-1)[:, 0]
  extra = penalty(q_values, q_data, hp.cql_temperature)            # [N]
  return td_loss + hp.cql_alpha * extra, priority


def make_discrete(settings: Settings, spec: EnvSpec) -> Agent:
  """CQL(H) on DQN's Q network, loss and update."""
  net = dqn.make_network(settings, spec)
  opt = optim.make(eps=settings.adam_eps, clip=True,
                   decay_steps=(settings.total_gradient_steps
                                if settings.anneal_learning_rate else None))
  step = functools.partial(
      dqn.update, outputs=functools.partial(dqn.q_outputs, net),
      loss=cql_q_loss, opt=opt, settings=settings)

  def init(key, hp):
    del hp
    params = net.init(key, spec.dummy_obs[None])
    return DiscreteState(params, params, opt.init(params),
                         jnp.zeros((), jnp.int32))

  def act(state, obs, key, hp, evaluation=False):
    del hp
    q_values = net.apply(state.params, obs).q_values               # [B, A]
    if evaluation:
      return jnp.argmax(q_values, axis=-1).astype(jnp.int32), ()
    # Outside evaluation: Boltzmann actions of Q (the "sampled" protocol).
    return distrax.Categorical(logits=q_values).sample(seed=key).astype(
        jnp.int32), ()

  def learn(state, batch, key, hp):
    batch = with_gamma(batch, hp)
    q_values = net.apply(state.params, batch.obs).q_values         # [N, A]
    q_data = jnp.take_along_axis(q_values, batch.action[:, None],
                                 axis=-1)[:, 0]
    extra = jnp.mean(penalty(q_values, q_data, hp.cql_temperature))
    state, metrics, _ = step(state, offpolicy.Sample(batch, None, None),
                             key, hp)
    metrics.update({"loss/cql": hp.cql_alpha * extra,
                    "train/cql_penalty": extra,
                    "train/cql_alpha": jnp.asarray(hp.cql_alpha,
                                                   jnp.float32),
                    "train/gradient_steps": jnp.ones((), jnp.float32)})
    return state, metrics

  return Agent(init=init, act=act, learn=learn)


def sampled_candidates(parts: sac.Parts, critic, actor, batch: Transition,
                       key, num_samples: int, action_dim: int):
  """[2, N, 3K] the importance-weighted Q(s, a') - log mu(a') of K uniform
  actions and K policy actions at s and at s' each, all evaluated at s.

  The policy's samples and log-densities carry no gradient (the critic
  loss differentiates only the critics).
  """
  uniform_key, current_key, next_key = jax.random.split(key, 3)
  n = batch.obs.shape[0]
  repeat = lambda x: jnp.broadcast_to(x[None], (num_samples,) + x.shape)

  def policy_samples(obs, k):
    _, dist = parts.policy(actor, obs)
    actions, log_probs = jax.vmap(lambda kk: dist.sample_and_log_prob(
        seed=kk))(jax.random.split(k, num_samples))               # [K, N, D]
    return jax.lax.stop_gradient(actions), jax.lax.stop_gradient(log_probs)

  uniform = jax.random.uniform(uniform_key, (num_samples, n, action_dim),
                               minval=-1.0, maxval=1.0)
  uniform_log_density = jnp.full((num_samples, n),
                                 -action_dim * jnp.log(2.0))
  current, current_log_prob = policy_samples(batch.obs, current_key)
  following, following_log_prob = policy_samples(batch.next_obs, next_key)
  actions = jnp.concatenate([uniform, current, following])       # [3K, N, D]
  log_density = jnp.concatenate([uniform_log_density, current_log_prob,
                                 following_log_prob])            # [3K, N]
  obs = jnp.concatenate([repeat(batch.obs)] * 3)                 # [3K, N, ...]
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  q = parts.critic_apply(critic, flat(obs), flat(actions))       # [2, 3KN]
  q = q.reshape((q.shape[0],) + log_density.shape) - log_density[None]
  # [2, 3K, N] -> [2, N, 3K]
  return jnp.swapaxes(q, 1, 2)


def make_continuous(settings: Settings, spec: EnvSpec) -> Agent:
  """CQL on SAC's critics, actor and temperature (with the Lagrange option)."""
  lagrange_opt = optim.make()

  def critic_penalty(critic, state, batch, key, hp, q_tm1):
    candidates = sampled_candidates(parts, critic, state.actor, batch, key,
                                    settings.num_action_samples,
                                    spec.action_dim)
    per_critic = jnp.mean(penalty(candidates, q_tm1, hp.cql_temperature),
                          axis=-1)                                 # [2]
    weighted = hp.cql_alpha * per_critic
    metrics = {"train/cql_penalty": jnp.mean(per_critic)}
    if settings.lagrange:
      weight = jax.lax.stop_gradient(lagrange_weight(state.log_lagrange))
      extra = jnp.sum(weight * (weighted - hp.target_action_gap))
      metrics["train/cql_alpha"] = weight
    else:
      extra = jnp.sum(weighted)
      metrics["train/cql_alpha"] = jnp.asarray(hp.cql_alpha, jnp.float32)
    metrics["loss/cql"] = extra
    # The multiplier's own loss sees the gap of the mean critic.
    metrics["train/cql_gap"] = jnp.mean(weighted) - hp.target_action_gap
    return extra, metrics

  def warmup_objective(q, dist, batch, num_updates):
    # Behaviour cloning first: log pi(a | s) of the dataset's (clipped)
    # actions in place of Q for the first bc_warmup_steps.
    action = jnp.clip(batch.action, -1.0 + 1e-4, 1.0 - 1e-4)
    return jnp.where(num_updates < settings.bc_warmup_steps,
                     dist.log_prob(action), q)

  parts = sac.make_parts(
      settings, spec, critic_penalty=critic_penalty,
      actor_objective=warmup_objective if settings.bc_warmup_steps else None,
      soft_backup=not settings.deterministic_backup,
      actor_optimizer=offline.actor_optimizer(settings))

  def init(key, hp):
    learner = parts.init(key, hp)
    log_lagrange = jnp.log(hp.initial_lagrange).astype(jnp.float32)
    return ContinuousState(
        actor=learner.actor, critic=learner.critic,
        target_critic=learner.target_critic, log_alpha=learner.log_alpha,
        actor_opt=learner.actor_opt, critic_opt=learner.critic_opt,
        alpha_opt=learner.alpha_opt, num_updates=learner.num_updates,
        log_lagrange=log_lagrange,
        lagrange_opt=lagrange_opt.init(log_lagrange))

  def act(state, obs, key, hp, evaluation=False):
    del hp
    out, dist = parts.policy(state.actor, obs)
    if evaluation:
      return jnp.tanh(out.mean), ()
    return dist.sample(seed=key), ()

  def learn(state, batch, key, hp):
    batch = with_gamma(batch, hp)
    state, metrics, _ = parts.update(
        state, offpolicy.Sample(batch, None, None), key, hp)
    if settings.lagrange:
      # The gap of the step's critics, before their update (the paper's
      # code updates alpha' from the same penalty as the critics).
      grad = jax.grad(lagrange_loss)(state.log_lagrange,
                                     metrics["train/cql_gap"])
      log_lagrange, lagrange_state, _ = lagrange_opt.step(
          state.log_lagrange, grad, state.lagrange_opt,
          hp.lagrange_learning_rate)
      state = state._replace(log_lagrange=log_lagrange,
                             lagrange_opt=lagrange_state)
    metrics["train/gradient_steps"] = jnp.ones((), jnp.float32)
    return state, metrics

  return Agent(init=init, act=act, learn=learn)


def make(settings: Settings, spec: EnvSpec) -> Agent:
  """Builds CQL's init, act and learn: discrete (on DQN) or continuous (on
  SAC), by the env's action space."""
  if spec.discrete:
    return make_discrete(settings, spec)
  return make_continuous(settings, spec)
