"""Explanations by backpropagation to the inputs.

Backpropagation computes the gradient of the output with respect to every array the
output depends on: the weights, which training uses, and the inputs, which explanation
uses. For one applicant x and the network's logit f(x) (the log-odds of default):

    input gradient           g_j(x) = df/dx_j                 (one backward pass)
    gradient x input         a_j    = g_j(x) (x_j - x'_j)      (first-order Taylor term)
    integrated gradients     a_j    = (x_j - x'_j) int_0^1 g_j(x' + t (x - x')) dt

where x' is a baseline applicant. Integrated gradients satisfy *completeness*:
sum_j a_j = f(x) - f(x') exactly (the fundamental theorem of calculus along the
straight path); a quadrature rule approximates the integral, so the gap
sum_j a_j - (f(x) - f(x')) is computed, refined and returned for every row.

Everything here works on *network inputs* (what the network is fed, e.g. standardised
numbers and one-hot columns) and takes plain arrays and names. Helpers map results
back to the applicant's own terms: attributions summed over the inputs that come from
one source column (one-hot columns back to their categorical column), values and
gradients in original units (x_raw = z * scale + mean, so df/dx_raw = (df/dz) / scale),
and plain-words reason codes.

A ``model`` is either a network with ``forward(X) -> logits`` and
``backward(g, need_input_grad=True) -> g . dlogits/dX`` (a :class:`~backprop_lab.nn.Sequential`;
its gradients are exact, and afterwards its layers' caches and stored parameter gradients
are cleared, so it keeps none of the explained rows), or any
callable ``X -> logits``, differentiated by central finite differences.

The work is split by job: :mod:`~backprop_lab.responsible.gradients` (input gradients,
gradient x input, the path average node by node), :mod:`~backprop_lab.responsible.integrated`
(integrated gradients with the completeness check), :mod:`~backprop_lab.responsible.segments`
(the segment walk for piecewise-linear networks) and :mod:`~backprop_lab.responsible.reasons`
(baselines, original units, reason codes, importance). This module gathers their public
names, so ``from backprop_lab.responsible.attributions import integrated_gradients`` works.
"""

from .gradients import MAX_POINTS_PER_BATCH as MAX_POINTS_PER_BATCH
from .gradients import LogitFunction as LogitFunction
from .gradients import gradient_times_input as gradient_times_input
from .gradients import input_gradients as input_gradients
from .gradients import logits as logits
from .integrated import DEFAULT_MAX_STEPS as DEFAULT_MAX_STEPS
from .integrated import DEFAULT_STEPS as DEFAULT_STEPS
from .integrated import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from .integrated import IntegratedGradients as IntegratedGradients
from .integrated import integrated_gradients as integrated_gradients
from .reasons import ImportanceAccumulator as ImportanceAccumulator
from .reasons import ReferenceBaselineAccumulator as ReferenceBaselineAccumulator
from .reasons import attributions_by_feature as attributions_by_feature
from .reasons import global_importance as global_importance
from .reasons import gradients_per_original_unit as gradients_per_original_unit
from .reasons import reason_text as reason_text
from .reasons import reason_texts as reason_texts
from .reasons import reference_baseline as reference_baseline
from .reasons import to_original_units as to_original_units
from .reasons import top_reasons as top_reasons
from .segments import SEGMENT_ROWS as SEGMENT_ROWS
from .segments import SEGMENTS_PER_UNIT as SEGMENTS_PER_UNIT
