"""Image augmentation for learning from pixels: DrQ's random shift and a
colour jitter, as pure jittable functions of (key, images [N, H, W, C]).

  random_shift  Kostrikov, Yarats & Fergus (2021), "Image augmentation is
                all you need" (DrQ): pad each image by `pad` pixels on every
                side, replicating its edge, and crop an H x W window back at
                an offset drawn per sample, uniformly in {0, ..., 2 pad}^2.
                The content moves by (offset - pad) rows and columns.
  color_jitter  per sample, a brightness offset b ~ U(-strength, strength)
                and a contrast factor c ~ U(1 - strength, 1 + strength)
                around the image's mean: x' = clip(c (x - m) + m + b, 0, 1)
                for float images in [0, 1] (Laskin et al. 2020, RAD).

Augmentation belongs to learning only: agents apply it to the observations
of a gradient batch inside `learn`, never in acting or evaluation. Which
agents augment (`config.agent.augmentation`):
  DQN, IQN, SAC, TD3, DDPG  through `haikurl.offpolicy.make_learn`: each
                sampled batch's `obs` and `next_obs`, each with its own draw,
                as DrQ does with K = M = 1;
  PPO, A2C, PQN through `agents.ppo.epochs`' minibatch hook
                (`make_for_batch`): each minibatch's observations;
  PPO-RNN, R2D2 refuse it (one line from their settings' check): per-frame
                draws inside a replayed or unrolled sequence would show the
                recurrent core a jittering episode. With `augmentation="none"`
(the default) nothing is drawn and the agents' programs are those without
augmentation, bit for bit.

On MinAtar: its frames are 10 x 10 x C binary channels, one per object
kind. A shift of 1 pixel (the automatic pad on 10 x 10) is meaningful there:
the game is translation-equivariant and a one-cell shift keeps almost every
object on the board. The colour jitter is not: channels are object
indicators, not colours, the frames are always exactly 0 or 1, and a
brightness offset turns every empty cell nonzero. The jitter is there for
float image observations (e.g. rendered RGB frames); on MinAtar it is
allowed but is only input noise, not an invariance of the game.
"""
import dataclasses
from typing import Callable, Optional

import chex
import jax
import jax.numpy as jnp

from haikurl import settings as s

AUGMENTATIONS = ("none", "shift", "color", "shift,color")


@dataclasses.dataclass(frozen=True)
class AugmentSettings(s.Settings):
  """The augmentation settings of an agent that learns from images (a mixin:
  an agent's Settings derives from it and calls `augment.make(settings)`)."""
  augmentation: str = s.setting(
      "none", "image augmentation in learn: 'none', 'shift' (DrQ random "
      "shift), 'color' (colour jitter) or 'shift,color'",
      s.one_of(*AUGMENTATIONS))
  shift_pad: int = s.setting(
      0, "pixels of the random shift's padding; 0: round(4 H / 84), at "
      "least 1 (DrQ's 4 on 84 x 84 frames; 1 on MinAtar's 10 x 10)",
      s.non_negative_int)
  color_strength: float = s.setting(
      0.2, "range of the colour jitter's brightness offset and contrast "
      "factor (1 +-)", s.number)

  def check(self):
    super().check()
    if not 0.0 <= self.color_strength <= 1.0:
      raise ValueError(f"config.agent.color_strength must lie in [0, 1], got "
                       f"{self.color_strength}.")

  def check_spec(self, spec) -> None:
    super().check_spec(spec)
    if self.augmentation != "none" and len(spec.obs_shape) != 3:
      raise ValueError(
          f"config.agent.augmentation={self.augmentation!r} needs image "
          f"observations [H, W, C], but {spec.name} has observations of "
          f"shape {tuple(spec.obs_shape)}; use augmentation='none'.")


def default_pad(height: int) -> int:
  """DrQ's 4 pixels on 84, scaled to `height`, at least 1."""
  return max(1, round(4 * height / 84))


def random_shift(key: chex.PRNGKey, images: jax.Array, pad: int) -> jax.Array:
  """DrQ's random shift: edge-replicating pad, then a random crop per sample.

  Args:
    key: the PRNG key.
    images: [N, H, W, C].
    pad: pixels added on each side (a Python int); 0 returns `images`.

  Returns:
    [N, H, W, C], each image shifted by its own (dy, dx) in
    {-pad, ..., pad}^2: out[n, i, j] = images[n, clip(i - dy), clip(j - dx)].
  """
  chex.assert_rank(images, 4)
  if pad == 0:
    return images
  _, height, width, channels = images.shape
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                   mode="edge")
  offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * pad + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (height, width, channels))
  return jax.vmap(crop)(padded, offsets)


def shift_offsets(key: chex.PRNGKey, num: int, pad: int) -> jax.Array:
  """The (dy, dx) [num, 2] by which `random_shift(key, ...)` moves each image
  of a batch of `num`: `pad` minus the crop offsets it draws."""
  return pad - jax.random.randint(key, (num, 2), 0, 2 * pad + 1)


def color_jitter(key: chex.PRNGKey, images: jax.Array,
                 strength: float) -> jax.Array:
  """Brightness and contrast jitter per sample, for float images in [0, 1].

  Args:
    key: the PRNG key.
    images: [N, H, W, C] floats.
    strength: b ~ U(-strength, strength), c ~ U(1 - strength, 1 + strength).

  Returns:
    clip(c (x - m) + m + b, 0, 1) [N, H, W, C], m the mean of each image.
  """
  chex.assert_rank(images, 4)
  brightness_key, contrast_key = jax.random.split(key)
  shape = (images.shape[0], 1, 1, 1)
  b = jax.random.uniform(brightness_key, shape, images.dtype, -strength,
                         strength)
  c = jax.random.uniform(contrast_key, shape, images.dtype, 1.0 - strength,
                         1.0 + strength)
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return jnp.clip(c * (images - mean) + mean + b, 0.0, 1.0)


def make(settings) -> Optional[Callable[[chex.PRNGKey, jax.Array], jax.Array]]:
  """`augment(key, images [N, H, W, C]) -> images` from an agent's
  AugmentSettings, or None for augmentation='none' (the caller then draws
  no key, so its program is unchanged)."""
  kinds = settings.augmentation.split(",")
  if kinds == ["none"]:
    return None

  def augment(key, images):
    shift_key, color_key = jax.random.split(key)
    dtype = images.dtype
    images = images.astype(jnp.float32)
    if "shift" in kinds:
      pad = settings.shift_pad or default_pad(images.shape[1])
      images = random_shift(shift_key, images, pad)
    if "color" in kinds:
      images = color_jitter(color_key, images, settings.color_strength)
    return images.astype(dtype) if "color" not in kinds else images
  return augment


def make_for_batch(settings) -> Optional[Callable]:
  """`augment(key, batch) -> batch` replacing a NamedTuple batch's `obs`
  [N, H, W, C] by their augmentation (`make(settings)`), or None for
  augmentation='none': the minibatch hook of `agents.ppo.epochs`, which PPO,
  A2C and PQN pass. The batch's other fields (the rollout's log-probabilities,
  values, targets) stay those of the observations acted on."""
  augment = make(settings)
  if augment is None:
    return None

  def augment_batch(key, batch):
    return batch._replace(obs=augment(key, batch.obs))
  return augment_batch


def make_for_transitions(settings) -> Optional[Callable]:
  """`augment(key, batch) -> batch` replacing a transition batch's `obs` and
  `next_obs` [N, H, W, C], each with its own draw (DrQ with K = M = 1), or
  None for augmentation='none': what the off-policy engine
  (`haikurl.offpolicy.make_learn`) and the offline loop
  (`haikurl.offline`) apply to every sampled batch."""
  augment = make(settings)
  if augment is None:
    return None

  def augment_batch(key, batch):
    obs_key, next_key = jax.random.split(key)
    return batch._replace(obs=augment(obs_key, batch.obs),
                          next_obs=augment(next_key, batch.next_obs))
  return augment_batch
