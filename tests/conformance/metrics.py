"""Error metrics of the conformance suite (see tolerances.py for which one each feature uses and why)."""
import math

import numpy as np

# dB per unit of each log flavour, to express a log-domain error (and the 60 dB window) in dB
DB_PER_UNIT = {
    "db": 1.0,                          # already dB
    "ln_power": 10.0 / math.log(10.0),  # ln of a power quantity: 1 nat = 4.343 dB
    "ln_magnitude": 20.0 / math.log(10.0),  # ln of a magnitude quantity (tf: |X|): 1 nat = 8.686 dB
    "log10_power": 10.0,                # log10 of power
    "whisper": 40.0,                    # Whisper's (log10(power) + 4) / 4: 1 unit = 4 log10 = 40 dB
}

DB_WINDOW = 60.0  # only bins within 60 dB of the clip's peak count (float32 noise dominates below)


def rel_l2(a, ref):
    """||a - ref|| / ||ref|| over the entries where ref is not NaN (float64)."""
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    keep = ~np.isnan(ref)
    num = np.linalg.norm((a - ref)[keep])
    den = np.linalg.norm(ref[keep])
    if den == 0:
        return 0.0 if num == 0 else math.inf
    return float(num / den)


PLATEAU_SHARE = 1e-3  # a minimum shared by at least this fraction of the bins is a floor (clamp)


def max_db_within(a, ref, units):
    """Largest |a - ref| in dB over the bins of ref within DB_WINDOW dB of ref's maximum; and, when ref's
    minimum is a floor (a plateau shared by >= PLATEAU_SHARE of the bins: a top_db / log_range / amin /
    log-floor clamp, or digital silence), the distance between that floor and the lowest value of a on
    the same bins, so that a wrong floor (which moves only bins outside the window) is caught too. Bins
    that a clamps a little above the floor are float32 noise near an absolute floor (amin), not errors."""
    scale = DB_PER_UNIT[units]
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    if ref.size == 0:
        return 0.0
    keep = ref >= np.nanmax(ref) - DB_WINDOW / scale
    err = float(np.max(np.abs(a - ref)[keep]))
    ref_min = np.nanmin(ref)
    floor = ref == ref_min
    if floor.mean() >= PLATEAU_SHARE:
        err = max(err, abs(float(np.min(a[floor])) - ref_min))
    return err * scale


def compare(a, ref, metric):
    """metric: ("rel_l2",) or ("max_db", units)."""
    if metric[0] == "rel_l2":
        return rel_l2(a, ref)
    if metric[0] == "max_db":
        return max_db_within(a, ref, metric[1])
    raise KeyError(metric)
