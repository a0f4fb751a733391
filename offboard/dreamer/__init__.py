"""DreamerV3 learning core (PyTorch): world model, imagined actor-critic, optimizer, export.

Vocabulary (used in every module of this package)
--------------------------------------------------
``deter``
    Deterministic recurrent state of the RSSM, ``(N, D)`` with ``D = deter`` of the size preset.
``stoch``
    Stochastic state: ``S = 32`` one-hot categoricals with ``C = classes`` classes, ``(N, S, C)``.
``feat``
    Model feature fed to every head: ``concat(deter, stoch.flatten())``, ``(N, D + S * C)``.
``carry``
    What the acting step keeps between calls: ``deter``, ``stoch`` and ``prev_action``
    (the action the policy chose at the previous step, one-hot for discrete spaces).
``prior``
    Logits ``(N, S, C)`` of the stochastic state predicted from ``deter`` alone (imagination).
``posterior``
    Logits ``(N, S, C)`` of the stochastic state given ``deter`` and the observation embedding.

Batch convention (the same as DreamerV3's replay): ``batch[key][:, t]`` is the observation at
step ``t`` and ``batch[action_key][:, t]`` is the action the policy chose *after* seeing that
observation. The world model therefore feeds ``action[:, t - 1]`` into step ``t``; the first step
of every training sequence is treated as ``is_first`` (state and action start from zero).
"""

from __future__ import annotations
