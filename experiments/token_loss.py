"""Token-level objectives of the transformer, and where its token cross-entropy sits.

The transformer is trained on the token cross-entropy (CE) of the encoded f(A), but it is judged
on the relative error of the decoded matrix. The two can part ways: CE counts a mantissa token
that is off by one exactly like one that is off by 500, although the first costs a relative
error of about 0.1-1% and the second a wrong number. :func:`token_breakdown` measures this on a
set of matrices, teacher-forced (every position sees the true tokens before it, as in training):

- per role of a number's tokens (``Encoding.number_roles``: e.g. sign, mantissa and exponent in
  P1000), the share of the sequence's CE it carries, its mean CE and its top-1 accuracy;
- per role, the cost of its misses: the relative error of the one entry whose token at that
  position is replaced by the model's top-1 token, the entry's other tokens kept true (median
  and the share above 5% over the missed tokens);
- the share of matrices within 5% when every token is the model's top-1 given the true tokens
  before it. Greedy decoding feeds the model its own tokens instead; where it does much worse,
  the model leans on true earlier entries that it does not have at inference (exposure bias).

Two training objectives answer these diagnoses. :func:`mantissa_error_loss` is the expected
relative error of the mantissa token under the model's distribution: the Wasserstein form of the
Number Token Loss of Zausinger et al. (2025, "Regress, Don't Guess", ICML; its NTL-WAS), scaled
by the true mantissa so that it reads as a relative error of the entry; ``train.mantissa_loss``
adds it to CE.
:func:`scheduled_sampling_inputs` feeds the decoder some of its own tokens during training
(``train.scheduled_sampling``; Bengio et al. 2015, Mihaylova and Martins 2019).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F_nn
from torch import Tensor

from experiments.evaluate import relative_errors

__all__ = [
    "mantissa_error_loss",
    "position_errors",
    "scheduled_sampling_inputs",
    "seq2seq_loss",
    "teacher_forcing_batch",
    "token_breakdown",
]

TAU = 0.05


def teacher_forcing_batch(encoding, A: Tensor, F: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Token tensors for teacher forcing.

    Returns src (B, S) = tokens(A); tgt_in (B, T+1) = BOS + tokens(F); tgt_out (B, T+1) =
    tokens(F) + EOS, where T = encoding.sequence_length(n, n).
    """
    src = encoding.encode_batch(A)  # (B, S)
    tgt = encoding.encode_batch(F)  # (B, T)
    B = tgt.shape[0]
    bos = torch.full((B, 1), encoding.bos_id, dtype=tgt.dtype)
    eos = torch.full((B, 1), encoding.eos_id, dtype=tgt.dtype)
    return src, torch.cat([bos, tgt], dim=1), torch.cat([tgt, eos], dim=1)


def seq2seq_loss(logits: Tensor, tgt_out: Tensor, pad_id: int) -> Tensor:
    """Token cross-entropy; logits (B, T, V), tgt_out (B, T) -> (), PAD positions ignored."""
    V = logits.shape[-1]
    return F_nn.cross_entropy(
        logits.float().reshape(-1, V),  # (B*T, V)
        tgt_out.reshape(-1),  # (B*T,)
        ignore_index=pad_id,
    )


def scheduled_sampling_inputs(model, src: Tensor, tgt_in: Tensor, p: float) -> Tensor:
    """Decoder inputs (B, T+1) for scheduled sampling: ``tgt_in`` with each token after BOS
    replaced, independently with probability ``p``, by the model's top-1 prediction of that token
    from a teacher-forced, gradient-free first pass (Mihaylova and Martins 2019, section 3; the
    sampling of Bengio et al. 2015). ``p = 0`` returns ``tgt_in`` itself. Draws from torch's global
    RNG, which a training checkpoint saves, so a resumed run draws the same replacements."""
    if p <= 0:
        return tgt_in
    with torch.no_grad():
        guess = model(src, tgt_in).argmax(-1)  # (B, T+1): guess[:, t] predicts tgt_in[:, t + 1]
    replace = torch.rand(tgt_in[:, 1:].shape, device=tgt_in.device) < p
    mixed = tgt_in.clone()
    mixed[:, 1:] = torch.where(replace, guess[:, :-1], tgt_in[:, 1:])
    return mixed


def _number_positions(n_numbers: int, tokens_per_number: int) -> Tensor:
    """Indices (n_numbers, tpn) of the number tokens in a target sequence (after ``V{r} V{c}``)."""
    return 2 + torch.arange(n_numbers * tokens_per_number).reshape(n_numbers, tokens_per_number)


def token_breakdown(model, encoding, A: Tensor, F: Tensor, chunk: int = 250) -> dict:
    """Teacher-forced CE and top-1 misses of ``model`` on f(A) = F, by token role (module docstring).

    Args:
        model: a Seq2SeqTransformer, ``model(src, tgt_in) -> logits (B, T+1, V)``.
        encoding: its number encoding.
        A, F: (B, n, n) inputs and exact targets.

    Returns:
        ``{"ce_per_token", "roles": [{"role", "tokens", "ce_share", "mean_ce", "top1",
        "miss_median_rel_error", "miss_share_above_5pct"}, ...]}``; the roles are the number
        roles plus "structure" (the two dimension tokens and EOS). The shares sum to 1.
        ``"teacher_forced_acc5"``: the share of matrices within 5% (relative l1 error) when every
        token is the model's top-1 given the true tokens before it; set beside the greedy
        decoder's accuracy, it tells errors of the single token from errors that the decoder's own
        earlier tokens bring in (exposure bias); ``"teacher_forced_position_error"``: that
        matrix's :func:`position_errors`. Where one
        token carries the mantissa, also ``"mantissa_loss"``: :func:`mantissa_error_loss` on all
        of A.
    """
    model.eval()
    n = F.shape[-1]
    tpn = encoding.tokens_per_number
    pos = _number_positions(n * n, tpn)  # (n*n, tpn)
    ces, tops, tgts, mantissa = [], [], [], []
    one_token_mantissa = encoding.mantissa_token() is not None
    with torch.no_grad():
        for i in range(0, len(A), chunk):
            src, tgt_in, tgt_out = teacher_forcing_batch(encoding, A[i : i + chunk], F[i : i + chunk])
            logits = model(src, tgt_in).float()  # (b, T+1, V)
            ces.append(F_nn.cross_entropy(logits.transpose(1, 2), tgt_out, reduction="none"))  # (b, T+1)
            tops.append(logits.argmax(-1))
            tgts.append(tgt_out)
            if one_token_mantissa:
                mantissa.append(float(mantissa_error_loss(logits, tgt_out, encoding, n)) * len(src))
    ce, top, tgt = torch.cat(ces), torch.cat(tops), torch.cat(tgts)  # (B, T+1) each
    total = float(ce.sum())
    true_ids = tgt[:, pos].reshape(-1, tpn).numpy()  # (B*n*n, tpn)
    true_value, _ = encoding.number_values(true_ids)
    roles = []
    for j, role in enumerate(encoding.number_roles):
        idx = pos[:, j]
        ce_j, hit_j = ce[:, idx].reshape(-1), (top[:, idx] == tgt[:, idx]).reshape(-1)
        swapped = true_ids.copy()
        swapped[:, j] = top[:, idx].reshape(-1).numpy()
        value, valid = encoding.number_values(swapped)
        rel = np.abs(value - true_value) / np.maximum(np.abs(true_value), 1e-300)
        rel = np.where(valid, rel, np.inf)[~hit_j.numpy()]
        roles.append(
            {
                "role": role,
                "tokens": int(ce_j.numel()),
                "ce_share": float(ce_j.sum()) / total,
                "mean_ce": float(ce_j.mean()),
                "top1": float(hit_j.float().mean()),
                "miss_median_rel_error": float(np.median(rel)) if rel.size else None,
                "miss_share_above_5pct": float((rel > TAU).mean()) if rel.size else None,
            }
        )
    structure = torch.ones(ce.shape[1], dtype=torch.bool)
    structure[pos.reshape(-1)] = False
    ce_s = ce[:, structure]
    roles.append(
        {
            "role": "structure",
            "tokens": int(ce_s.numel()),
            "ce_share": float(ce_s.sum()) / total,
            "mean_ce": float(ce_s.mean()),
            "top1": float((top[:, structure] == tgt[:, structure]).float().mean()),
            "miss_median_rel_error": None,
            "miss_share_above_5pct": None,
        }
    )
    # Each entry as the model writes it from the true prefix: the matrix of top-1 tokens.
    T = encoding.sequence_length(n, n)
    forced = encoding.decode_batch(top[:, :T], (n, n))
    errors = relative_errors(torch.nan_to_num(forced.value, nan=0.0), F, norm="l1")
    hits = (errors < TAU) & forced.valid
    result = {
        "ce_per_token": total / ce.numel(),
        "roles": roles,
        "teacher_forced_acc5": float(hits.double().mean()),
        "teacher_forced_position_error": position_errors(forced.value, forced.valid, F),
    }
    if one_token_mantissa:
        result["mantissa_loss"] = sum(mantissa) / len(A)
    return result


def position_errors(P: Tensor, valid: Tensor, F: Tensor) -> list[float]:
    """Median over the valid matrices of |P_ij - F_ij| / (||F||_1 / n^2), per entry in the
    decoder's row-major order; (B, n, n), (B,), (B, n, n) -> n^2 floats. Against the order in
    which a decoder writes the entries, it shows whether errors grow along the sequence."""
    n2 = F.shape[-1] * F.shape[-2]
    F = F.reshape(len(F), n2).to(torch.float64)
    P = P.reshape(len(P), n2).to(torch.float64)
    scale = F.abs().mean(-1, keepdim=True)  # ||F||_1 / n^2
    err = ((P - F).abs() / scale)[valid]
    if len(err) == 0:
        return [float("nan")] * n2
    return err.median(0).values.tolist()


@functools.lru_cache(maxsize=16)
def _mantissa_tables(encoding, device: torch.device) -> tuple[int, Tensor, Tensor, Tensor]:
    """(position of the mantissa token in a number, its token ids (K,), their values (K,), the
    table id -> value (V,) with NaN elsewhere) on ``device``; built once per encoding and device,
    not at every training step."""
    where = encoding.mantissa_token()
    if where is None:
        raise ValueError(
            f"the mantissa loss needs an encoding whose mantissa is one token (P1000 at precision <= 3, "
            f"B1999), got {encoding.name} at precision {encoding.precision}"
        )
    j, table = where
    ids = np.flatnonzero(~np.isnan(table))
    values = torch.from_numpy(table[ids]).to(device, torch.float32)
    return j, torch.from_numpy(ids).to(device), values, torch.from_numpy(table).to(device, torch.float32)


def mantissa_error_loss(logits: Tensor, tgt_out: Tensor, encoding, n: int) -> Tensor:
    """Mean over the target's numbers of E_p[|m - m*|] / max(|m*|, 10^(precision-1)); () tensor.

    ``p`` is the model's distribution over the mantissa tokens alone (softmax of their logits) at
    each mantissa position of ``tgt_out`` (B, T+1); ``m*`` the true (signed) mantissa. With one-hot
    targets this is the 1-Wasserstein distance between p and the target (Zausinger et al. 2025,
    NTL-WAS), divided by ``|m*|`` so that a mantissa off by k costs what the entry's relative error
    does, k/|m*|. Defined where one token carries the whole mantissa (``Encoding.mantissa_token``).
    """
    j, ids, values, table = _mantissa_tables(encoding, logits.device)
    pos = _number_positions(n * n, encoding.tokens_per_number)[:, j].to(logits.device)  # (n*n,)
    p = torch.softmax(logits[:, pos][..., ids].float(), dim=-1)  # (B, n*n, K)
    target = table[tgt_out[:, pos]]  # (B, n*n)
    scale = target.abs().clamp_min(10.0 ** (encoding.precision - 1))
    distance = (values[None, None, :] - target[..., None]).abs()  # (B, n*n, K)
    return ((p * distance).sum(-1) / scale).mean()
