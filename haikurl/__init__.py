"""haikurl: reinforcement-learning agents as pure functions, trained by one
jittable function.

    import haikurl
    train = haikurl.make_train(config)
    state, metrics = jax.jit(jax.vmap(train))(keys, hparams)
"""
from haikurl import envs
from haikurl import evaluation
from haikurl import hparams
from haikurl import networks
from haikurl import returns
from haikurl.checkpoint import load_policy
from haikurl.loop import Train, TrainState, make_train
from haikurl.registry import register as register_agent
from haikurl.types import Agent, EnvSpec, TimeStep, Transition

__version__ = "0.1.0"

__all__ = ["Agent", "EnvSpec", "TimeStep", "Transition", "Train", "TrainState",
           "load_policy", "make_train", "register_agent", "envs", "evaluation",
           "hparams", "networks", "returns"]
